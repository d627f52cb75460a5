"""The four scripts run as subprocesses on seconds of synthetic audio, with a tiny model."""

import csv
import json

import numpy as np
import pytest
import soundfile as sf

from conftest import run_script, write_synth
from superres.audio import read_audio


def test_scan_writes_22k_copies_and_manifest(pipeline):
    scan = pipeline["scan"]
    m = json.loads((scan / "manifest.json").read_text())
    assert m["stage"] == "scan" and m["high_rate"] == 44100 and m["low_rate"] == 22050
    assert [e["source"] for e in m["files"]] == ["a_stereo.flac", "c_48k.wav", "sub/b_mono.wav"]
    for e in m["files"]:
        info = sf.info(scan / e["output"])
        assert info.samplerate == 22050 and info.subtype == "PCM_16" and info.channels == e["channels"]
        assert info.frames == -(-e["frames_high"] // 2)
    assert (scan / "sub" / "b_mono.wav").is_file()
    # The 48 kHz source was resampled to 44.1 kHz first, and the scan said so.
    c = next(e for e in m["files"] if e["source"] == "c_48k.wav")
    assert c["source_rate"] == 48000 and c["frames_high"] == 88200 and c["reference"]
    assert sf.info(scan / c["reference"]).samplerate == 44100
    assert "48000 Hz, resampled to 44100 Hz" in pipeline["scan_out"]


def test_scan_rerun_skips_done_files(pipeline):
    out = run_script("10-scan.py", "--input", pipeline["original"], "--output", pipeline["scan"]).stdout
    assert out.count("skip") == 3 and "wrote" not in out


def test_scan_band_limits(pipeline):
    # Nothing above 11.025 kHz survives in the 22.05 kHz copy beyond the anti-alias filter's leakage:
    # compare the energy near Nyquist with the energy of the original in the same band.
    low, _ = read_audio(pipeline["scan"] / "a_stereo.wav")
    spec = np.abs(np.fft.rfft(low[:, 0])) ** 2
    freqs = np.fft.rfftfreq(low.shape[0], 1 / 22050)
    assert spec[freqs > 10900].sum() < 1e-4 * spec.sum()


def test_train_writes_model_folder(pipeline):
    model = pipeline["model"]
    for name in ("config.json", "last.keras", "best.keras", "history.csv", "state.json"):
        assert (model / name).is_file(), name
    cfg = json.loads((model / "config.json").read_text())
    assert cfg["arch"] == "bilstm" and cfg["units"] == 4 and cfg["window"] == 50
    rows = list(csv.DictReader(open(model / "history.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert all(float(r["val_loss"]) > 0 for r in rows)
    assert json.loads((model / "state.json").read_text())["epochs_done"] == 2


def _weights_file_groups(path):
    import io
    import zipfile

    import h5py

    with zipfile.ZipFile(path) as z, h5py.File(io.BytesIO(z.read("model.weights.h5"))) as h:
        return set(h.keys())


def test_best_checkpoint_holds_the_weights_without_the_optimizer(pipeline):
    import keras

    model = pipeline["model"]
    # last.keras resumes (optimizer state kept); best.keras only feeds prediction and --init-from.
    assert "optimizer" in _weights_file_groups(model / "last.keras")
    assert "optimizer" not in _weights_file_groups(model / "best.keras")
    assert (model / "best.keras").stat().st_size < (model / "last.keras").stat().st_size
    state = json.loads((model / "state.json").read_text())
    best = keras.models.load_model(model / "best.keras", compile=False)
    last = keras.models.load_model(model / "last.keras", compile=False)
    same = all(np.array_equal(a, b) for a, b in zip(best.get_weights(), last.get_weights()))
    assert same == (state["best_epoch"] == state["epochs_done"])


def test_predict_output_length_channels_rate(pipeline):
    scan = json.loads((pipeline["scan"] / "manifest.json").read_text())
    for e in scan["files"]:
        low = sf.info(pipeline["scan"] / e["output"])
        out = sf.info(pipeline["predicted"] / e["output"])
        assert out.samplerate == 44100 and out.subtype == "PCM_16"
        assert out.frames == 2 * low.frames and out.channels == low.channels
    m = json.loads((pipeline["predicted"] / "manifest.json").read_text())
    assert m["stage"] == "predict" and len(m["files"]) == 3


def _eval_json(tmp_path, *args):
    path = tmp_path / "eval.json"
    out = run_script("eval.py", *args, "--json", path).stdout
    return out, json.loads(path.read_text())


def test_eval_table_has_baselines_and_the_model(pipeline, tmp_path):
    out, res = _eval_json(tmp_path, "--predicted", pipeline["predicted"])
    assert res["methods"] == ["naive", "linear", "sinc", "tiny"]
    assert list(res["metrics"]) == ["MAE", "SNR", "LSD", "LSD-HF", "HF energy", "SNR-LF", "seam"]
    assert [s["name"] for s in res["songs"]] == ["a_stereo.flac", "c_48k.wav", "sub/b_mono.wav"]
    # The printed table: a row per method, a column per metric, per song and the mean.
    assert "Mean over 3 songs" in out
    mean_block = out[out.index("Mean over 3 songs"):].splitlines()
    header = mean_block[2].split()
    assert header[:3] == ["method", "MAE", "SNR"]
    rows = {ln.split()[0]: ln.split() for ln in mean_block[4:8]}
    assert set(rows) == {"naive", "linear", "sinc", "tiny"}
    assert float(rows["sinc"][1]) == pytest.approx(res["mean"]["sinc"]["MAE"], abs=0.5)  # as printed
    for song in res["songs"]:
        s = song["scores"]
        # On band-limited-at-the-source content sinc must beat repetition and linear on MAE and SNR ...
        assert s["sinc"]["MAE"] < s["linear"]["MAE"] < s["naive"]["MAE"]
        assert s["sinc"]["SNR"] > s["naive"]["SNR"]
        # ... while leaving the top band empty, which LSD-HF and the energy ratio expose.
        assert s["sinc"]["HF energy"] < -30
        assert s["sinc"]["LSD-HF"] > s["naive"]["LSD-HF"]
        # Below 11.025 kHz sinc is nearly exact, and its empty top octave is a deep seam.
        assert s["sinc"]["SNR-LF"] > s["sinc"]["SNR"] and s["sinc"]["seam"] > 20


def test_eval_naive_mae_matches_hand_computation(pipeline, tmp_path):
    _, res = _eval_json(tmp_path, "--predicted", pipeline["predicted"])
    song = res["songs"][0]
    ref, _ = read_audio(pipeline["original"] / "a_stereo.flac", "int16")
    low, _ = read_audio(pipeline["scan"] / "a_stereo.wav", "int16")
    s = int(ref.shape[0] * 0.8)
    naive = np.repeat(low, 2, axis=0)[:ref.shape[0]]
    assert song["scores"]["naive"]["MAE"] == pytest.approx(np.abs(ref[s:].astype(float) - naive[s:]).mean())
    assert song["seconds"] == pytest.approx((ref.shape[0] - s) / 44100)


def test_eval_models_in_process_equals_prediction_folder(pipeline, tmp_path):
    _, res = _eval_json(tmp_path, "--predicted", pipeline["predicted"], "--models", pipeline["model"])
    assert res["methods"] == ["naive", "linear", "sinc", "tiny#1", "tiny#2"]
    for song in res["songs"]:
        assert song["scores"]["tiny#1"] == song["scores"]["tiny#2"]


def test_eval_whole_songs_and_pairs(pipeline, tmp_path):
    _, whole = _eval_json(tmp_path, "--predicted", pipeline["predicted"], "--whole")
    _, part = _eval_json(tmp_path, "--predicted", pipeline["predicted"])
    assert whole["part"] == "whole songs"
    assert whole["songs"][0]["seconds"] == pytest.approx(3.0)
    assert whole["songs"][0]["seconds"] > 4 * part["songs"][0]["seconds"]
    # Any folder of references and estimates: the sinc baseline as the estimate scores like the table's sinc.
    ref_dir, est_dir = tmp_path / "refs", tmp_path / "ests"
    ref, _ = read_audio(pipeline["original"] / "a_stereo.flac", "int16")
    from superres.audio import resample, sinc_upsample, write_audio
    write_audio(ref_dir / "song.wav", ref, 44100)
    write_audio(est_dir / "song.wav", sinc_upsample(resample(ref, 44100, 22050))[:ref.shape[0]], 44100)
    _, pairs = _eval_json(tmp_path, "--pairs", ref_dir, est_dir)
    assert pairs["methods"] == ["naive", "linear", "sinc", "ests"]
    assert pairs["songs"][0]["scores"]["ests"] == pytest.approx(pairs["songs"][0]["scores"]["sinc"])


def test_eval_songs_selects_by_name(pipeline, tmp_path):
    _, every = _eval_json(tmp_path, "--predicted", pipeline["predicted"])
    names = [s["name"] for s in every["songs"]]
    assert len(names) > 1
    _, one = _eval_json(tmp_path, "--predicted", pipeline["predicted"], "--songs", names[-1])
    assert [s["name"] for s in one["songs"]] == [names[-1]]
    assert one["songs"][0]["scores"] == every["songs"][-1]["scores"]
    proc = run_script("eval.py", "--predicted", pipeline["predicted"], "--songs", "no-such-song.wav", check=False)
    assert proc.returncode == 2 and "no song named 'no-such-song.wav'" in proc.stderr


def test_predict_explicit_files_any_rate_and_subtype(pipeline, tmp_path):
    src = write_synth(tmp_path / "in" / "x44.wav", 0.3, rate=44100, channels=3, seed=9)
    out = tmp_path / "out"
    run_script("rnn-super-resolution.py", "--predict", "--model", pipeline["model"], src, "--output", out,
               "--subtype", "24")
    info = sf.info(out / "x44.wav")
    # 0.3 s at 44.1 kHz -> 6615 frames at 22.05 kHz -> 13230 at 44.1 kHz; three independent channels.
    assert (info.samplerate, info.frames, info.channels, info.subtype) == (44100, 13230, 3, "PCM_24")


def test_scripts_have_help():
    for script in ("10-scan.py", "20-make-dataset.py", "rnn-super-resolution.py", "eval.py"):
        out = run_script(script, "--help", subprocess_=True).stdout  # the executables themselves
        assert "usage:" in out and "--" in out


def test_user_errors_are_one_line_without_traceback(tmp_path):
    proc = run_script("10-scan.py", "--input", tmp_path / "missing", "--output", tmp_path / "o", check=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = run_script("rnn-super-resolution.py", "--predict", "--model", tmp_path / "nomodel", check=False)
    assert proc.returncode == 2 and "model folder not found" in proc.stderr


def test_tiny_training_learns_more_than_nothing(pipeline):
    # Training must lower the loss from its first epoch to its last (the pipeline's run, 2 epochs).
    rows = list(csv.DictReader(open(pipeline["model"] / "history.csv")))
    assert len(rows) == 2 and float(rows[-1]["loss"]) < float(rows[0]["loss"])
    assert float(rows[-1]["val_loss"]) < float(rows[0]["val_loss"])


def test_manifests_and_configs_name_no_absolute_path(pipeline):
    """Folders can move together (or a model folder ship): every path a stage records is relative to it."""
    from pathlib import Path

    from conftest import ROOT

    def strings(obj):
        if isinstance(obj, dict):
            return [s for v in obj.values() for s in strings(v)]
        if isinstance(obj, list):
            return [s for v in obj for s in strings(v)]
        return [obj] if isinstance(obj, str) else []

    files = [pipeline["scan"] / "manifest.json", pipeline["dataset"] / "meta.json", pipeline["model"] / "config.json",
             pipeline["predicted"] / "manifest.json", *Path(ROOT, "models").glob("*/config.json")]
    for f in files:
        bad = [s for s in strings(json.loads(f.read_text())) if s.startswith("/") or str(pipeline["root"]) in s]
        assert not bad, (f, bad)
    # And they still find each other: the model's scan folder is the pipeline's.
    from superres.runs import load_config, model_path

    assert model_path(pipeline["model"], load_config(pipeline["model"]), "scan_dir").resolve() == \
        pipeline["scan"].resolve()
