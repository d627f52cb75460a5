"""The pipeline at another input rate: the 15 kHz -> 44.1 kHz experiment of the blog's README, end to end.

``10-scan.py --rate 15000`` makes the low-rate copies; the dataset, training, prediction and evaluation follow
the rate the scan recorded. 44100 / 15000 is not an integer: the naive input is a sample-and-hold on the
44.1 kHz grid, and the band measures split the spectrum at 7.5 kHz.
"""

import json

import numpy as np
import pytest
import soundfile as sf

from conftest import TINY, run_script, write_synth
from superres.audio import (grid_step, high_frames, hold_blocks, linear_blocks, linear_upsample, low_frames,
                            naive_upsample, read_audio, resample, sinc_upsample)

RATE = 15000


@pytest.fixture(scope="module")
def run15(tmp_path_factory):
    """The five commands at 15 kHz, run from a folder of their own with the default folders."""
    root = tmp_path_factory.mktemp("rate15k")
    write_synth(root / "data" / "original" / "a_stereo.wav", 3.0, channels=2, seed=4)
    write_synth(root / "data" / "original" / "b_mono.flac", 2.0, channels=1, seed=5)
    out = {"root": root}
    out["scan"] = run_script("10-scan.py", "--rate", str(RATE), cwd=root).stdout
    out["dataset"] = run_script("20-make-dataset.py", "--input", "data/15k", cwd=root).stdout
    out["train"] = run_script("rnn-super-resolution.py", "--train", "--quiet", "--epochs", "1", *TINY, cwd=root).stdout
    out["predict"] = run_script("rnn-super-resolution.py", "--predict", cwd=root).stdout
    (root / "eval.json").unlink(missing_ok=True)
    out["eval"] = run_script("eval.py", "--json", root / "eval.json", cwd=root).stdout
    out["result"] = json.loads((root / "eval.json").read_text())
    return out


def test_scan_at_15k_writes_15k_copies_to_data_15k(run15):
    scan = run15["root"] / "data" / "15k"
    m = json.loads((scan / "manifest.json").read_text())
    assert m["low_rate"] == RATE and m["high_rate"] == 44100
    for e in m["files"]:
        info = sf.info(scan / e["output"])
        assert info.samplerate == RATE and info.frames == low_frames(e["frames_high"], RATE) == e["frames_low"]
    assert "next: 20-make-dataset.py --input data/15k" in run15["scan"]
    assert not (run15["root"] / "data" / "22k").exists()
    # The copy holds nothing above 7.5 kHz: soxr's band limit at the new rate.
    low, _ = read_audio(scan / "a_stereo.wav")
    spec = np.abs(np.fft.rfft(low[:, 0])) ** 2
    freqs = np.fft.rfftfreq(low.shape[0], 1 / RATE)
    assert spec[freqs > 7300].sum() < 1e-4 * spec.sum()


