"""The four scripts run as subprocesses on seconds of synthetic audio, with a tiny model."""

import csv
import json
import re

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


def test_scan_band_limits(pipeline, tmp_path):
    # Nothing above 11.025 kHz survives in the 22.05 kHz copy beyond the anti-alias filter's leakage:
    # compare the energy near Nyquist with the energy of the original in the same band.
    low, _ = read_audio(pipeline["scan"] / "a_stereo.wav")
    spec = np.abs(np.fft.rfft(low[:, 0])) ** 2
    freqs = np.fft.rfftfreq(low.shape[0], 1 / 22050)
    assert spec[freqs > 10900].sum() < 1e-4 * spec.sum()
    # A strong tone above 11.025 kHz is removed, not folded below it: 15 kHz would alias to 22.05 - 15 =
    # 7.05 kHz. A tone below 10 kHz passes at its level. One second, so that each tone is on a bin of the
    # 22.05 kHz spectrum (1 Hz apart); both -12 dBFS, 16-bit.
    t = np.arange(44100) / 44100
    orig = tmp_path / "orig"
    orig.mkdir()
    sf.write(orig / "tones.wav", 0.25 * np.sin(2 * np.pi * 15000 * t) + 0.25 * np.sin(2 * np.pi * 5000 * t), 44100,
             subtype="PCM_16")
    run_script("10-scan.py", "--input", orig, "--output", tmp_path / "22k")
    low, rate = read_audio(tmp_path / "22k" / "tones.wav", "int16")
    assert rate == 22050 and low.shape == (22050, 1)
    x = low[:, 0] / 32768.0
    win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(len(x)) / len(x))  # periodic Hann: a bin-centred tone's
    amp = np.abs(np.fft.rfft(x * win)) / (win.sum() / 2)            # amplitude, exactly
    db = 20 * np.log10(np.maximum(amp, 1e-12) / 0.25)  # relative to either tone's level
    assert db[5000] == pytest.approx(0.0, abs=0.01)  # the 5 kHz tone, at its level
    # Where the 15 kHz tone would fold to: -107 dB measured (a decimation without the filter: 0 dB).
    assert db[7030:7071].max() < -90
    # Nothing else from 20 Hz up (the 16-bit roundings' spurs reach -100 dB; below 20 Hz, their DC offset).
    assert np.delete(db, np.arange(4998, 5003))[20:].max() < -90


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
    assert list(res["metrics"]) == ["MAE", "SNR", "LSD", "LSD-HF", "HF energy", "SNR-LF", "band error", "edge step"]
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
        # Below 11.025 kHz sinc is nearly exact; its empty top octave is a large band error and a deep step down.
        assert s["sinc"]["SNR-LF"] > s["sinc"]["SNR"] and s["sinc"]["band error"] > 20
        assert s["sinc"]["edge step"] < -20


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


def _help_entries(text):
    """An argparse help text -> {option (its long name) or positional: (group heading, its help)}.

    Whitespace is collapsed, so line wrapping (which follows the terminal's width) does not matter; ``help`` is
    what follows the option's name and metavar or choices, which are ``head``."""
    entries, group, key = {}, None, None
    for line in text.splitlines():
        if line and not line[0].isspace():  # "usage: ...", the description, a group heading ("options:")
            key = None
            if line.endswith(":") and not line.startswith("usage:"):
                group = line[:-1]
            continue
        if group is None:  # the usage's continuation lines
            continue
        if line.startswith("  ") and not line.startswith("   "):  # an entry: "  --input INPUT   help ..."
            head, _, rest = line.strip().partition("  ")
            names = head.replace(",", " ").split()
            key = next((n for n in names if n.startswith("--")), names[0])
            entries[key] = {"group": group, "head": head, "help": rest.strip()}
        elif key is not None:
            entries[key]["help"] = (entries[key]["help"] + " " + line.strip()).strip()
    for e in entries.values():  # a line broken after a word's hyphen ("multi-" / "resolution") joined again
        e["help"] = re.sub(r"(\w-) (\w)", r"\1\2", e["help"])
    return entries


def _superres_help(command):
    """``superres COMMAND --help``, the installed command's, in this process."""
    import contextlib
    import io

    from superres.commands import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as stop:
        main([command, "--help"])
    assert stop.value.code == 0
    return out.getvalue()


