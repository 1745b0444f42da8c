"""Model spaces: parsing, validation, encoding, ids, architecture records."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
import yaml

from bionas.errors import InputError
from bionas.records.architecture import make_architecture, read_architecture
from bionas.records.space import load_space, parse_space

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "config" / "model_space.yaml"

BASE = {
    "layers": [
        {"name": "conv1", "options": [
            {"name": "c8", "type": "conv1d", "filters": 16, "kernel_size": 8},
            {"name": "c12", "type": "conv1d", "filters": 16, "kernel_size": 12, "activation": "elu"},
        ]},
        {"name": "pool", "options": [
            {"name": "none", "type": "identity"},
            {"name": "max4", "type": "maxpool1d", "size": 4},
        ]},
        {"name": "reduce", "options": [
            {"name": "gmax", "type": "global_max_pool"},
            {"name": "flatten", "type": "flatten"},
        ]},
        {"name": "dense", "options": [
            {"name": "none", "type": "identity"},
            {"name": "d16", "type": "dense", "units": 16},
            {"name": "drop", "type": "dropout", "rate": 0.2},
        ]},
    ]
}


def base():
    return copy.deepcopy(BASE)


def test_default_space_loads():
    space = load_space(DEFAULT)
    assert space.size == 216 == len(list(space.architectures()))
    assert space.layer_names == ("conv1", "pool", "reduce", "dropout", "dense")
    assert all(o.type == "conv1d" for o in space.layers[0].options)
    load_space(DEFAULT, window=200)  # every architecture builds on 200 bp


def test_parse_fills_defaults():
    space = parse_space(base())
    c8 = space.layers[0].options[0]
    assert c8.params == {"filters": 16, "kernel_size": 8, "activation": "relu", "dilation": 1,
                         "padding": "valid"}
    assert space.layers[1].options[1].params == {"size": 4, "stride": 4}
    assert space.layers[1].options[1].to_dict() == {"name": "max4", "type": "maxpool1d", "size": 4,
                                                    "stride": 4}
    assert space.option_counts == (2, 2, 2, 3) and space.size == 24


def test_encode_decode_round_trip_over_the_whole_space():
    space = load_space(DEFAULT)
    for names in space.architectures():
        assert space.decode(space.encode(names)) == names


def test_grid_order_varies_the_last_layer_fastest():
    archs = list(parse_space(base()).architectures())
    assert archs[0] == ("c8", "none", "gmax", "none")
    assert archs[1] == ("c8", "none", "gmax", "d16")
    assert archs[3] == ("c8", "none", "flatten", "none")
    assert archs[-1] == ("c12", "max4", "flatten", "drop")
    assert len(set(archs)) == 24


def test_encode_errors_name_the_layer():
    space = parse_space(base(), source="s.yaml")
    with pytest.raises(InputError, match="layer 'pool' has no option 'avg4' in s.yaml") as err:
        space.encode(("c8", "avg4", "gmax", "none"), path="arch.json")
    assert err.value.key == "pool" and err.value.path == "arch.json"
    with pytest.raises(InputError, match="needs 4 option names"):
        space.encode(("c8",))
    with pytest.raises(ValueError):
        space.decode([0, 0])


def test_architecture_ids_are_stable_distinct_and_follow_the_parameters():
    space = load_space(DEFAULT)
    ids = {space.architecture_id(a) for a in space.architectures()}
    assert len(ids) == space.size
    arch = ("conv_k8_f32", "none", "gmax", "none", "none")
    assert space.architecture_id(arch) == load_space(DEFAULT).architecture_id(arch)
    assert len(space.architecture_id(arch)) == 64
    # the same names with another meaning give another id
    obj = yaml.safe_load(DEFAULT.read_text())
    obj["layers"][0]["options"][0]["filters"] = 48
    changed = parse_space(obj)
    assert changed.architecture_id(arch) != space.architecture_id(arch)
    assert changed.fingerprint() != space.fingerprint()


def test_fingerprint_ignores_the_source_and_defaults_spelt_out():
    a = parse_space(base(), source="a.yaml")
    obj = base()
    obj["layers"][0]["options"][0]["activation"] = "relu"  # the default, now explicit
    b = parse_space(obj, source="b.yaml")
    assert a.fingerprint() == b.fingerprint()
    obj["layers"][1]["options"].append({"name": "avg4", "type": "avgpool1d", "size": 4})
    assert parse_space(obj).fingerprint() != a.fingerprint()


def edit(fn):
    obj = base()
    fn(obj)
    return obj


@pytest.mark.parametrize(
    "obj, match",
    [
        ([1, 2], "mapping with a 'layers' list"),
        ({"layers": []}, "non-empty list"),
        ({**BASE, "extra": 1}, "unknown top-level key"),
        (edit(lambda o: o["layers"][1].update(name="conv1")), "used twice"),
        (edit(lambda o: o["layers"][1].update(name="val_loss")), "clashes with a results-table column"),
        (edit(lambda o: o["layers"][1].update(options=[])), "'options' must be a non-empty list"),
        (edit(lambda o: o["layers"][1].update(stride=2)), "unknown key"),
        (edit(lambda o: o["layers"][1]["options"].append({"name": "none", "type": "identity"})),
         "option name.*used twice: none"),
        (edit(lambda o: o["layers"][0]["options"].append({"name": "p", "type": "maxpool1d", "size": 2})),
         "first layer must be a conv1d"),
        (edit(lambda o: o["layers"][1]["options"].append({"name": "x", "type": "lstm"})), "unknown type 'lstm'"),
        (edit(lambda o: o["layers"][0]["options"][0].pop("kernel_size")), "needs parameter 'kernel_size'"),
        (edit(lambda o: o["layers"][0]["options"][0].update(filters=0)), "'filters' must be a positive integer"),
        (edit(lambda o: o["layers"][0]["options"][0].update(filters=True)), "'filters' must be a positive integer"),
        (edit(lambda o: o["layers"][0]["options"][0].update(filters=8.0)), "'filters' must be a positive integer"),
        (edit(lambda o: o["layers"][0]["options"][0].update(activation="mish")), "'activation' must be one of"),
        (edit(lambda o: o["layers"][0]["options"][0].update(padding="causal")), "'padding' must be"),
        (edit(lambda o: o["layers"][0]["options"][0].update(units=3)), "unknown parameter 'units'"),
        (edit(lambda o: o["layers"][3]["options"][2].update(rate=1.0)), r"'rate' must be a number in \[0, 1\)"),
        (edit(lambda o: o["layers"][3]["options"].append({"type": "identity"})), "non-empty string 'name'"),
        (edit(lambda o: o["layers"][3]["options"].append("identity")), "expected a mapping"),
        (edit(lambda o: o["layers"].append({"name": "again", "options": [
            {"name": "gavg", "type": "global_avg_pool"}]})), "needs a sequence input"),
        (edit(lambda o: o["layers"][2]["options"].append({"name": "none", "type": "identity"})),
         "never reduces the sequence axis"),
    ],
)
def test_invalid_spaces(obj, match):
    with pytest.raises(InputError, match=match):
        parse_space(obj, source="bad.yaml")


def test_window_too_small_for_an_architecture():
    obj = edit(lambda o: o["layers"][1]["options"].append({"name": "max64", "type": "maxpool1d", "size": 64}))
    parse_space(obj, window=200)
    with pytest.raises(InputError, match="no sequence positions for an input of 60 bp") as err:
        parse_space(obj, window=60)
    assert "c12 -> max64" in str(err.value) or "c8 -> max64" in str(err.value)


def test_same_padding_and_dilation_lengths():
    obj = base()
    obj["layers"][0]["options"] = [
        {"name": "dil", "type": "conv1d", "filters": 4, "kernel_size": 5, "dilation": 3},  # 200 - 12
        {"name": "same", "type": "conv1d", "filters": 4, "kernel_size": 50, "padding": "same"},
    ]
    obj["layers"][1]["options"].append({"name": "max188", "type": "maxpool1d", "size": 188})
    parse_space(obj, window=200)  # dil: 188 positions, same: 200; max188 leaves 1 for both
    with pytest.raises(InputError, match="dil -> max188"):
        parse_space(obj, window=199)


def test_load_space_file_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_space(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("layers:\n  - name: a\n    options: [\n")
    with pytest.raises(InputError, match="not valid YAML") as err:
        load_space(bad)
    assert err.value.path == str(bad) and err.value.line is not None
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(BASE))
    assert load_space(good).source == str(good)


def test_make_and_read_architecture(tmp_path):
    space = parse_space(base())
    rec = make_architecture(space, ["c12", "max4", "gmax", "d16"], step=3, child=5)
    assert rec == {"step": 3, "child": 5, "layers": ["c12", "max4", "gmax", "d16"],
                   "id": space.architecture_id(("c12", "max4", "gmax", "d16"))}
    path = tmp_path / "arch.json"
    path.write_text(json.dumps(rec))
    assert read_architecture(path, space) == rec
    path.write_text(json.dumps({**rec, "id": None}))
    assert read_architecture(path, space)["id"] == rec["id"]
    with pytest.raises(InputError):
        make_architecture(space, ["c12", "max4", "gmax", "nope"])


@pytest.mark.parametrize(
    "text, match",
    [
        ("{", "not a valid architecture JSON.*delete it"),
        ('{"layers": "c8"}', "'layers' list"),
        ('{"layers": [1, 2, 3, 4]}', "option names"),
        ('{"layers": ["c8", "none", "gmax", "zzz"]}', "no option 'zzz'"),
        ('{"layers": ["c8", "none", "gmax", "none"], "id": "abc"}', "id does not match"),
    ],
)
def test_read_architecture_errors(tmp_path, text, match):
    path = tmp_path / "arch.json"
    path.write_text(text)
    with pytest.raises(InputError, match=match) as err:
        read_architecture(path, parse_space(base()))
    assert err.value.path == str(path)


def test_read_architecture_missing_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_architecture(tmp_path / "none.json", parse_space(base()))


def test_size_is_the_product_of_option_counts():
    space = load_space(DEFAULT)
    assert space.size == math.prod(len(layer.options) for layer in space.layers)
    assert space.to_dict()["layers"][0]["name"] == "conv1"
    assert parse_space(space.to_dict()).fingerprint() == space.fingerprint()


@pytest.mark.parametrize("name", ["step", "child", "id", "status", "cached", "rung", "val_loss_curve"])
def test_layer_names_may_not_clash_with_history_columns(name):
    with pytest.raises(InputError, match="clashes"):
        parse_space(edit(lambda o: o["layers"][1].update(name=name)))


@pytest.mark.parametrize("bad", ["max\t4", "max\n4"])
def test_option_names_may_not_hold_tabs_or_newlines(bad):
    with pytest.raises(InputError):
        parse_space(edit(lambda o: o["layers"][1]["options"][1].update(name=bad)))
