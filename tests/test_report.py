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


def test_kinds_report_shows_each_kind_beside_the_original(tmp_path):
    """tools/eval_kinds.py --report: per song and kind, the figures, the spectrograms of the original, the input
    and the output, and players for the three, at their own rates (the 15 kHz input at 15 kHz)."""
    import sys

    from conftest import ROOT, write_synth

    for i in range(2):
        write_synth(tmp_path / "songs" / f"song{i}.wav", 2.5, rate=44100, channels=2, seed=i)
    report, out = tmp_path / "kinds.html", tmp_path / "out"
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "eval_kinds.py"), "--songs", str(tmp_path / "songs"),
                           "--out", str(out), "--kinds", "15 kHz", "MP3 128 kbps", "--only", "song1.wav",
                           "song0.wav", "--report", str(report), "--clip-seconds", "1.5"],
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads((out / "rows.json").read_text())["rows"]
    assert list(rows) == ["15 kHz", "MP3 128 kbps"] and all(len(r) == 2 for r in rows.values())
    assert all(r["kept"] > 50 and r["done"] == "spliced" for rs in rows.values() for r in rs), rows
    text = report.read_text()
    assert "http://" not in text and "https://" not in text, "the report must be self-contained"
    assert [h for h in re.findall(r"<h2>(.*?)</h2>", text)] == ["song0.wav", "song1.wav"]
    page = tmp_path / "check.html"
    page.write_text(text.replace("</body>", CHECK))
    res = load_in_chromium(page, tmp_path)
    assert len(res["imgs"]) == 2 * 2 and all(i["w"] > 0 and i["h"] > 0 for i in res["imgs"]), res["imgs"]
    assert len(res["auds"]) == 2 * 2 * 3  # original, input, restored per kind and song
    for a in res["auds"]:
        assert a["error"] == 0 and a["seconds"] == pytest.approx(1.5, abs=0.01), a