#: (script, superres commands, {option: what its help must show}): each option's own default, as the help's
#: "(default: X)" or the text the help gives instead; None: only that the option is listed.
HELP = [
    ("10-scan.py", ["scan"], {"--input": "(default: data/original)", "--output": "(default: data/22k at 22050 Hz",
                              "--rate": "(default: 22050)", "--debug": None}),
    ("20-make-dataset.py", ["dataset"], {
        "--input": "(default: data/22k)", "--output": "(default: data/dataset)", "--window": "(default: 50)",
        "--hop": "(default: the window length, no overlap)", "--train-fraction": "(default: 0.8)",
        "--upsample": "(default: naive)", "--encoding": "(default: bits)"}),
    ("rnn-super-resolution.py", ["train", "predict"], {
        "--train": None, "--predict": None, "--model": None,
        "--dataset": "(default: data/dataset)", "--epochs": "(default: 10)", "--patience": "(default: train every "
        "epoch)", "--arch": "bilstm (the blog's; the default)", "--units": "[300]", "--dense": "[500]",
        "--dense2": "[20]", "--lr": "[bilstm 1e-4, sbr 1e-3, gen 5e-4]", "--decay": "[bilstm 0.03, sbr and gen 0]",
        "--batch-size": "[bilstm 64, sbr and gen 16]", "--seed": "[0]", "--quiet": None,
        "inputs": "(default: the songs the model's dataset came from)", "--output": "(default: data/predicted)",
        "--subtype": "(default: same)", "--weights": "(default: best)", "--chunk-seconds": "(default: 10.0)",
        "--overlap": "(default: bilstm half the window", "--runtime": "(default: auto)", "--overwrite": None}),
    ("eval.py", ["eval"], {
        "--predicted": "(default: data/predicted, when no --models or --pairs are given)", "--models": None,
        "--runtime": "auto (the default", "--scan": "(default: the first model's)", "--whole": None,
        "--pairs": None, "--json": None, "--markdown": None, "--report": None, "--plots": None,
        "--clip-seconds": "(default: 30.0)", "--mean-only": None, "--train-fraction": "(default: the model's "
        "dataset)"}),
]


@pytest.mark.parametrize("script, commands, expected", HELP, ids=[h[0] for h in HELP])
def test_scripts_have_help(script, commands, expected):
    out = run_script(script, "--help", subprocess_=True).stdout  # the executable itself
    assert out.startswith(f"usage: {script} ")
    entries = _help_entries(out)
    for option, shown in expected.items():
        assert option in entries, f"{script} --help does not list {option}"
        if shown is not None:
            assert shown in entries[option]["help"], (option, entries[option]["help"])
    choices = {"--upsample": "{naive,sinc}", "--encoding": "{bits,pcm}", "--arch": "{bilstm,sbr,gen,cgen}",
               "--subtype": "{same,16,24,float}", "--weights": "{best,last}",
               "--runtime": "{auto,keras,onnx,onnx-int8}" if script != "eval.py" else "RUNTIME [RUNTIME ...]"}
    for option, head in choices.items():
        if option in expected:
            assert entries[option]["head"] == f"{option} {head}", entries[option]["head"]
    description = " ".join(out.split())
    if script == "eval.py":  # the metrics it scores
        for metric in ("MAE (16-bit units)", "SNR (dB)", "(LSD)", "(LSD-HF)", "the energy above 11.025 kHz"):
            assert metric in description, metric
    if script == "rnn-super-resolution.py":  # each mode's options under its own heading
        assert entries["--epochs"]["group"] == "training (--train)"
        assert entries["--chunk-seconds"]["group"] == entries["inputs"]["group"] == "prediction (--predict)"
    # `superres COMMAND --help` lists the same options, with the same help (rnn-super-resolution.py: train's
    # and predict's together, and --train / --predict to choose; --model's default differs by mode).
    theirs = {}
    for command in commands:
        theirs.update(_help_entries(_superres_help(command)))
    ours = {k: v for k, v in entries.items() if k not in ("--train", "--predict")}
    assert set(ours) == set(theirs), set(ours) ^ set(theirs)
    for option in ours:
        if option not in ("--model", "--help"):
            assert (ours[option]["head"], ours[option]["help"]) == (theirs[option]["head"], theirs[option]["help"]), \
                option


def test_eval_help_names_every_metric_of_the_table():
    from superres.metrics import METRICS

    description = " ".join(run_script("eval.py", "--help").stdout.split())
    missing = [m for m in METRICS if not re.search(rf"(^|[ (]){re.escape(m)}\b", description)
               and not (m == "HF energy" and "energy above 11.025 kHz" in description)]
    assert not missing, f"eval.py --help does not name {missing}"


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
