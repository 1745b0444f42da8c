"""Motifs: MEME read/write, JASPAR fetch, reverse complement, information, consensus."""

from __future__ import annotations

import numpy as np
import pytest

from bionas.errors import InputError
from bionas.motifs.io import Motif, read_meme, write_meme
from bionas.motifs.jaspar import fetch_jaspar, resolve_jaspar
from bionas.motifs.pwm import consensus, information_content, reverse_complement

HEAD = "MEME version 4\n\nALPHABET= ACGT\n\n"


def test_read_meme_fixture(tiny):
    motifs = read_meme(tiny["meme"])
    assert [m.id for m in motifs] == ["m1", "m2"]
    assert [m.name for m in motifs] == ["first_motif", "m2"]
    np.testing.assert_allclose(
        motifs[0].pwm, [[1, 0, 0, 0], [0, 0.5, 0.5, 0], [0.1, 0.2, 0.3, 0.4]]
    )
    assert motifs[1].pwm.shape == (2, 4) and motifs[1].pwm.dtype == np.float64


def test_read_meme_tolerates_bom_crlf_and_renormalises(tmp_path, tiny):
    text = tiny["meme"].read_text().replace("1.0 0.0 0.0 0.0", "0.996 0.0 0.0 0.0")
    path = tmp_path / "crlf.meme"
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    motifs = read_meme(path)
    np.testing.assert_allclose(motifs[0].pwm.sum(axis=1), 1.0)
    assert motifs[0].pwm[0, 0] == pytest.approx(1.0)


@pytest.mark.parametrize(
    "body, message, line",
    [
        (
            "MOTIF a\nletter-probability matrix: alength= 4 w= 2\n0.5 0.5 0 0\n0.5 0.6 0 0\n",
            "sums to 1.1",
            8,
        ),
        ("MOTIF a\nletter-probability matrix: alength= 4 w= 1\n0.5 0.5 -0.1 0.1\n", "negative", 7),
        ("MOTIF a\nletter-probability matrix: alength= 4 w= 1\n0.5 0.5 0\n", "4 numbers", 7),
        ("MOTIF a\nletter-probability matrix: alength= 4 w= 1\n0.5 0.5 x 0\n", "4 numbers", 7),
        ("MOTIF a\nletter-probability matrix: alength= 4 w= 3\n0.5 0.5 0 0\n", "w= 3", 6),
        (
            "MOTIF a\nletter-probability matrix: w= 1\n1 0 0 0\n\nMOTIF a\nletter-probability matrix: w= 1\n1 0 0 0\n",
            "duplicated motif ID 'a'",
            9,
        ),
        ("MOTIF a\n\n", "no letter-probability matrix", 5),
    ],
)
def test_read_meme_errors_name_the_line(tmp_path, body, message, line):
    path = tmp_path / "bad.meme"
    path.write_text(HEAD + body)
    with pytest.raises(InputError, match=message) as err:
        read_meme(path)
    assert err.value.line == line and str(path) in str(err.value)


def test_read_meme_file_errors(tmp_path):
    cases = {
        "": "empty",
        HEAD: "no motifs",
        "MEME version 4\nALPHABET= ACGU\n": "alphabet",
        "hello\n": "not a MEME file",
    }
    for text, message in cases.items():
        path = tmp_path / "x.meme"
        path.write_text(text)
        with pytest.raises(InputError, match=message):
            read_meme(path)
    with pytest.raises(InputError, match="not found"):
        read_meme(tmp_path / "missing.meme")


def test_write_meme_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    pwm = rng.dirichlet(np.ones(4), size=7)
    motifs = [Motif("MA0001.1", "AGL3", pwm), Motif("x", "two words", pwm[:3])]
    path = tmp_path / "out.meme"
    write_meme(path, motifs)
    text = path.read_text()
    assert text.startswith("MEME version 4\n\nALPHABET= ACGT\n")
    assert "MOTIF x two_words\nletter-probability matrix: alength= 4 w= 3" in text
    back = read_meme(path)
    assert [m.id for m in back] == ["MA0001.1", "x"]
    np.testing.assert_allclose(back[0].pwm, pwm, atol=1e-5)
    with pytest.raises(ValueError, match="duplicated"):
        write_meme(tmp_path / "dup.meme", [motifs[0], motifs[0]])


def test_measures_hand_checked():
    pwm = np.array([[1, 0, 0, 0], [0.25, 0.25, 0.25, 0.25], [0, 0.5, 0.5, 0], [0.1, 0.2, 0.3, 0.4]])
    np.testing.assert_allclose(information_content(pwm)[:3], [2.0, 0.0, 1.0])
    assert consensus(pwm) == "AACT"
    np.testing.assert_array_equal(reverse_complement(pwm)[0], [0.4, 0.3, 0.2, 0.1])
    np.testing.assert_array_equal(reverse_complement(pwm)[3], [0, 0, 0, 1])
    np.testing.assert_array_equal(reverse_complement(reverse_complement(pwm)), pwm)


def test_fetch_jaspar_by_id_base_id_and_name():
    ctcf = fetch_jaspar(["MA0139.2"])[0]
    assert ctcf.id == "MA0139.2" and ctcf.name == "CTCF" and ctcf.pwm.shape == (15, 4)
    np.testing.assert_allclose(ctcf.pwm.sum(axis=1), 1.0)
    assert consensus(ctcf.pwm) == "GCCACCAGGGGGCGC"
    assert resolve_jaspar("MA0139") == "MA0139.2"
    assert resolve_jaspar("MA0139.1") == "MA0139.1"
    assert (
        resolve_jaspar("ctcf") == "MA0139.2"
    )  # several CTCF matrices: lowest base ID, latest version
    both = fetch_jaspar(["CTCF", "MA0139.2", "REST"])
    assert [m.id for m in both] == ["MA0139.2", "MA0138.3"]


def test_fetch_jaspar_unknown_lists_close_matches():
    with pytest.raises(InputError, match="close matches: .*CTCF") as err:
        fetch_jaspar(["CTFC"])
    assert "unknown JASPAR" in str(err.value)
    with pytest.raises(InputError, match="MA0139"):
        fetch_jaspar(["MA0139.9"])
    with pytest.raises(InputError, match="release"):
        fetch_jaspar(["CTCF"], release="JASPAR1999")
