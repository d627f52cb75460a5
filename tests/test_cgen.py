"""The ``cgen`` architecture: told the cutoff, it restores from any cutoff; low band kept, streaming = whole file,
ONNX = Keras, prediction without TensorFlow."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from conftest import CGEN_TINY, ROOT, run_script, synth

from superres import bandplan as bp
from superres.audio import resample

CONTEXT = bp.context_frames({"blocks": 2, "kernel": 5})


def _random_cgen(seed=0):
    """A ``cgen`` network with random weights everywhere (the head too), the same whatever ran before."""
    import keras

    from superres.models.cgen import build_cgen

    keras.utils.set_random_seed(seed)
    model = build_cgen(None, dim=16, blocks=2, expand=2, kernel=5)
    rng = np.random.default_rng(seed)
    model.set_weights([w + rng.standard_normal(w.shape).astype("float32") * 0.05 for w in model.get_weights()])
    return model


def _keras_whole(model, x, cutoff):
    """The Keras network on each channel of a whole 44.1 kHz signal: (n, ch) -> (n, ch)."""
    c = np.array([[cutoff]], np.float32)
    return np.stack([np.asarray(model.predict_on_batch((x[:, i][None].astype("float32"), c)))[0, :, 0]
                     for i in range(x.shape[1])], 1)


def _level_db(x, lo, hi, rate=44100):
    f = np.fft.rfftfreq(x.shape[0], 1 / rate)
    p = (np.abs(np.fft.rfft(x, axis=0)) ** 2).sum(axis=1)
    return 10 * np.log10(p[(f >= lo) & (f < hi)].sum() + 1e-30)


@pytest.fixture(scope="module")
def random_cgen():
    from superres.models.gen import core_of
    from superres.runtime import OnnxCore, export_gen_core

    model = _random_cgen()
    return {"model": model, "onnx": OnnxCore(export_gen_core(core_of(model)).SerializeToString())}


@pytest.mark.parametrize("cutoff", [4000.0, 7500.0, 11025.0, 16500.0, 20000.0])
def test_any_cutoff_plan_copies_from_below_the_cutoff_in_whole_turns(cutoff):
    kc = bp.cutoff_bin(cutoff)
    assert abs(kc * bp.BIN_HZ - cutoff) <= bp.BIN_HZ / 2
    source, written, offset = bp.any_plan(kc)
    k = np.arange(bp.ANY_LO, bp.ALL_BINS)
    above = k >= kc
    assert np.array_equal(source[~above], k[~above]) and np.all(offset[~above] == 0) and np.all(offset[above] < 0)
    # Copies come from below the source's top (under any roll-off) and shift by whole phase turns per hop.
    assert source[above].max() <= kc - bp.SOURCE_GAP and source[above].min() > 0
    assert np.all((k[above] - source[above]) % bp.SHIFT_STEP == 0)
    # Written from the merge zone below the cutoff up, never below it.
    assert np.array_equal(written > 0, k >= kc - bp.MERGE_BINS)


def test_features_silence_the_missing_bins_and_mark_them():
    power = np.random.default_rng(1).random((2, 5, bp.ALL_BINS))
    feats = bp.any_features(power, np.array([100, 300]))
    assert feats.shape == (2, 5, 2 * bp.ALL_BINS)
    silence = bp.features(np.zeros(1))[0]
    for i, kc in enumerate((100, 300)):
        np.testing.assert_allclose(feats[i, :, :kc], bp.features(power[i, :, :kc]), rtol=1e-6)
        assert np.all(feats[i, :, kc:bp.ALL_BINS] == silence)
        assert np.array_equal(feats[i, 0, bp.ALL_BINS:] > 0, np.arange(bp.ALL_BINS) >= kc)


def test_a_model_given_two_cutoffs_fills_from_each(random_cgen):
    # One input with content to 7.5 kHz, run as a 7.5 kHz and as an 11.025 kHz input: told 7.5 kHz, the network
    # fills 7.5-11 kHz; told 11.025 kHz, it leaves 7.5-11 kHz as the input has it and writes only above.
    x = resample(synth(1.0, rate=15000, channels=1, seed=5), 15000, 44100)
    empty = _level_db(x, 8000, 10000)
    at75, at11 = (_keras_whole(random_cgen["model"], x, c) for c in (7500.0, 11025.0))
    assert _level_db(at75, 8000, 10000) > empty + 30  # filled from 7.5 kHz
    assert _level_db(at11, 8000, 10000) < empty + 1  # not touched below 10.5 kHz
    assert _level_db(at11, 12000, 20000) > empty + 30 and _level_db(at75, 12000, 20000) > empty + 30
    # Below each cutoff's merge zone the input stays (the inverse STFT's leakage aside).
    for out, cutoff in ((at75, 7500.0), (at11, 11025.0)):
        lo = (bp.cutoff_bin(cutoff) - bp.MERGE_BINS - 4) * bp.BIN_HZ
        err = _level_db(out - x, 0, lo) - _level_db(x, 0, lo)
        assert err < -40, (cutoff, err)


@pytest.mark.parametrize("rate, cut", [(15000, 2999), (44100, 44100 // 3), (22050, 100000)])
def test_streamed_at_the_input_rate_equals_keras_on_the_whole_file(random_cgen, rate, cut):
    from superres.genstream import CutoffPlan, GenStream

    x = synth(2.0, rate=rate, channels=2, seed=6) * 0.8
    x44 = resample(x, rate, 44100) if rate != 44100 else x
    cutoff = 0.47 * rate if rate < 44100 else 16500.0
    whole = _keras_whole(random_cgen["model"], x44, cutoff)
    s = GenStream(random_cgen["onnx"], CONTEXT, 2, step_frames=97, rate=rate, plan=CutoffPlan(cutoff))
    out = np.concatenate([s.push(x[i:i + cut]) for i in range(0, len(x), cut)] + [s.finish()])
    assert out.shape == whole.shape
    assert np.abs(out - whole).max() < 1e-5


def test_remade_inputs_tell_the_detected_cutoff_and_repeat_per_seed():
    from superres.bandwidth import detect_bandwidth
    from superres.degrade import ANY_METHODS, remade_any

    y = synth(0.75, channels=1, seed=7)[:, 0]
    seen = []
    for name, _ in ANY_METHODS:
        for cutoff in (5000.0, 11025.0, 17000.0):
            x, told = remade_any(y, np.random.default_rng(0), cutoff, name)
            found = detect_bandwidth([x[:, None].astype(np.float64)], 44100, 1)
            assert x.dtype == np.float32 and x.shape == y.shape
            want = found.cutoff if not found.full_band and abs(found.cutoff / cutoff - 1) < 0.15 else cutoff
            assert told == pytest.approx(want, rel=2e-3)  # (detected here on the float32 input)
            # Nothing left above the cutoff beyond the filter's transition.
            assert _level_db(x[:, None], 1.15 * cutoff, 22050) < _level_db(x[:, None], 0, cutoff) - 30, (name, cutoff)
            seen.append(told / cutoff)
    assert 0.85 < min(seen) and max(seen) < 1.15
    a = remade_any(y, np.random.default_rng(3))
    b = remade_any(y, np.random.default_rng(3))
    assert np.array_equal(a[0], b[0]) and a[1] == b[1]


def test_cgen_trains_resumes_and_predicts_every_kind_without_tensorflow(cgen_run, tmp_path):
    import shutil

    # The shared one-epoch run (conftest.cgen_run), copied: trained on here, it stays as it was for the others.
    ds, model, tmp = cgen_run["dataset"], tmp_path / "cgen", tmp_path
    shutil.copytree(cgen_run["model"], model)
    out = run_script("rnn-super-resolution.py", "--train", "--quiet", "--dataset", ds, "--model", model, "--epochs",
                     "2", "--probe", "2", *CGEN_TINY).stdout
    with open(model / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["1", "2"] and all(np.isfinite(float(r["loss"])) for r in rows)
    # The epoch trained with --probe scored its songs' validation parts as users' inputs; the first did not.
    assert rows[0]["probe_lsd_ratio"] == "" and "epoch 2 probe: LSD above the cutoff" in out
    # Without the optional ViSQOL the run says so when it starts (it is looked for then only).
    import importlib.util

    assert ("the probe scores no ViSQOL" in out) == (importlib.util.find_spec("visqol") is None)
    probe = json.loads((model / "probe.json").read_text())
    assert [e["epoch"] for e in probe["epochs"]] == [2] and len(probe["songs"]) == 2
    kinds = probe["epochs"][0]["kinds"]
    assert set(kinds) == {"22.05 kHz", "16 kHz", "MP3 128 kbps"}
    # The band it restores is closer to the original's than the input's empty band, at every kind.
    restored = [k for k in kinds.values() if k["restored"]]
    assert all(0 < k["lsd_ratio"] < 1 for k in restored) and len(restored) >= 2, kinds
    # history.csv holds the means over every song restored.
    for column, key in (("probe_lsd_ratio", "lsd_ratio"), ("probe_hf_db", "hf_db")):
        want = np.average([k[key] for k in restored], weights=[k["restored"] for k in restored])
        assert float(rows[1][column]) == pytest.approx(want), column
    assert json.loads((model / "config.json").read_text())["arch"] == "cgen" and (model / "best.onnx").is_file()

    # Three kinds of input: 15 kHz, 22.05 kHz, and a 44.1 kHz file lowpassed at 16.5 kHz (a codec's wall).
    src = tmp / "in"
    src.mkdir()
    x = synth(3.0, channels=2, seed=8)
    sf.write(src / "a15.wav", resample(x, 44100, 15000), 15000, subtype="PCM_16")
    sf.write(src / "b22.wav", resample(x, 44100, 22050), 22050, subtype="PCM_16")
    from superres.degrade import lowpass

    cut = np.stack([lowpass(x[:, c], 16500.0, "fir", np.random.default_rng(0)) for c in range(2)], 1)
    sf.write(src / "c44.flac", cut, 44100, subtype="PCM_24")
    pred = tmp / "pred"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "superres", "predict", "--model", str(model),
                           str(src), "--output", str(pred)], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    imported = {line.split("|")[-1].strip().split(".")[0] for line in proc.stderr.splitlines()
                if line.startswith("import time:")}
    assert "onnxruntime" in imported and not imported & {"tensorflow", "keras", "jax", "torch"}
    entries = {e["output"]: e for e in json.loads((pred / "manifest.json").read_text())["files"]}
    for name, rate in (("a15.wav", 15000), ("b22.wav", 22050), ("c44.wav", 44100)):
        e = entries[name]
        y, r = sf.read(pred / name)
        inp, _ = sf.read(src / name.replace("c44.wav", "c44.flac"))
        assert r == 44100 and e["done"] == "spliced" and y.shape == (len(x), 2)
        kept = resample(inp, rate, 44100) if rate != 44100 else inp
        # The band the input had, kept (SNR below 0.95 x the cutoff against the input), the band above filled.
        lo = 0.95 * e["cutoff_hz"]
        snr = _level_db(kept, 0, lo) - _level_db(y - kept, 0, lo)
        assert snr > 50, (name, snr)
        assert _level_db(y, 1.05 * e["cutoff_hz"], 20000) > _level_db(kept, 1.05 * e["cutoff_hz"], 20000) + 20, name
    assert entries["c44.wav"]["subtype"] == "PCM_24"

    # Chunked equals one piece: the same file in 0.2 s chunks.
    pred2 = tmp / "pred2"
    subprocess.run([sys.executable, "-m", "superres", "predict", "--model", str(model), str(src / "a15.wav"),
                    "--output", str(pred2), "--chunk-seconds", "0.2"], check=True, capture_output=True, env=env,
                   timeout=300)
    a, _ = sf.read(pred / "a15.wav")
    b, _ = sf.read(pred2 / "a15.wav")
    assert np.abs(a - b).max() <= 1 / 32768



@pytest.fixture(scope="module")
def cgen_predictor(cgen_run):
    """The trained tiny cgen of :func:`conftest.cgen_run`, loaded once for the API (ONNX Runtime)."""
    from superres.api import load_predictor

    return load_predictor(cgen_run["model"])


@pytest.mark.parametrize("rate, cutoff", [(8000, 4000), (11025, 5512.5), (16000, 8000), (22050, 11025),
                                          (32000, 16000), (44100, 17000)])
def test_the_band_below_every_cutoff_is_kept_and_the_band_above_filled(cgen_predictor, rate, cutoff):
    # From 4 to 17 kHz, a file at its own rate (or a 44.1 kHz file lowpassed at 17 kHz, as codecs cut; from
    # 18.5 kHz up a file reads as full band and is left as it is), its cutoff detected:
    # below the cutoff the output is the input (sinc-interpolated to 44.1 kHz), above it the network's band.
    from superres.api import upsample
    from superres.degrade import lowpass

    x44 = synth(2.0, channels=2, seed=11)
    if rate == 44100:
        x = np.stack([lowpass(x44[:, c], cutoff, "fir", np.random.default_rng(0)) for c in range(2)], 1)
    else:
        x = np.clip(np.round(resample(x44, 44100, rate) * 32768), -32768, 32767) / 32768
    y, out_rate = upsample(x, rate, cgen_predictor)
    kept = resample(x, rate, 44100) if rate != 44100 else x
    assert out_rate == 44100 and y.shape == kept.shape
    lo, hi = 0.9 * cutoff, 1.1 * cutoff
    snr = _level_db(kept, 0, lo) - _level_db(y - kept, 0, lo)
    assert snr >= 50, snr
    assert _level_db(y, hi, 21000) > _level_db(kept, hi, 21000) + 20


def test_eval_scores_cgen_as_superres_predict_writes_it(cgen_run, tmp_path):
    # eval.py --models runs a network told the cutoff as prediction does (the scan's files' bandwidth, the band
    # below it kept, the generated band spliced above): its rows equal those of the same model's prediction
    # folder -- whole songs exactly; the test parts, whose stream starts shortly before them, within rounding.
    model, pred = cgen_run["model"], tmp_path / "pred"
    run_script("rnn-super-resolution.py", "--predict", "--model", model, "--output", pred)
    for whole in (True, False):
        res = tmp_path / f"eval-{whole}.json"
        run_script("eval.py", "--predicted", pred, "--models", model, "--json", res, *(["--whole"] if whole else []))
        result = json.loads(res.read_text())
        folder, in_process = result["methods"][3:]
        assert len(result["songs"]) == 3
        for song in result["songs"]:
            a, b = song["scores"][folder], song["scores"][in_process]
            assert set(a) == set(b)
            for metric in a:
                if whole:
                    assert a[metric] == b[metric], (song["name"], metric)
                else:
                    assert a[metric] == pytest.approx(b[metric], rel=1e-3, abs=1e-3), (song["name"], metric)


def test_cgen_adversarial_step_on_tiny_data_resumes(cgen_run, tmp_path):
    import keras

    from superres.adversarial import ADVERSARIAL_STATE

    if keras.backend.backend() not in ("tensorflow", "torch"):
        pytest.skip(f"the adversarial training step is written for TensorFlow and PyTorch, not "
                    f"{keras.backend.backend()}")
    ds, gan = cgen_run["dataset"], tmp_path / "gan"
    # The discriminator judges 2048 of each window's 8192 samples; an epoch is 20 of the 48 training windows
    # (5 steps of 4), as make cgen's adversarial stage takes part of a pass per epoch.
    adv = ["--adv-weight", "0.5", "--disc-channels", "4", "--disc-segment", "2048", "--epoch-windows", "20"]
    run_script("rnn-super-resolution.py", "--train", "--quiet", "--dataset", ds, "--model", gan, "--epochs", "1",
               "--init-from", cgen_run["model"], *CGEN_TINY, *adv)
    with np.load(gan / ADVERSARIAL_STATE) as f:
        first = dict(f)
    run_script("rnn-super-resolution.py", "--train", "--quiet", "--dataset", ds, "--model", gan, "--epochs", "2",
               *CGEN_TINY, *adv)
    with open(gan / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["1", "2"] and all(np.isfinite(float(r["loss"])) for r in rows)
    assert [int(r["steps"]) for r in rows] == [5, 10]
    with np.load(gan / ADVERSARIAL_STATE) as f:
        second = dict(f)
    steps = [k for k in first if k.startswith("d_opt") and first[k].shape == () and first[k].dtype.kind == "i"]
    assert steps and all(second[k] == 2 * first[k] == 10 for k in steps)
    assert any(not np.array_equal(first[k], second[k]) for k in first if k.startswith("d") and k[1:].isdigit())
    # The discriminator sees the band from the lowest cutoff's merge zone up, not gen's 10.5 kHz.
    from superres.adversarial import make_trainer
    from superres.models import build_model
    from superres.runs import load_config

    cfg = load_config(gan)
    trainer = make_trainer(build_model(cfg), cfg)
    lows = {layer.low_hz for layer in trainer.discriminator.layers if hasattr(layer, "low_hz")}
    assert lows == {bp.ANY_LO * bp.BIN_HZ} and bp.ANY_LO * bp.BIN_HZ < bp.MIN_CUTOFF_HZ
    assert cfg["disc_segment"] == 2048 and trainer.discriminator.input.shape == (None, 2048)
    assert cfg["epoch_windows"] == 20 and load_config(cgen_run["model"])["epoch_windows"] == 0
    # A model from before --epoch-windows trained in passes: its config reads as 0.
    assert "epoch_windows" not in json.loads((ROOT / "models/default/config.json").read_text())
    assert load_config(ROOT / "models/default")["epoch_windows"] == 0
    assert (gan / "best.onnx").is_file()


def test_the_discriminator_judges_a_segment_that_moves_with_every_step():
    from superres.adversarial import AdversarialTrainer, make_trainer
    from superres.models import build_model
    from superres.runs import ARCH_DEFAULTS

    cfg = {"arch": "cgen", **ARCH_DEFAULTS["cgen"], "dim": 8, "blocks": 1, "expand": 2, "kernel": 3,
           "adv_weight": 0.5, "disc_channels": 4, "disc_segment": 2048, "window": 8192, "bits": 16,
           "dataset": {"encoding": "pcm", "input": "sinc"}}
    trainer = make_trainer(build_model(cfg), cfg)
    audio = np.arange(3 * 8192, dtype=np.float32).reshape(3, 8192)
    positions = 8192 - 2048 + 1
    starts = []
    for step in range(positions):
        view = np.asarray(trainer._view(audio, np.int64(step)))
        start = int(view[0, 0])
        # Every example's same samples, one contiguous run of the segment's length inside the window.
        np.testing.assert_array_equal(view, audio[:, start:start + 2048])
        starts.append(start)
    assert starts[:3] == [0, AdversarialTrainer.SEGMENT_STRIDE, 2 * AdversarialTrainer.SEGMENT_STRIDE - positions]
    assert sorted(starts) == list(range(positions))  # over as many steps as positions, each position once
    # A whole window where the config asks for none or for more than the window (runs made before the setting).
    for segment in (0, 8192, 20000):
        whole = make_trainer(build_model(cfg), {**cfg, "disc_segment": segment})
        assert whole.segment is None and whole.discriminator.input.shape == (None, 8192)
        np.testing.assert_array_equal(np.asarray(whole._view(audio, np.int64(5))), audio)


def test_adversarial_run_chosen_by_the_probe_keeps_its_best_probed_epoch(cgen_run, tmp_path, monkeypatch):
    import keras

    from superres import probe, train

    if keras.backend.backend() not in ("tensorflow", "torch"):
        pytest.skip(f"the adversarial training step is written for TensorFlow and PyTorch, not "
                    f"{keras.backend.backend()}")
    # Scripted figures (ViSQOL gain, LSD ratio) and validation losses that disagree: the loss falls every epoch,
    # the probe's score (gain - ratio) is best at epoch 2, then at epoch 5.
    figures = iter([(0.30, 0.50), (0.50, 0.45), (0.40, 0.45), (0.45, 0.42), (0.60, 0.40)])
    losses = iter([1.0, 0.9, 0.8, 0.7, 0.6])
    seen = {}

    class ScriptedProbe:
        visqol = 0.0

        def __init__(self, config, run_dir, songs):
            pass

        def __call__(self, model, epoch):
            seen[epoch] = [w.copy() for w in model.get_weights()]
            gain, ratio = next(figures)
            return {"probe_lsd_ratio": ratio, "probe_hf_db": 0.0, "probe_visqol_gain": gain}

    real = train._Checkpointer.on_epoch_end

    def on_epoch_end(self, epoch, logs=None):
        return real(self, epoch, {**(logs or {}), "val_loss": next(losses)})

    monkeypatch.setattr(train._Checkpointer, "on_epoch_end", on_epoch_end)
    monkeypatch.setattr(probe, "HeldoutProbe", ScriptedProbe)
    monkeypatch.setattr(probe, "visqol_installed", lambda: True)
    ds, gan = cgen_run["dataset"], tmp_path / "gan"
    args = ["rnn-super-resolution.py", "--train", "--quiet", "--dataset", ds, "--model", gan, *CGEN_TINY,
            "--adv-weight", "0.5", "--disc-channels", "4", "--probe", "1"]
    out = run_script(*args, "--epochs", "6", "--patience", "2", "--select", "probe", "--init-from",
                     cgen_run["model"]).stdout
    state = json.loads((gan / "state.json").read_text())
    assert state["epochs_done"] == 4 and state["stopped_early"] == 4 and state["best_epoch"] == 2
    assert state["select"] == "probe" and state["best_probe_score"] == pytest.approx(0.05)
    assert state["best_val_loss"] == pytest.approx(0.9)  # the best epoch's loss, not the lowest
    assert "no better probe score for 2 epoch(s), since epoch 2" in out and "probe score 0.05" in out
    best = keras.models.load_model(gan / "best.keras")
    assert all(np.array_equal(a, b) for a, b in zip(best.get_weights(), seen[2], strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(best.get_weights(), seen[4]))
    # A run resumes only with the criterion it started with.
    refused = run_script(*args, "--epochs", "6", "--patience", "3", check=False)
    assert refused.returncode == 2 and "by its probe score, not its validation loss" in refused.stderr
    run_script(*args, "--epochs", "5", "--patience", "3", "--select", "probe")
    state = json.loads((gan / "state.json").read_text())
    assert state["epochs_done"] == 5 and state["best_epoch"] == 5 and "stopped_early" not in state
    best = keras.models.load_model(gan / "best.keras")
    assert all(np.array_equal(a, b) for a, b in zip(best.get_weights(), seen[5], strict=True))


def test_the_probe_scores_songs_long_enough_and_a_resumed_run_the_same_songs(tmp_path):
    from conftest import write_synth
    from superres.probe import HeldoutProbe

    # Validation parts (the last 20%) of 0.2, 2.0, 0.4 and 2.4 s: two hold a 1 s excerpt.
    for name, seconds in (("a.wav", 1.0), ("b.wav", 10.0), ("c.wav", 2.0), ("d.wav", 12.0)):
        write_synth(tmp_path / "orig" / name, seconds, channels=1, seed=len(name) + int(seconds))
    run_script("10-scan.py", "--input", tmp_path / "orig", "--output", tmp_path / "scan")
    run = tmp_path / "run"
    run.mkdir()
    config = {"scan_dir": str(tmp_path / "scan"), "train_fraction": 0.8}

    def songs(n, seconds=1.0):
        probe = HeldoutProbe(config, run, songs=n, seconds=seconds, kinds=("22.05 kHz",), visqol=None)
        return sorted({name for _, name, *_ in probe.inputs})

    assert songs(2) == ["b.wav", "d.wav"]  # not the sound-effect-short a.wav that the sorted list starts with
    assert songs(3) == ["b.wav", "c.wav", "d.wav"]  # too few long enough: the three longest
    assert songs(1, seconds=0.1) == ["a.wav"]  # every one long enough: spread over all
    # A run that scored a.wav and c.wav goes on scoring them; asked for another count, it picks anew.
    (run / "probe.json").write_text(json.dumps({"songs": ["a.wav", "c.wav"], "epochs": []}))
    assert songs(2) == ["a.wav", "c.wav"]
    assert songs(3) == ["b.wav", "c.wav", "d.wav"]


def test_select_probe_needs_the_probe_and_visqol(cgen_run, tmp_path, monkeypatch):
    from superres import probe

    args = ["rnn-super-resolution.py", "--train", "--quiet", "--dataset", cgen_run["dataset"], "--model",
            tmp_path / "run", *CGEN_TINY, "--epochs", "1", "--select", "probe"]
    monkeypatch.setattr(probe, "visqol_installed", lambda: True)
    proc = run_script(*args, check=False)
    assert proc.returncode == 2 and "give --probe SONGS too" in proc.stderr
    monkeypatch.setattr(probe, "visqol_installed", lambda: False)
    proc = run_script(*args, "--probe", "1", check=False)
    assert proc.returncode == 2 and "ViSQOL is not installed: make visqol" in proc.stderr
    assert not (tmp_path / "run").exists()  # refused before anything was written

@pytest.mark.parametrize("codec, bitrate", [("mp3", 128000), ("aac", 96000), ("mp3", 64000)])
def test_codec_inputs_are_aligned_and_cut_where_the_encoder_cuts(codec, bitrate):
    from superres.bandwidth import detect_bandwidth
    from superres.degrade import codec_roundtrip

    y = synth(0.75, channels=1, seed=9)[:, 0]
    x = codec_roundtrip(y, codec, bitrate // 2)
    assert x.shape == y.shape
    found = detect_bandwidth([x[:, None]], 44100, 1)
    assert not found.full_band and 7000 < found.cutoff < 18000
    # Aligned: no other shift of the decoded window is closer to the original (the encoder's delay is gone).
    lo = 0.5 * found.cutoff

    def error(shift):  # the error's energy below half the cutoff, where the codec keeps the signal
        return _level_db((np.roll(x, shift) - y)[4096:-4096, None], 0, lo)

    assert error(0) < min(error(s) for s in (-3, -2, -1, 1, 2, 3))
    assert error(0) < _level_db(y[4096:-4096, None], 0, lo)  # the codec's noise under the signal it kept


def _cgen_predictor(random_cgen):
    from superres.predictor import Predictor

    config = {"arch": "cgen", "dim": 16, "blocks": 2, "expand": 2, "kernel": 5, "dataset": {"input": "sinc"}}
    return Predictor(None, config, runtime="onnx", network=random_cgen["onnx"])


@pytest.mark.parametrize("ext, rate", [(".wav", 22050), (".wav", 44100), (".m4a", 44100), (".mp3", 44100)])
def test_one_pass_prediction_equals_the_two_stream_splice(random_cgen, tmp_path, ext, rate):
    """predict_file reads a file once and splices the stream's own sinc interpolation to the band it adds (the
    band filtered in single precision); the same as splicing the file read again at 44.1 kHz to the stream's
    whole output, as it was done before, to float32 precision; a compressed input is decoded once, beside the
    output, and nothing of that is left there."""
    from superres.audio import exact_blocks, read_blocks
    from superres.decode import encode_audio
    from superres.predict import predict_file
    from superres.splice import CEILING, splice_blocks

    # A 16 kHz file's band at the file's rate; a codec cuts a full band itself.
    x = (resample(synth(1.5, rate=16000, channels=2, seed=8), 16000, rate) if ext == ".wav"
         else synth(1.5, rate=44100, channels=2, seed=8)) * 0.7
    src = tmp_path / f"in{ext}"
    if ext == ".wav":
        sf.write(str(src), x, rate, subtype="FLOAT")
    else:
        encode_audio(str(src), x, rate, ext.lstrip(".").replace("m4a", "aac"), 128000)
    predictor = _cgen_predictor(random_cgen)
    out = tmp_path / "out" / "in.wav"
    entry = predict_file(predictor, src, out, chunk_seconds=0.3, subtype="FLOAT")
    assert sorted(p.name for p in out.parent.iterdir()) == ["in.wav"]
    y, r = sf.read(str(out), always_2d=True)
    assert r == 44100 and entry["done"] == "spliced"
    cutoff, total, block = entry["cutoff_hz"], entry["frames_out"], 44100 * 3 // 10
    real = read_blocks(src, 44100, block, "float64")
    generated = predictor.blocks(read_blocks(src, rate, int(0.3 * rate), "float64"), 2, rate, cutoff)
    ref = np.concatenate(list(splice_blocks(exact_blocks(real, 0, total, block),
                                            exact_blocks(generated, 0, total, block), 44100, cutoff, 2, total,
                                            CEILING)))
    assert y.shape == ref.shape == (total, 2)
    assert np.abs(y - ref).max() < 2e-6
