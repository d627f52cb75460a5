"""The evaluation streams: bounded memory, the same figures however a song is cut, and moved folders."""

import json
import shutil
import tracemalloc

import numpy as np
import pytest
import soundfile as sf

from conftest import run_script, synth
from superres import evaluate as ev
from superres import metrics


def _pair_folders(root, seconds):
    ref, est = root / "ref", root / "est"
    x = synth(seconds, channels=2, seed=4)
    ref.mkdir(parents=True)
    est.mkdir()
    sf.write(ref / "song.wav", x, 44100, subtype="PCM_16")
    sf.write(est / "song.wav", 0.9 * x, 44100, subtype="PCM_16")
    return ref, est


def test_scoring_memory_does_not_grow_with_the_songs_length(tmp_path, monkeypatch):
    # Blocks of 16384 frames, so that a few seconds are many blocks (the real block is 23.8 s).
    monkeypatch.setattr(metrics, "BLOCK", 16384)
    monkeypatch.setattr(ev, "BLOCK", 16384)

    def peak(seconds):
        ref, est = _pair_folders(tmp_path / str(seconds), seconds)
        tracemalloc.start()
        result = ev.evaluate(pairs=(ref, est), log=lambda s: None)
        p = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert result["songs"][0]["seconds"] == pytest.approx(seconds)
        return p, result

    (short, a), (long, b) = peak(2.0), peak(16.0)
    # Eight times the audio, about the same peak. Holding the song would add, per method and the reference,
    # 14 s x 2 ch x 44100 x 8 bytes = 10 MB (six signals: 60 MB).
    assert long < 1.3 * short + 2e6, (short, long)
    # The estimate is 0.9 x the reference: -0.92 dB in every band, an SNR of 20 dB, whatever the length.
    for r in (a, b):
        s = r["songs"][0]["scores"]["est"]
        assert s["SNR"] == pytest.approx(20.0, abs=0.05) and s["HF energy"] == pytest.approx(-0.92, abs=0.01)


def test_a_song_scores_the_same_in_blocks_of_any_size(pipeline, tmp_path, monkeypatch):
    whole = ev.evaluate(predicted=[pipeline["predicted"]], log=lambda s: None)
    monkeypatch.setattr(metrics, "BLOCK", 3000)
    monkeypatch.setattr(ev, "BLOCK", 3000)
    cut = ev.evaluate(predicted=[pipeline["predicted"]], log=lambda s: None)
    for s, t in zip(whole["songs"], cut["songs"]):
        for m in whole["methods"]:
            for k, v in s["scores"][m].items():
                # The low-band SNR sums each block's own spectrum: within a few hundredths of a dB.
                tol = 0.1 if k == "SNR-LF" else 1e-6
                assert t["scores"][m][k] == pytest.approx(v, rel=tol, abs=tol), (s["name"], m, k)


def test_the_baselines_streamed_equal_the_whole_array_upsamples(pipeline):
    from superres.audio import linear_upsample, naive_upsample, read_audio, sinc_upsample

    low, _ = read_audio(pipeline["scan"] / "a_stereo.wav", "int16")
    blocks = [low[i:i + 1000] for i in range(0, low.shape[0], 1000)]
    for name, fn in (("naive", naive_upsample), ("linear", linear_upsample), ("sinc", sinc_upsample)):
        got = np.concatenate(list(ev.baseline_blocks(name, iter(blocks), 2, low.shape[0])))
        assert got.dtype == np.int16 and np.array_equal(got, fn(low)), name


def test_duration_weighted_means_and_medians(pipeline, tmp_path):
    path = tmp_path / "eval.json"
    out = run_script("eval.py", "--predicted", pipeline["predicted"], "--json", path).stdout
    res = json.loads(path.read_text())
    secs = np.array([s["seconds"] for s in res["songs"]])
    for m in res["methods"]:
        for k in res["metrics"]:
            v = np.array([s["scores"][m][k] for s in res["songs"]])
            assert res["mean"][m][k] == pytest.approx(v.mean())
            assert res["weighted_mean"][m][k] == pytest.approx((v * secs).sum() / secs.sum())
            assert res["median"][m][k] == pytest.approx(np.median(v))
    assert "Duration-weighted mean over 3 songs" in out and "Median over 3 songs" in out


def test_a_prediction_folder_moved_on_its_own_is_scored_with_the_scan_given(pipeline, tmp_path):
    moved = tmp_path / "elsewhere" / "predicted"
    shutil.copytree(pipeline["predicted"], moved)
    here = run_script("eval.py", "--predicted", pipeline["predicted"], "--json", tmp_path / "a.json").stdout
    # Its model is not beside it any more: the manifest says the rest, and --scan names the songs.
    proc = run_script("eval.py", "--predicted", moved, "--scan", pipeline["scan"], "--json", tmp_path / "b.json")
    a, b = (json.loads((tmp_path / f).read_text()) for f in ("a.json", "b.json"))
    assert b["methods"] == a["methods"] == ["naive", "linear", "sinc", "tiny"]
    assert b["songs"] == a["songs"] and "tiny" in here and "tiny" in proc.stdout
    # Without --scan the songs are found where the manifest says, relative to the folder, which moved too: the
    # one missing thing is named with the option that supplies it.
    shutil.rmtree(moved.parent)
    (tmp_path / "p2").mkdir()
    shutil.copytree(pipeline["predicted"], tmp_path / "p2" / "predicted")
    manifest = json.loads((tmp_path / "p2" / "predicted" / "manifest.json").read_text())
    manifest["scan_dir"] = None
    (tmp_path / "p2" / "predicted" / "manifest.json").write_text(json.dumps(manifest))
    proc = run_script("eval.py", "--predicted", tmp_path / "p2" / "predicted", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "model folder not found" in proc.stderr and "give --scan" in proc.stderr


def test_a_scan_folder_copied_without_its_originals_takes_originals(pipeline, tmp_path):
    scan = tmp_path / "copy" / "22k"
    shutil.copytree(pipeline["scan"], scan)
    proc = run_script("20-make-dataset.py", "--input", scan, "--output", tmp_path / "ds", check=False)
    assert proc.returncode == 2 and "give --originals DIR" in proc.stderr and "Traceback" not in proc.stderr
    run_script("20-make-dataset.py", "--input", scan, "--output", tmp_path / "ds", "--originals",
               pipeline["original"])
    a = np.load(tmp_path / "ds" / "train_y.npy")
    b = np.load(pipeline["dataset"] / "train_y.npy")
    assert np.array_equal(a, b)
    # The evaluation takes the same option.
    proc = run_script("eval.py", "--predicted", pipeline["predicted"], "--scan", scan, "--originals",
                      pipeline["original"])
    assert "Mean over 3 songs" in proc.stdout


def test_pairs_has_every_baseline_row(tmp_path):
    ref, est = _pair_folders(tmp_path, 1.0)
    out = run_script("eval.py", "--pairs", ref, est).stdout
    mean = out[out.index("Mean over 1 songs"):]
    assert [ln.split()[0] for ln in mean.splitlines()[4:8]] == ["naive", "linear", "sinc", "est"]

