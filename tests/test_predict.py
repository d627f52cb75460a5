"""The chunked prediction path, in-process with tiny untrained networks of both architectures."""

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import soxr

from conftest import run_script, synth, write_synth
from superres.audio import read_blocks, sinc_upsample, to_int16
from superres.encoding import int16_to_bits
from superres.errors import UserError
from superres.models import build_bilstm, build_sbr
from superres.predict import predict_file
from superres.predictor import Predictor, open_predictor
from superres.windows import crossfade_weights

BILSTM = {"window": 50, "arch": "bilstm", "units": 4, "dataset": {"encoding": "bits", "input": "naive"}}
SBR = {"window": 1024, "arch": "sbr", "channels": 4, "bands": 8, "kernel": 3,
       "dataset": {"encoding": "pcm", "input": "sinc"}}


def _batch_lsb():
    """16-bit steps by which a BiLSTM's output may change with the batch's size: none on TensorFlow and
    PyTorch; XLA (JAX) picks its matrix kernels by shape, and their float32 sums can round the other way."""
    import keras

    return 1 if keras.backend.backend() == "jax" else 0


@pytest.fixture(scope="module")
def model():
    import keras

    keras.utils.set_random_seed(1)
    return build_bilstm(window=50, bits=16, units=4, dense=8, dense2=4)


@pytest.fixture(scope="module")
def sbr_model():
    import keras

    keras.utils.set_random_seed(1)
    m = build_sbr(1024, channels=4, bands=8, kernel=3)
    # A louder top octave than the initial one (10 dB up, still far from clipping), so that a mistake in the
    # overlap-add shows.
    m.get_layer("envelope").bias.assign(np.full(8, -3.0, dtype="float32"))
    return m


def bilstm(model, overlap=None, batch_size=None):
    return Predictor(model, BILSTM, overlap, batch_size)


def sbr(model, overlap=None):
    # Prediction windows of 2048 steps (512 overlap) so that short test files span several.
    return Predictor(model, SBR, overlap, window=2048)


@pytest.mark.parametrize("arch", ["bilstm", "sbr"])
@pytest.mark.parametrize("seconds", [0.6, 0.0005, 1 / 22050])
def test_chunked_equals_whole(model, sbr_model, tmp_path, seconds, arch):
    # Several chunks with a short last one, a file shorter than one window, a file of one sample.
    p = bilstm(model) if arch == "bilstm" else sbr(sbr_model)
    src = write_synth(tmp_path / "in.wav", seconds, rate=22050, channels=2, seed=4)
    predict_file(p, src, tmp_path / "chunked.wav", chunk_seconds=0.05)
    predict_file(p, src, tmp_path / "whole.wav", chunk_seconds=100)
    a, _ = sf.read(tmp_path / "chunked.wav", dtype="int16")
    b, _ = sf.read(tmp_path / "whole.wav", dtype="int16")
    n = sf.info(src).frames
    assert a.shape == b.shape == (2 * n, 2)
    # The sbr network's FFTs run batched, and float32 sums over a batch of another size can round the
    # other way: 1 LSB at most. The BiLSTM gives the same bits (but on JAX, see _batch_lsb).
    tol = _batch_lsb() if arch == "bilstm" else 1
    assert np.abs(a.astype(int) - b).max() <= tol
    # And both equal one call on the whole array.
    x, _ = sf.read(src, dtype="int16", always_2d=True)
    assert np.abs(a.astype(int) - p.array(x)).max() <= tol


def test_channels_are_independent_streams(model):
    x = to_int16(synth(0.05, 22050, 2, seed=7))
    p = bilstm(model)
    both = p.array(x)
    np.testing.assert_array_equal(both[:, 0], p.array(x[:, :1])[:, 0])
    np.testing.assert_array_equal(both[:, 1], p.array(x[:, 1:])[:, 0])


