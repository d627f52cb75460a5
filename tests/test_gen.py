"""The ``gen`` architecture: low band = sinc, streaming = whole file, ONNX = Keras, no TensorFlow to predict."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import ROOT, run_script, synth, train_one_epoch

from superres import bandplan
from superres.audio import sinc_upsample, to_int16

GEN_TINY = ["--arch", "gen", "--dim", "8", "--blocks", "2", "--expand", "2", "--kernel", "5", "--lr", "2e-3"]


def _random_gen(seed=0, **sizes):
    """A ``gen`` network with random (not trained) weights everywhere, the head included: the same network
    whatever ran before it in the process (Keras's initialisers draw from its global seed)."""
    import keras

    from superres.models.gen import build_gen

    keras.utils.set_random_seed(seed)
    model = build_gen(None, **sizes)
    rng = np.random.default_rng(seed)
    model.set_weights([w + rng.standard_normal(w.shape).astype("float32") * 0.05 for w in model.get_weights()])
    return model


def _whole_file(model, x):
    """The Keras network on each channel of a whole signal at once: (n, ch) float -> (n, ch)."""
    return np.stack([np.asarray(model.predict_on_batch(x[:, c][None].astype("float32")))[0, :, 0]
                     for c in range(x.shape[1])], 1)


def _stream(core, low, cut, context, threads=None):
    from superres.genstream import GenStream

    s = GenStream(core, context, low.shape[1], step_frames=97 if len(low) < 10 ** 6 else 4096, threads=threads)
    return np.concatenate([s.push(low[i:i + cut]) for i in range(0, len(low), cut)] + [s.finish()])


@pytest.fixture(scope="module")
def random_gen():
    from superres.models.gen import core_of
    from superres.runtime import OnnxCore, export_gen_core

    model = _random_gen(blocks=3, kernel=5)
    low = to_int16(synth(3.0, rate=22050, seed=3))
    return {"model": model, "low": low, "sinc": sinc_upsample(low / 32768.0),
            "onnx": OnnxCore(export_gen_core(core_of(model)).SerializeToString()),
            "context": bandplan.context_frames({"blocks": 3, "kernel": 5})}


def test_band_plan_copies_from_below_the_rolloff_in_whole_turns():
    src = bandplan.source_bins()
    k = np.arange(bandplan.MERGE_LO, bandplan.FFT // 2 + 1)
    own = k < bandplan.LOW_BINS
    assert np.array_equal(src[own], k[own])  # the roll-off: the input's own bins
    assert src[~own].max() <= bandplan.SOURCE_HI and src[~own].min() > 0
    # Whole turns of phase per hop: shifts are multiples of FFT / HOP.
    assert np.all((k - src) % (bandplan.FFT // bandplan.HOP) == 0) and np.all(k[~own] - src[~own] > 0)
    offset = bandplan.log_gain_offset()
    assert np.all(offset[own] == 0) and np.all(offset[~own] < 0)


def test_an_untrained_head_leaves_the_input_and_adds_a_quiet_copy():
    from superres.models.gen import build_gen

    x = (synth(1.0, channels=1, seed=4)[:, 0] * 0.5).astype("float32")
    out = np.asarray(build_gen(None, dim=8, blocks=1).predict_on_batch(x[None]))[0, :, 0]
    f = np.fft.rfftfreq(len(x), 1 / 44100)
    win = np.hanning(len(x))
    d, s = np.fft.rfft((out - x) * win), np.fft.rfft(x * win)
    # Up to the band the head writes, the input is untouched: the head's zero gains leave the roll-off bins
    # (10.5-11.025 kHz) as they are, and the copied band above leaks only the STFT's rounding below 10.4 kHz.
    for hz, tol in ((10400, 1e-5), (11025 - 200, 1e-3)):
        below = f < hz
        assert np.sqrt(np.mean(np.abs(d[below]) ** 2) / np.mean(np.abs(s[below]) ** 2)) < tol
    assert np.abs(d[f > 11500]).mean() > 0.01 * np.abs(s[f > 11500]).mean()


def test_low_band_is_the_sinc_interpolation(random_gen):
    out = _whole_file(random_gen["model"], random_gen["sinc"])
    sinc = random_gen["sinc"]
    assert np.abs(out - sinc).max() > 0.01  # the network did add a top band
    # Hann-windowed whole-signal spectra: the low band of the output is the input's to float rounding.
    win = np.hanning(len(out))[:, None]
    d, s = np.fft.rfft((out - sinc) * win, axis=0), np.fft.rfft(sinc * win, axis=0)
    f = np.fft.rfftfreq(len(out), 1 / 44100)
    for hz, tol in ((9000, 1e-5), (10000, 1e-5)):
        b = f < hz
        assert np.sqrt(np.mean(np.abs(d[b]) ** 2) / np.mean(np.abs(s[b]) ** 2)) < tol
    top = f > 11025
    assert np.sqrt(np.mean(np.abs(d[top]) ** 2) / np.mean(np.abs(s[f < 11025]) ** 2)) > 1e-2


@pytest.mark.parametrize("cut", [66150, 4410, 777])
def test_streamed_equals_whole_file_and_onnx_equals_keras(random_gen, cut):
    ref = _whole_file(random_gen["model"], random_gen["sinc"])
    out = _stream(random_gen["onnx"], random_gen["low"], cut, random_gen["context"])
    assert out.shape == ref.shape == (2 * len(random_gen["low"]), 2)
    np.testing.assert_allclose(out, ref, atol=2e-5)
    # Too little context is not the same network: the check can fail.
    if cut == 777:
        short = _stream(random_gen["onnx"], random_gen["low"], cut, random_gen["context"] - 2)
        assert np.abs(short - ref).max() > 1e-4


@pytest.mark.parametrize("threads", [1, 3])
def test_mono_split_over_threads_equals_whole_file(random_gen, threads):
    low = random_gen["low"][:, :1]
    ref = _whole_file(random_gen["model"], random_gen["sinc"][:, :1])
    np.testing.assert_allclose(_stream(random_gen["onnx"], low, 10000, random_gen["context"], threads), ref,
                               atol=2e-5)


def test_keras_backbone_stream_equals_onnx(random_gen):
    from superres.models.gen import core_of

    core = core_of(random_gen["model"])
    # One thread, as prediction runs a Keras backbone: Keras's predict is not thread-safe (JAX's donates buffers).
    a = _stream(lambda f: np.asarray(core.predict_on_batch(f)), random_gen["low"], 5000, random_gen["context"],
                threads=1)
    b = _stream(random_gen["onnx"], random_gen["low"], 5000, random_gen["context"])
    np.testing.assert_allclose(a, b, atol=2e-5)


def test_short_and_silent_inputs(random_gen):
    """Short files are what genstream's module docstring promises of every file: the network on the whole file
    at once (to float rounding); files too short for the STFT's centring (512 output samples or fewer, which
    neither the stream nor Keras's STFT can reflect-pad) get no top band, so they come out as the sinc
    interpolation itself. Silence in is silence out, exactly: every spectrum the generator shapes is zero, so
    what it adds is zero whatever its gains."""
    for n in (1, 100, 256, 257, 300, 700):
        low = to_int16(synth(n / 22050, rate=22050, seed=1))[:n]
        out = _stream(random_gen["onnx"], low, 64, random_gen["context"])
        assert out.shape == (2 * n, 2)
        sinc = sinc_upsample(low / 32768.0)
        if 2 * n <= bandplan.FFT // 2:
            np.testing.assert_array_equal(out, sinc)
        else:
            ref = _whole_file(random_gen["model"], sinc)
            assert np.abs(ref - sinc).max() > 0.01, n  # the network did add a top band to so short a file
            np.testing.assert_allclose(out, ref, atol=2e-5, err_msg=f"{n} frames")
    for n in (300, 22050):
        silent = np.zeros((n, 2), np.int16)
        out = _stream(random_gen["onnx"], silent, 5000, random_gen["context"])
        assert out.shape == (2 * n, 2) and np.abs(out).max() == 0.0


def _resampled_then_sinc(y, method, rng):
    """What ``method`` gives for ``y`` (n,), built here from the resamplers themselves: y at 22.05 kHz by that
    resampler, rounded to 16 bits, soxr VHQ back to 44.1 kHz, trimmed or zero-padded to n (superres.degrade's
    docstring). ``fir-low`` draws its cutoff (0.9-0.98 of 11.025 kHz) and then its length (63, 127 or 255 taps)
    from ``rng``."""
    import scipy.signal
    import soxr

    n = len(y)
    if method.startswith("soxr-"):
        low = soxr.resample(y, 44100, 22050, quality=method[5:].upper())
    elif method.startswith("poly-"):
        window = {"poly-kaiser5": ("kaiser", 5.0), "poly-hann": "hann", "poly-blackman": "blackman"}[method]
        low = scipy.signal.resample_poly(y, 1, 2, window=window)
    else:
        cutoff = rng.uniform(0.9, 0.98)
        taps = scipy.signal.firwin(int(rng.choice([63, 127, 255])), cutoff / 2, window=("kaiser", 8.0))
        low = scipy.signal.fftconvolve(y, taps, mode="same")[::2]
    low = np.pad(low[:n // 2], (0, max(0, n // 2 - len(low))))
    up = soxr.resample(np.clip(np.round(low * 32768), -32768, 32767) / 32768, 22050, 44100, quality="VHQ")
    return np.pad(up[:n], (0, max(0, n - len(up))))


def _methods():
    from superres.degrade import METHODS

    return [m for m, _ in METHODS]


def test_remade_inputs():
    """Each method's input is its own resampler's result (not one resampler under eight names), and each
    keeps the low band and removes the top octave."""
    from superres.degrade import remade_input

    y = synth(1.0, channels=1, seed=2)[:, 0]
    made = {}
    for method in _methods():
        x = remade_input(y, np.random.default_rng(0), method)
        assert x.shape == y.shape and x.dtype == np.float32, method
        # Float32 rounding of the same computation (measured 1e-8).
        np.testing.assert_allclose(x, _resampled_then_sinc(y, method, np.random.default_rng(0)), rtol=0, atol=1e-6,
                                   err_msg=method)
        f = np.fft.rfftfreq(len(y), 1 / 44100)
        X, Y = np.abs(np.fft.rfft(x)), np.abs(np.fft.rfft(y))
        low = (f > 200) & (f < 8000)
        assert np.sqrt(np.mean((X[low] - Y[low]) ** 2) / np.mean(Y[low] ** 2)) < 0.05  # the low band survives
        assert np.sum(X[f > 11600] ** 2) < 0.05 * np.sum(Y[f > 11600] ** 2)  # the top octave is gone
        made[method] = x
    # They differ: the closest two (soxr VHQ and HQ) by 26 16-bit steps at their largest, measured.
    for i, a in enumerate(made):
        for b in list(made)[i + 1:]:
            assert np.abs(made[a] - made[b]).max() > 5 / 32768, (a, b)
    # fir-low's cutoff is drawn: other draws, other inputs.
    assert np.abs(remade_input(y, np.random.default_rng(1), "fir-low") - made["fir-low"]).max() > 5 / 32768


def test_remade_batches_draw_a_resampler_per_window_and_epoch():
    """RemadeBatches: targets as stored, inputs remade by one of the resamplers for every window, drawn anew
    every epoch (training) or the same every epoch (validation, ``fixed``)."""
    from superres.loader import RemadeBatches

    rng = np.random.default_rng(4)
    windows, window = 12, 2048
    y = np.stack([to_int16(synth(window / 44100, channels=1, seed=int(s))[:, 0]) for s in rng.integers(0, 99, windows)])
    deterministic = [m for m in _methods() if m != "fir-low"]

    def epochs(batches, count=2):
        out = []
        for _ in range(count):
            batches.on_epoch_begin()  # as Keras's fit calls it
            xs, ys = zip(*(batches[i] for i in range(len(batches))))
            out.append(np.concatenate(xs))
            np.testing.assert_array_equal(np.concatenate(ys), y[..., None] / 32768.0)  # targets, in order
        return out

    def which(row, target):
        """The resampler that made ``row``: one of the deterministic ones, or fir-low (a lowpass of its own)."""
        target = target / 32768.0
        for m in deterministic:
            if np.abs(row - _resampled_then_sinc(target, m, None)).max() < 1e-6:
                return m
        return "fir-low"

    train = epochs(RemadeBatches(y, batch_size=5, seed=3))
    assert all(x.shape == (windows, window) and x.dtype == np.float32 for x in train)
    used = [[which(row, t) for row, t in zip(x, y)] for x in train]
    assert len(set(used[0] + used[1])) >= 4 and "fir-low" in used[0] + used[1]  # a mix, not one resampler
    assert used[0] != used[1]  # drawn anew each epoch
    # Every row, fir-low's among them, has lost its top octave.
    for x, names in zip(train, used):
        for row, t, m in zip(x, y, names):
            f = np.fft.rfftfreq(window, 1 / 44100)
            R, T = np.abs(np.fft.rfft(row)), np.abs(np.fft.rfft(t / 32768.0))
            assert np.sum(R[f > 11600] ** 2) < 0.05 * np.sum(T[f > 11600] ** 2), m
    val = epochs(RemadeBatches(y, batch_size=5, seed=3, fixed=True))
    np.testing.assert_array_equal(val[0], val[1])  # validation: the same inputs every epoch
    other_seed = epochs(RemadeBatches(y, batch_size=5, seed=4, fixed=True), 1)[0]
    assert np.abs(other_seed - val[0]).max() > 5 / 32768


@pytest.fixture(scope="module")
def gen_base(tmp_path_factory, sinc_dataset):
    """The pipeline's songs as a sinc dataset, and a tiny gen model trained on it for one epoch."""
    return {"dataset": sinc_dataset,
            "model": train_one_epoch(sinc_dataset, tmp_path_factory.mktemp("gen") / "base", GEN_TINY)}


def test_gen_pipeline_trains_resumes_and_predicts_without_tensorflow(tmp_path, pipeline, gen_base):
    import shutil

    ds, model = gen_base["dataset"], tmp_path / "gen"
    shutil.copytree(gen_base["model"], model)
    run_script("rnn-super-resolution.py", "--train", "--quiet", "--dataset", ds, "--model", model, "--epochs", "2",
               *GEN_TINY)
    rows = [r.split(",") for r in (model / "history.csv").read_text().splitlines()[1:]]
    assert [r[0] for r in rows] == ["1", "2"] and all(np.isfinite(float(r[1])) for r in rows)
    cfg = json.loads((model / "config.json").read_text())
    assert cfg["arch"] == "gen" and cfg["dim"] == 8 and (model / "best.onnx").is_file()

    # The command a user runs, as a new process: the exported backbone on ONNX Runtime, no TensorFlow.
    pred = tmp_path / "pred"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-X", "importtime", str(ROOT / "rnn-super-resolution.py"), "--predict",
                           "--model", str(model), "--output", str(pred)], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    imported = {line.split("|")[-1].strip().split(".")[0] for line in proc.stderr.splitlines()
                if line.startswith("import time:")}
    assert "onnxruntime" in imported and not imported & {"tensorflow", "keras", "jax", "torch"}
    manifest = json.loads((pred / "manifest.json").read_text())
    assert manifest["runtime"] == "onnx"
    for e in json.loads((pipeline["scan"] / "manifest.json").read_text())["files"]:
        info, low = sf.info(str(pred / e["output"])), sf.info(str(pipeline["scan"] / e["output"]))
        assert info.samplerate == 44100 and info.frames == 2 * low.frames and info.channels == low.channels

    # Weights newer than their export: the stale export is not used (Keras runs, and says why).
    pred2 = tmp_path / "pred2"
    (model / "best.onnx").write_bytes((model / "best.onnx").read_bytes()[:-1] + b"\0")
    res = run_script("rnn-super-resolution.py", "--predict", "--model", model, "--output", pred2)
    assert "no current ONNX export" in res.stdout + res.stderr
    a = sf.read(str(pred / manifest["files"][0]["output"]))[0]
    b = sf.read(str(pred2 / manifest["files"][0]["output"]))[0]
    assert np.abs(a - b).max() <= 2 / 32768  # Keras and ONNX Runtime agree to the 16-bit rounding


def test_adversarial_fine_tune_runs_and_resumes(tmp_path, gen_base):
    import keras

    from superres.adversarial import ADVERSARIAL_STATE

    if keras.backend.backend() not in ("tensorflow", "torch"):
        pytest.skip(f"the adversarial training step is written for TensorFlow and PyTorch, not "
                    f"{keras.backend.backend()} (train.py says so to a user)")

    ds, base = gen_base["dataset"], gen_base["model"]
    gan = tmp_path / "gan"
    adv = ["--adv-weight", "0.5", "--disc-channels", "4"]
    # Another network's weights are refused.
    proc = run_script("rnn-super-resolution.py", "--train", "--dataset", ds, "--model", tmp_path / "bad", "--epochs",
                      "1", "--init-from", base, *GEN_TINY[:-2], "--dim", "12", *adv, check=False)
    assert proc.returncode == 2 and "--init-from" in proc.stderr
    run_script("rnn-super-resolution.py", "--train", "--quiet", "--dataset", ds, "--model", gan, "--epochs", "1",
               "--init-from", base, *GEN_TINY, *adv)
    cfg = json.loads((gan / "config.json").read_text())
    assert cfg["adv_weight"] == 0.5 and Path(cfg["init_from"]).name == "base"
    assert (gan / cfg["init_from"]).resolve() == base.resolve()
    with np.load(gan / ADVERSARIAL_STATE) as f:
        first = dict(f)
    run_script("rnn-super-resolution.py", "--train", "--quiet", "--dataset", ds, "--model", gan, "--epochs", "2",
               *GEN_TINY, *adv)
    rows = [r.split(",") for r in (gan / "history.csv").read_text().splitlines()[1:]]
    assert [r[0] for r in rows] == ["1", "2"] and all(np.isfinite(float(r[1])) for r in rows)
    with np.load(gan / ADVERSARIAL_STATE) as f:
        second = dict(f)
    # The discriminator trained on, from where it was: its optimizer's step count continued.
    steps = [k for k in first if k.startswith("d_opt") and first[k].shape == () and first[k].dtype.kind == "i"]
    assert steps and all(second[k] == 2 * first[k] > 0 for k in steps)
    assert any(not np.array_equal(first[k], second[k]) for k in first if k.startswith("d") and k[1:].isdigit())
    # The generator alone is what prediction loads, on ONNX Runtime.
    pred = tmp_path / "pred"
    run_script("rnn-super-resolution.py", "--predict", "--model", gan, "--output", pred)
    assert json.loads((pred / "manifest.json").read_text())["runtime"] == "onnx"


def test_ten_minutes_in_chunks_equal_one_piece(random_gen):
    """A 10-minute file streamed in 1-second blocks and 24-second steps equals the same file pushed in
    1-minute blocks and run in 3-minute steps: other cuts everywhere (the tests above tie the stream to the
    Keras network on a whole file; a 10-minute piece through Keras needs several GB)."""
    from superres.genstream import GenStream

    rng = np.random.default_rng(7)
    n = 600 * 22050
    low = (np.sin(np.arange(n) * 0.03)[:, None] * 4000 + rng.standard_normal((n, 1)) * 800).astype(np.int16)
    whole = GenStream(random_gen["onnx"], random_gen["context"], 1, step_frames=31000)
    one = np.concatenate([whole.push(low[i:i + 60 * 22050]) for i in range(0, n, 60 * 22050)] + [whole.finish()])
    chunked = _stream(random_gen["onnx"], low, 22050, random_gen["context"])
    assert one.shape == chunked.shape == (2 * n, 1)
    np.testing.assert_allclose(chunked, one, atol=2e-5)
