"""The HTML listening report opens in headless Chromium with every image and player working."""

import html
import json
import os
import re
import shutil
import subprocess

import pytest

from conftest import run_script

CHECK = """<script>
window.addEventListener('load', async () => {
  const imgs = [...document.images].map(i => ({alt: i.alt, w: i.naturalWidth, h: i.naturalHeight}));
  const auds = await Promise.all([...document.querySelectorAll('audio')].map(a => new Promise(res => {
    const done = () => res({seconds: a.duration, want: parseFloat(a.dataset.seconds),
                            error: a.error ? a.error.code : 0});
    if (a.readyState >= 1) done();
    else { a.addEventListener('loadedmetadata', done); a.addEventListener('error', done); a.load(); }
  })));
  const pre = document.createElement('pre');
  pre.id = 'check-result';
  pre.textContent = JSON.stringify({imgs, auds});
  document.body.appendChild(pre);
});
</script></body>"""


def chromium():
    exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is not installed; .ci/run installs it")
        pytest.skip("Chromium not installed (apt-get install chromium)")
    return exe


def load_in_chromium(page, tmp_path):
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--autoplay-policy=no-user-gesture-required", f"--user-data-dir={tmp_path / 'profile'}",
           "--virtual-time-budget=30000", "--dump-dom", page.as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    m = re.search(r'<pre id="check-result">(.*?)</pre>', proc.stdout, re.S)
    assert m, f"the check script did not finish; chromium said:\n{proc.stderr[-2000:]}"
    return json.loads(html.unescape(m.group(1)))


def test_report_images_and_players_load(pipeline, tmp_path):
    report = tmp_path / "report.html"
    run_script("eval.py", "--predicted", pipeline["predicted"], "--report", report, "--clip-seconds", "0.4")
    text = report.read_text()
    assert "http://" not in text and "https://" not in text, "the report must be self-contained"
    page = tmp_path / "check.html"
    page.write_text(text.replace("</body>", CHECK))
    res = load_in_chromium(page, tmp_path)

    # A spectrogram per song (3) and the model's training history.
    assert len(res["imgs"]) == 4
    assert all(i["w"] > 0 and i["h"] > 0 for i in res["imgs"]), res["imgs"]
    # Players per song: original, input, sinc, the model.
    assert len(res["auds"]) == 3 * 4
    for a in res["auds"]:
        assert a["error"] == 0
        assert a["seconds"] == pytest.approx(a["want"], abs=0.01)
        assert a["seconds"] > 0.1
    assert "tiny" in text and "sinc" in text