def test_dataset_follows_the_scan_rate_with_sample_and_hold(run15):
    from superres.dataset import open_split
    from superres.encoding import bits_to_int16

    root = run15["root"]
    meta = json.loads((root / "data" / "dataset" / "meta.json").read_text())
    assert meta["low_rate"] == RATE and meta["factor"] == pytest.approx(44100 / RATE)
    x, y = open_split(root / "data" / "dataset", "train")
    low, _ = read_audio(root / "data" / "15k" / "a_stereo.wav", "int16")
    ref, _ = read_audio(root / "data" / "original" / "a_stereo.wav", "int16")
    # Window 3 of channel 0: steps 150..199 of the 44.1 kHz grid, each the 15 kHz sample at floor(n 15000 / 44100).
    n = np.arange(150, 200)
    np.testing.assert_array_equal(bits_to_int16(x[3]), low[n * RATE // 44100, 0])
    np.testing.assert_array_equal(y[3], ref[150:200, 0])
    # 2 or 3 repeats per sample, never 2 exactly as at 22.05 kHz.
    runs = np.diff(np.flatnonzero(np.diff(n * RATE // 44100)))
    assert set(runs) == {2, 3}


def test_training_records_the_rate_and_prediction_follows_it(run15):
    root = run15["root"]
    cfg = json.loads((root / "models" / "trained" / "config.json").read_text())
    assert cfg["dataset"]["low_rate"] == RATE
    m = json.loads((root / "data" / "predicted" / "manifest.json").read_text())
    assert len(m["files"]) == 2
    for e in m["files"]:
        low = sf.info(root / "data" / "15k" / e["output"])
        out = sf.info(root / "data" / "predicted" / e["output"])
        assert out.samplerate == 44100 and out.frames == high_frames(low.frames, RATE) == e["frames_out"]
        # A 15 kHz input at the model's own rate: the network's case, the band above ~7.5 kHz restored.
        assert e["done"] == "network" and 6750 <= e["cutoff_hz"] <= 7500


def test_eval_at_15k_uses_the_input_band_edge_and_hold_baseline(run15):
    root = run15["root"]
    res = run15["result"]
    assert res["input_rate"] == RATE and res["methods"] == ["naive", "linear", "sinc", "trained"]
    assert "over 7.5-22.05 kHz" in run15["eval"] and "below 7.5 kHz" in run15["eval"]
    song = next(s for s in res["songs"] if s["name"] == "a_stereo.wav")
    ref, _ = read_audio(root / "data" / "original" / "a_stereo.wav", "int16")
    low, _ = read_audio(root / "data" / "15k" / "a_stereo.wav", "int16")
    s = int(ref.shape[0] * 0.8)
    for name, est in (("naive", naive_upsample(low, RATE)), ("linear", linear_upsample(low, RATE))):
        want = np.abs(ref[s:].astype(float) - est[s:ref.shape[0]]).mean()
        assert song["scores"][name]["MAE"] == pytest.approx(want), name
    sc = song["scores"]["sinc"]
    # Sinc keeps most of 0-7.5 kHz and leaves 7.5-22.05 kHz empty: the measures split at 7.5 kHz, not 11.025.
    assert sc["HF energy"] < -30 and sc["SNR-LF"] > sc["SNR"] + 5 and sc["edge step"] < -20
    from superres.metrics import score_arrays

    sinc = sinc_upsample(low, RATE)[s:ref.shape[0]]
    at = {edge: score_arrays(ref[s:], sinc, 44100, edge=edge).result() for edge in (7500.0, 11025.0)}
    for k in ("HF energy", "SNR-LF", "LSD-HF", "edge step", "band error"):
        assert sc[k] == pytest.approx(at[7500.0][k], abs=0.05), k
    for k in ("HF energy", "SNR-LF", "LSD-HF", "edge step"):  # the band error's worst band may lie above both
        assert sc[k] != pytest.approx(at[11025.0][k], abs=0.05), k
    assert song["scores"]["sinc"]["MAE"] < song["scores"]["linear"]["MAE"] < song["scores"]["naive"]["MAE"]


def test_a_model_trained_at_15k_reads_any_file_at_15k(run15, tmp_path):
    from superres.predict import predict_file
    from superres.predictor import open_predictor

    root = run15["root"]
    p = open_predictor(root / "models" / "trained")
    assert p.rate == RATE
    src = write_synth(tmp_path / "in22.wav", 1.0, rate=22050, channels=1, seed=9)
    entry = predict_file(p, src, tmp_path / "out.wav")
    # A 22.05 kHz file for a 15 kHz model: not its own case; the real band below the cutoff is kept.
    assert entry["done"] == "spliced" and entry["rate"] == 44100 and entry["frames_out"] == 44100
    out, _ = read_audio(tmp_path / "out.wav")
    x, _ = read_audio(src)
    kept = resample(x, 22050, 44100)
    lo = np.fft.rfftfreq(out.shape[0], 1 / 44100) < 0.95 * entry["cutoff_hz"]
    err = np.abs(np.fft.rfft(out[:, 0] - kept[:, 0])[lo]) ** 2
    assert 10 * np.log10((np.abs(np.fft.rfft(kept[:, 0])[lo]) ** 2).sum() / err.sum()) > 50


def test_band_plan_models_refuse_a_15k_dataset(run15):
    root = run15["root"]
    run_script("20-make-dataset.py", "--input", "data/15k", "--output", "data/ds-sinc", "--upsample", "sinc",
               "--encoding", "pcm", "--window", "2048", cwd=root)
    proc = run_script("rnn-super-resolution.py", "--train", "--arch", "gen", "--dataset", "data/ds-sinc", "--model",
                      "models/gen15", cwd=root, check=False)
    assert proc.returncode != 0
    assert "made from a 15000 Hz scan; --arch gen restores the band above 11.025 kHz" in proc.stderr
    assert "--arch bilstm" in proc.stderr and not (root / "models" / "gen15" / "last.keras").exists()


def test_scan_refuses_rates_at_or_above_the_originals():
    proc = run_script("10-scan.py", "--rate", "44100", check=False)
    assert proc.returncode == 2 and "must be a sample rate in Hz from 8000 to 44099" in proc.stderr


@pytest.mark.parametrize("rate", [15000, 16000, 8000, 11025, 32000, 22050, 44099])
def test_hold_and_linear_streams_equal_the_whole_array_however_cut(rate):
    rng = np.random.default_rng(rate)
    x = rng.integers(-30000, 30000, (1001, 2)).astype(np.int16)
    blocks = [x[a:b] for a, b in ((0, 5), (5, 6), (6, 300), (300, 1001))]
    n = np.arange(high_frames(1001, rate))
    hold = naive_upsample(x, rate)
    np.testing.assert_array_equal(hold, x[n * rate // 44100])
    np.testing.assert_array_equal(np.concatenate(list(hold_blocks(blocks, rate))), hold)
    xf = x / 32768.0
    lin = linear_upsample(xf, rate)
    np.testing.assert_allclose(lin[:, 0], np.interp(n * rate / 44100, np.arange(1001), xf[:, 0]), atol=1e-12)
    np.testing.assert_array_equal(np.concatenate(list(linear_blocks([xf[a:b] for a, b in
                                                                     ((0, 5), (5, 6), (6, 300), (300, 1001))],
                                                                    rate))), lin)
    assert sinc_upsample(xf, rate).shape == lin.shape == hold.shape[:1] + (2,)
    # A stream begun on a grid point inside the signal lands on the whole signal's grid.
    s = grid_step(rate) * 2 * rate // 44100
    np.testing.assert_array_equal(np.concatenate(list(hold_blocks([x[s:]], rate, start=s))),
                                  hold[high_frames(s, rate):])


def test_eval_runs_the_15k_model_in_process_as_its_prediction_folder(run15):
    root = run15["root"]
    path = root / "eval-both.json"
    run_script("eval.py", "--predicted", "data/predicted", "--models", "models/trained", "--json", path, cwd=root)
    res = json.loads(path.read_text())
    assert res["methods"] == ["naive", "linear", "sinc", "trained#1", "trained#2"]
    for song in res["songs"]:
        for k, v in song["scores"]["trained#1"].items():
            assert song["scores"]["trained#2"][k] == pytest.approx(v, rel=1e-6, abs=1e-6), (song["name"], k)