def test_batch_size_does_not_change_the_output(model):
    x = to_int16(synth(0.05, 22050, 1, seed=9))
    a, b = bilstm(model, batch_size=7).array(x), bilstm(model, batch_size=1000).array(x)
    assert np.abs(a.astype(int) - b).max() <= _batch_lsb()


def test_output_is_clipped_not_wrapped(tmp_path):
    import keras

    # A network whose output is far beyond full scale must give +32767, not a wrapped negative value.
    inp = keras.Input((50,), dtype="int16")
    x = keras.layers.Reshape((50, 1))(keras.layers.Rescaling(1.0)(inp))
    out = keras.layers.Dense(1, kernel_initializer="zeros", bias_initializer=keras.initializers.Constant(5.0))(x)
    loud = keras.Model(inp, out)
    cfg = {**BILSTM, "dataset": {"encoding": "pcm", "input": "naive"}}
    y = Predictor(loud, cfg).array(np.zeros((30, 1), dtype=np.int16))
    assert y.shape == (60, 1) and (y == 32767).all()


def test_sbr_adds_only_the_top_octave(sbr_model):
    # Below 11 kHz the output is the sinc interpolation; the network's part lies above.
    x = to_int16(synth(0.5, 22050, 1, seed=5))
    y = sbr(sbr_model).array(x).astype(float)
    assert np.abs(y).max() < 32767  # clipping would spread into the low band
    s = sinc_upsample(x).astype(float)
    diff = np.fft.rfft((y - s)[:, 0])
    f = np.fft.rfftfreq(y.shape[0], 1 / 44100)
    low, high = np.abs(diff[f < 10000]) ** 2, np.abs(diff[f > 11500]) ** 2
    assert high.sum() > 0 and low.sum() < 1e-3 * high.sum()


