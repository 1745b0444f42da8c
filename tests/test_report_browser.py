"""The tiny run's report in headless Chromium: every image decodes, the console stays
clean, nothing is fetched from the network, and a screenshot is kept in tests/outputs/.

Needs the Debian package ``chromium``. Without it the test is skipped, unless the
environment variable ``CI`` is set: then a missing browser is a failure.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from test_report import RUN
from workflow_helpers import ROOT, finished_tiny_run

pytestmark = pytest.mark.workflow

#: Screenshots and other artefacts of test runs (ignored by git).
OUTPUTS = ROOT / "tests" / "outputs"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

# Injected at the top of a copy of the page: records script errors, failed resource
# loads and console.error calls, then on `load` writes what every <img> did into the DOM.
HARNESS = """<script>
window.__errors = [];
window.addEventListener("error", function (e) {
  var t = e.target;
  window.__errors.push(e.message ? "error: " + e.message
                                 : "failed to load: " + (t && (t.src || t.href) || "?"));
}, true);
var __consoleError = console.error;
console.error = function () {
  window.__errors.push("console.error: " + Array.prototype.join.call(arguments, " "));
  __consoleError.apply(console, arguments);
};
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var out = document.createElement("pre");
  out.id = "__check";
  out.textContent = JSON.stringify({
    images: images.length,
    broken: images.filter(function (i) { return !(i.complete && i.naturalWidth > 0); })
                  .map(function (i) { return i.alt; }),
    errors: window.__errors
  });
  document.body.appendChild(out);
});
</script>"""


def _browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    message = "chromium is not installed (Debian: apt-get install -y chromium)"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; under CI the browser test must run")
    pytest.skip(message)


def _chromium(browser: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Headless Chromium with a fresh profile, no network and no background services."""
    with tempfile.TemporaryDirectory(prefix="bionas-chromium-") as profile:
        cmd = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            # any request to a host fails: the page must need none
            "--host-resolver-rules=MAP * ~NOTFOUND",
            *args,
        ]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    return finished_tiny_run(tmp_path_factory) / RUN / "report" / "index.html"


def test_images_load_and_console_is_clean(page):
    browser = _browser()
    text = page.read_text(encoding="utf-8")
    assert "<head>" in text
    # the instrumented copy sits beside the page so relative paths resolve the same way
    probe = page.with_name(".index.check.html")
    probe.write_text(text.replace("<head>", "<head>\n" + HARNESS, 1), encoding="utf-8")
    try:
        proc = _chromium(
            browser,
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=10000",
            "--dump-dom",
            probe.as_uri(),
        )
    finally:
        probe.unlink()
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = re.search(r'<pre id="__check">(.*?)</pre>', proc.stdout, re.S)
    assert found, f"the page never finished loading:\n{proc.stderr[-3000:]}"
    result = json.loads(html.unescape(found.group(1)))
    expected = len(re.findall(r"<img\b", text))
    assert result["images"] == expected and expected > 0
    assert result["broken"] == [], result["broken"]
    assert result["errors"] == [], result["errors"]
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], console
    # the rendered page has the interpretation sections, and every in-page link
    # (recovery and found rows -> a filter's or pattern's logo) lands on an element
    dom = proc.stdout
    for section in ("motifs", "patterns"):
        assert f'id="{section}"' in dom, section
    for heading in ("Negative controls", "Prior motifs recovered", "TF-MoDISco patterns"):
        assert heading in dom, heading
    targets = set(re.findall(r'href="#([^"]+)"', dom))
    assert any(t.startswith("filter-") for t in targets)
    for target in targets:
        assert f'id="{target}"' in dom, target


def test_screenshot(page):
    browser = _browser()
    OUTPUTS.mkdir(parents=True, exist_ok=True)
    shot = OUTPUTS / "report_tiny.png"
    shot.unlink(missing_ok=True)
    proc = _chromium(browser, f"--screenshot={shot}", "--window-size=1280,4000", page.as_uri())
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000