def test_read_blocks_resample_streaming_matches_one_shot(tmp_path):
    src = write_synth(tmp_path / "in48.wav", 0.7, rate=48000, channels=2, seed=8)
    blocks = list(read_blocks(src, 22050, 1000))
    assert all(b.shape[0] == 1000 for b in blocks[:-1]) and 0 < blocks[-1].shape[0] <= 1000
    got = np.concatenate(blocks)
    x, _ = sf.read(src, dtype="float64", always_2d=True)
    want = to_int16(soxr.resample(x, 48000, 22050, quality="VHQ"))
    assert got.shape[0] == -(-x.shape[0] * 22050 // 48000)
    m = min(len(want), len(got)) - 50
    assert np.abs(got[:m].astype(int) - want[:m]).max() <= 2


def test_predict_refuses_empty_and_same_path(model, tmp_path):
    src = write_synth(tmp_path / "in.wav", 0.01, rate=22050, channels=1)
    with pytest.raises(UserError, match="equals the input"):
        predict_file(bilstm(model), src, src)
    sf.write(tmp_path / "empty.wav", np.zeros((0, 1)), 22050)
    with pytest.raises(UserError, match="no audio"):
        predict_file(bilstm(model), tmp_path / "empty.wav", tmp_path / "o.wav")
    assert not (tmp_path / "o.wav").exists()


def test_batch_continues_after_a_bad_file(tmp_path):
    from conftest import run_script

    # A model folder made in-process, to run the CLI on a mix of good and bad inputs.
    import keras

    from superres.manifest import FORMAT_VERSION
    from superres.runs import DEFAULTS

    keras.utils.set_random_seed(0)
    mdir = tmp_path / "m"
    mdir.mkdir()
    build_bilstm(units=2, dense=4, dense2=2).save(mdir / "last.keras")
    cfg = {"stage": "model", "format_version": FORMAT_VERSION, **DEFAULTS, "units": 2, "dense": 4, "dense2": 2,
           "window": 50, "bits": 16, "scan_dir": str(tmp_path), "train_fraction": 0.8,
           "dataset": {"encoding": "bits", "input": "naive"}}
    (mdir / "config.json").write_text(json.dumps(cfg))
    inp = tmp_path / "in"
    write_synth(inp / "good.wav", 0.05, rate=22050, channels=1)
    (inp / "bad.wav").write_text("this is not audio")
    proc = run_script("rnn-super-resolution.py", "--predict", "--model", mdir, inp, "--output", tmp_path / "out",
                      check=False)
    assert proc.returncode == 1
    assert "bad.wav" in proc.stderr and "1 file(s) failed" in proc.stderr and "Traceback" not in proc.stderr
    assert (tmp_path / "out" / "good.wav").is_file() and not (tmp_path / "out" / "bad.wav").exists()


@pytest.mark.parametrize("hop", [50, 24, 10])
def test_stream_equals_independent_overlap_add(model, hop):
    from superres.encoding import make_windows, unwindow
    x = to_int16(synth(0.02, 22050, 2, seed=3))  # 441 frames -> 882 steps
    got = bilstm(model, overlap=50 - hop).array(x)
    up = np.repeat(x, 2, axis=0)
    want = np.zeros(got.shape)
    for c in range(2):
        wins = make_windows(up[:, c], 50, hop)
        y = model.predict(int16_to_bits(wins), verbose=0)[..., 0]
        want[:, c] = unwindow(y, hop, up.shape[0], crossfade_weights(50, 50 - hop)) * 32768
    assert np.abs(got - np.clip(np.rint(want), -32768, 32767)).max() <= 1


def test_sbr_stream_equals_independent_overlap_add(sbr_model):
    from superres.encoding import make_windows, unwindow
    from superres.models import inference_model
    x = to_int16(synth(0.2, 22050, 1, seed=3))
    p = sbr(sbr_model)
    got = p.array(x)
    wins = make_windows(sinc_upsample(x)[:, 0], p.window, p.hop)
    y = np.asarray(inference_model(sbr_model, SBR, p.window).predict_on_batch(wins))[..., 0]
    want = unwindow(y, p.hop, got.shape[0], crossfade_weights(p.window, p.window - p.hop)) * 32768
    assert np.abs(got[:, 0] - np.clip(np.rint(want), -32768, 32767)).max() <= 1


def test_crossfade_weights():
    w = crossfade_weights(50)
    np.testing.assert_allclose(w, np.sin(np.pi * (np.arange(50) + 0.5) / 50))
    w = crossfade_weights(100, 10)
    assert (w[10:90] == 1).all() and (w[:10] > 0).all() and np.all(np.diff(w[:10]) > 0)
    np.testing.assert_allclose(w[:10], w[::-1][:10])


@pytest.mark.parametrize("chunk_seconds", [0.01, 0.0011, 0.05])
def test_chunked_overlap_add_equals_whole_with_short_last_chunk(model, tmp_path, chunk_seconds):
    # 0.1 s = 2205 frames; chunks of 220, 24 (shorter than the 25-step overlap) and 1102 frames, each
    # leaving a last chunk of a different, short length.
    src = write_synth(tmp_path / "in.wav", 0.1, rate=22050, channels=2, seed=11)
    p = bilstm(model, overlap=26)
    predict_file(p, src, tmp_path / "chunked.wav", chunk_seconds=chunk_seconds)
    a, _ = sf.read(tmp_path / "chunked.wav", dtype="int16")
    x, _ = sf.read(src, dtype="int16", always_2d=True)
    b = p.array(x)
    assert a.shape == b.shape == (4410, 2)
    assert np.abs(a.astype(int) - b).max() <= 1


def test_stream_memory_does_not_grow_with_length(model):
    import tracemalloc

    def peak(seconds):
        up = bilstm(model, overlap=26).stream(2)
        block = to_int16(synth(1.0, 22050, 2, seed=2))
        tracemalloc.start()
        total = 0
        for _ in range(seconds):
            total += up.push(block).shape[0]
        total += up.finish().shape[0]
        p = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert total == seconds * 44100
        return p

    short, long = peak(2), peak(16)
    # Eight times the audio, about the same peak: nothing accumulates over the stream. (Keeping the output
    # would add 16 s x 2 ch x 44100 x 8 bytes = 11 MB.)
    assert long < 1.3 * short + 1e6, (short, long)


def test_the_restored_band_never_takes_a_sample_past_full_scale_and_the_inputs_own_overs_are_counted(tmp_path):
    # A 3 kHz square wave at 0.999 of full scale: the band restored above it overshoots its flat tops, and
    # the input's own sinc interpolation rings past full scale at every edge (Gibbs).
    from superres.metrics import score_arrays
    from superres.runs import default_model_dir
    from superres.splice import CEILING

    t = np.arange(3 * 22050) / 22050
    sf.write(tmp_path / "square.wav", 0.999 * np.sign(np.sin(2 * np.pi * 3000 * t)), 22050, subtype="PCM_16")
    x, _ = sf.read(tmp_path / "square.wav", always_2d=True)
    real = soxr.resample(x, 22050, 44100, "VHQ")  # the real band, as the generator's stream interpolates it
    predictor = open_predictor(default_model_dir())  # the pretrained generator, on ONNX Runtime
    free = np.concatenate(list(predictor.blocks([to_int16(x)], 1)))  # the network's output, no headroom
    inside = np.abs(real) <= CEILING
    assert np.count_nonzero(np.abs(free[inside]) > CEILING) > 1000  # what there is to keep from clipping

    model = ["--model", default_model_dir()]
    proc = run_script("rnn-super-resolution.py", "--predict", *model, tmp_path / "square.wav", "--output",
                      tmp_path / "a", "--subtype", "float")
    y, _ = sf.read(tmp_path / "a" / "square.wav", always_2d=True)
    entry = json.loads((tmp_path / "a" / "manifest.json").read_text())["files"][0]
    # Where the real band is within full scale, so is the output; where it is past it, nothing is added.
    assert np.abs(y[inside]).max() <= CEILING + 1e-7
    np.testing.assert_allclose(y[~inside], real[~inside], atol=1e-6)
    assert np.count_nonzero(~inside) > 1000
    # The float output keeps those overs, says so and clips nothing.
    assert entry["clipped"] == 0 and entry["peak_dbfs"] == pytest.approx(20 * np.log10(np.abs(y).max()), abs=0.01)
    assert entry["peak_dbfs"] > 0.3
    note = next(line for line in proc.stdout.splitlines() if "kept past full scale" in line)
    gain = float(note.split("--gain ")[1].split()[0])
    assert gain == pytest.approx(-np.ceil(entry["peak_dbfs"] * 10) / 10, abs=0.051)

    # 16 bits (the input's): the real band's overs are clipped, counted and said, with the gain that keeps them.
    proc = run_script("rnn-super-resolution.py", "--predict", *model, tmp_path / "square.wav", "--output",
                      tmp_path / "b")
    entry = json.loads((tmp_path / "b" / "manifest.json").read_text())["files"][0]
    assert entry["subtype"] == "PCM_16" and entry["clipped"] == np.count_nonzero(np.abs(y) > 32767.5 / 32768)
    note = next(line for line in proc.stdout.splitlines() if "clipped at full scale" in line)
    assert f"{entry['clipped']} of {y.size} output samples" in note and f"--gain {gain:.1f}" in note
    proc = run_script("rnn-super-resolution.py", "--predict", *model, tmp_path / "square.wav", "--output",
                      tmp_path / "c", "--gain", str(gain))
    z, _ = sf.read(tmp_path / "c" / "square.wav", always_2d=True)
    assert json.loads((tmp_path / "c" / "manifest.json").read_text())["files"][0]["clipped"] == 0
    assert "clipped at full scale" not in proc.stdout and np.abs(z).max() < 1.0
    # Below the restored band the output is the real band, the gain a plain gain on it.
    g = 10 ** (gain / 20)
    assert score_arrays(g * real * 32768, z * 32768, 44100, edge=9000).snr_low_band() > 60


def test_one_prediction_reads_its_model_folder_once(tmp_path, monkeypatch):
    """A run over several files reads config.json once, hashes the weights once and opens one ONNX session: the
    folder is read into one ModelFolder, handed down to the predictor and the manifest."""
    from superres import runs, runtime
    from superres.batch import predict_paths
    from superres.runs import default_model_dir

    calls = {"config": 0, "sha256": 0}
    sessions = set()  # the sessions made (session() hands one it is given back as it is)

    def counted(name, fn):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return fn(*args, **kwargs)
        return wrapper

    def opened(*args, **kwargs):
        s = session(*args, **kwargs)
        sessions.add(id(s))
        return s

    session = runtime.session
    monkeypatch.setattr(runs, "load_config", counted("config", runs.load_config))
    monkeypatch.setattr(runtime, "session", opened)
    monkeypatch.setattr(runtime, "_sha256", counted("sha256", runtime._sha256))
    for i in range(3):
        write_synth(tmp_path / "in" / f"song{i}.wav", 0.5, rate=22050, channels=1 + i % 2, seed=i)
    failures = predict_paths(default_model_dir(), [tmp_path / "in"], tmp_path / "out", log=lambda s: None,
                             show_progress=False)
    assert failures == []
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert [e["runtime"] for e in manifest["files"]] == ["onnx"] * 3
    assert calls == {"config": 1, "sha256": 1} and len(sessions) == 1


def test_a_model_folder_read_for_one_checkpoint_is_read_again_for_another(pipeline):
    from superres.runs import ModelFolder

    best = ModelFolder(pipeline["model"])
    assert ModelFolder.of(best) is best and best.checkpoint.name == "best.keras"
    last = ModelFolder.of(best, "last")
    assert last.which == "last" and last.checkpoint.name == "last.keras" and last.stamp != best.stamp


_FAULTS = """
import resource, sys
import soundfile as sf
from superres.bench import _signal
from superres.cli import keep_freed_memory
from superres.predict import predict_file
from superres.predictor import open_predictor

kept = keep_freed_memory() if sys.argv[1] == "keep" else None
sf.write(sys.argv[2] + "/in.wav", _signal(60.0, 22050), 22050, subtype="PCM_16")
p = open_predictor(sys.argv[3])
predict_file(p, sys.argv[2] + "/in.wav", sys.argv[2] + "/out/in.wav")  # the first run's imports and caches
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
predict_file(p, sys.argv[2] + "/in.wav", sys.argv[2] + "/out/in.wav")
print(kept, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_commands_keep_freed_memory_for_the_next_blocks(tmp_path):
    """With the allocator told to keep what the stream frees (as every command does), predicting a minute of
    audio faults in far fewer fresh pages than with glibc's defaults."""
    from conftest import ROOT

    faults = {}
    for mode in ("keep", "default"):
        (tmp_path / mode).mkdir()
        proc = subprocess.run([sys.executable, "-c", _FAULTS, mode, str(tmp_path / mode),
                               str(ROOT / "models" / "default")], capture_output=True, text=True, cwd=ROOT, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        kept, n = proc.stdout.split()
        assert kept == {"keep": "True", "default": "None"}[mode]
        faults[mode] = int(n)
    assert faults["keep"] < 0.6 * faults["default"], faults


def _two_stream_splice(predictor, src, rate, cutoff, total, chunk_seconds, dtype):
    """What predict_file spliced before it read a file once: the file read again at 44.1 kHz, spliced to the
    stream's whole output."""
    from superres.audio import exact_blocks
    from superres.splice import CEILING, splice_blocks

    block = int(chunk_seconds * 44100)
    real = read_blocks(src, 44100, block, "float64")
    generated = predictor.blocks(read_blocks(src, rate, int(chunk_seconds * rate), dtype), 2)
    return np.concatenate(list(splice_blocks(exact_blocks(real, 0, total, block), exact_blocks(generated, 0, total,
                                                                                              block),
                                             44100, cutoff, 2, total, CEILING)))


@pytest.mark.parametrize("subtype", ["PCM_16", "FLOAT"])
def test_a_generators_real_band_is_the_files_own_samples(tmp_path, subtype):
    """``gen`` reads its input in 16 bits; below the cutoff its output is the file's own samples all the same: a
    float file's precision and peaks past full scale kept (the file read again), a 16-bit one read once."""
    from superres.audio import resample
    from superres.runs import default_model_dir

    x = resample(synth(1.5, rate=16000, channels=2, seed=8), 16000, 22050)
    x *= (1.3 if subtype == "FLOAT" else 0.9) / np.abs(x).max()  # as a decoded lossy file's peaks can be
    src = tmp_path / "in.wav"
    sf.write(src, x, 22050, subtype=subtype)
    predictor = open_predictor(default_model_dir())
    entry = predict_file(predictor, src, tmp_path / "out" / "in.wav", chunk_seconds=0.3, subtype="FLOAT")
    y, _ = sf.read(tmp_path / "out" / "in.wav", always_2d=True)
    ref = _two_stream_splice(predictor, src, 22050, entry["cutoff_hz"], entry["frames_out"], 0.3, "int16")
    assert entry["done"] == "spliced" and y.shape == ref.shape
    assert np.abs(y - ref).max() < 2e-6
    if subtype == "FLOAT":
        assert np.abs(y).max() > 1.2


@pytest.mark.parametrize("ext", [".wav", ".m4a"])
def test_an_output_folder_that_cannot_be_made_is_one_line_and_a_missing_input_makes_none(tmp_path, ext):
    from superres.decode import encode_audio
    from superres.runs import default_model_dir

    src = tmp_path / f"in{ext}"
    x = synth(0.3, rate=44100, channels=1, seed=2)
    sf.write(src, x, 44100) if ext == ".wav" else encode_audio(str(src), x, 44100, "aac", 64000)
    (tmp_path / "file").write_text("a file where the output folder would be")
    predictor = open_predictor(default_model_dir())
    with pytest.raises(UserError, match="cannot write"):
        predict_file(predictor, src, tmp_path / "file" / "in.wav")
    with pytest.raises(UserError, match="not found"):
        predict_file(predictor, tmp_path / f"missing{ext}", tmp_path / "new" / "in.wav")
    assert not (tmp_path / "new").exists()


def test_a_failed_write_stops_the_streams_thread_at_once(tmp_path, monkeypatch):
    """The stream computed a block ahead in a thread stops with the write that failed, while the error is still
    held (its frames are in a cycle with the writer's future: nothing else would stop it before the garbage
    collector runs)."""
    import threading
    import time

    import superres.predict as predict
    from superres.audio import resample
    from superres.runs import default_model_dir

    sf.write(tmp_path / "in.wav", resample(synth(2.0, rate=16000, channels=2, seed=3), 16000, 22050), 22050,
             subtype="PCM_16")
    predictor = open_predictor(default_model_dir())
    written, quantize = [], predict.quantize

    def full_disk(y, subtype):
        written.append(y.shape[0])
        if len(written) == 2:
            raise OSError(28, "No space left on device")
        return quantize(y, subtype)

    monkeypatch.setattr(predict, "quantize", full_disk)
    before = set(threading.enumerate())
    with pytest.raises(UserError, match="No space left"):
        predict_file(predictor, tmp_path / "in.wav", tmp_path / "out" / "in.wav", chunk_seconds=0.2)
    deadline = time.monotonic() + 5
    while set(threading.enumerate()) - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not set(threading.enumerate()) - before
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == []
