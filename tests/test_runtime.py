"""The ONNX Runtime paths: every architecture's exported graph equals its Keras network, prediction runs it
without Keras, the BiLSTM's int8 really is int8."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from conftest import run_script
from superres.errors import UserError
from superres.models import build_bilstm, build_sbr, inference_model
from superres.predictor import Predictor
from superres.runtime import OnnxNetwork, export_bilstm, inference_network, quantize_int8


def _config(encoding):
    return {"arch": "bilstm", "window": 50, "bits": 16, "units": 6,
            "dataset": {"encoding": encoding, "input": "naive"}}


def _model(encoding, seed=3):
    import keras

    keras.utils.set_random_seed(seed)
    return build_bilstm(window=50, bits=16, units=6, dense=10, dense2=4, encoding=encoding)


def _windows(n=40):
    """int16 windows over the whole range, with the edge values whose bits are easiest to get wrong."""
    x = np.random.default_rng(0).integers(-32768, 32768, (n, 50)).astype(np.int16)
    x[0, :6] = [-32768, -1, 0, 1, 32767, -2]
    x[1] = np.linspace(-20000, 20000, 50).astype(np.int16)  # a smooth ramp: the LSTM state matters
    return x


@pytest.mark.parametrize("encoding", ["bits", "pcm"])
def test_onnx_graph_equals_keras(encoding):
    model, cfg = _model(encoding), _config(encoding)
    x = _windows()
    ref = np.asarray(inference_model(model, cfg).predict_on_batch(x))
    out = OnnxNetwork(export_bilstm(model, cfg)).predict_on_batch(x)
    assert out.shape == ref.shape == (40, 50, 1)
    assert ref.std() > 1e-3  # outputs that vary, so that a wrong gate or direction shows
    np.testing.assert_allclose(out, ref, atol=2e-6, rtol=1e-4)


def test_int8_runs_integer_kernels_and_stays_close():
    model, cfg = _model("bits"), _config("bits")
    proto = quantize_int8(export_bilstm(model, cfg))
    ops = {n.op_type for n in proto.graph.node}
    assert "DynamicQuantizeLSTM" in ops and "LSTM" not in ops
    assert ops & {"DynamicQuantizeMatMul", "MatMulInteger"} and "MatMul" not in ops
    weights = [i for i in proto.graph.initializer if i.data_type == 3]  # INT8
    assert weights, "no int8 weights in the quantized graph"
    x = _windows()
    ref = np.asarray(inference_model(model, cfg).predict_on_batch(x))
    out = OnnxNetwork(proto).predict_on_batch(x)
    err = np.abs(out - ref)
    # 8-bit weights and activations: errors of a few percent of the signal (2-7% measured, depending on the
    # random weights, which differ between Keras backends), not the 60-80% of saturating integer kernels.
    assert 0 < err.mean() < 0.1 * ref.std()


def test_only_bilstm_has_an_int8_runtime():
    cfg = {"window": 1024, "arch": "sbr", "channels": 4, "bands": 8, "kernel": 3,
           "dataset": {"encoding": "pcm", "input": "sinc"}}
    with pytest.raises(UserError, match="--arch sbr runs on keras or onnx"):
        Predictor(build_sbr(1024, channels=4, bands=8, kernel=3), cfg, window=2048, runtime="onnx-int8")
    with pytest.raises(UserError, match="unknown runtime"):
        inference_network(_model("bits"), _config("bits"), "tensorrt")


#: The ONNX float32 graph against Keras, full scale 1.0: float32 rounding through two LSTMs and four dense
#: layers (measured 7e-8 on the pipeline's tiny network), far below one 16-bit step (3.1e-5).
ONNX_ATOL = 1e-6
#: The int8 network's mean error as a share of its float output's spread: "sound quantization measured 2-7%"
#: (runtime.py, beside INT8_MAX_ERROR; 1% measured here), not the 60-80% of saturating integer kernels; and at
#: least a tenth of what was measured, so that the float32 graph (a millionth) cannot pass for int8.
INT8_MAX_MEAN_ERROR, INT8_MIN_MEAN_ERROR = 0.07, 0.001


def test_predict_and_eval_on_onnx_runtimes(pipeline, tmp_path):
    """--runtime onnx writes what Keras writes, to float32 rounding; onnx-int8 stays within the cost runtime.py
    and the README's Speed section state; eval.py runs a model on several runtimes, a row each, with the same
    figures (onnx) or within that cost (int8)."""
    song = pipeline["scan"] / "a_stereo.wav"

    def predict(runtime):
        out = tmp_path / runtime
        # Float output: the network's samples unrounded, so that float32 differences are not hidden by 16 bits.
        run_script("rnn-super-resolution.py", "--predict", "--model", pipeline["model"], song, "--output", out,
                   "--runtime", runtime, "--subtype", "float")
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["runtime"] == runtime and manifest["files"][0]["runtime"] == runtime
        y, rate = sf.read(out / "a_stereo.wav", dtype="float64")
        assert rate == 44100
        return y

    ref, onnx, int8 = predict("keras"), predict("onnx"), predict("onnx-int8")
    assert ref.shape == onnx.shape == int8.shape == sf.read(pipeline["predicted"] / "a_stereo.wav")[0].shape
    spread = ref.std()
    assert spread > 1e-3  # an output that varies, so that a wrong gate or weight shows
    np.testing.assert_allclose(onnx, ref, rtol=0, atol=ONNX_ATOL)
    err = np.abs(int8 - ref).mean()
    assert INT8_MIN_MEAN_ERROR * spread < err < INT8_MAX_MEAN_ERROR * spread  # int8 ran, within its stated cost

    js = tmp_path / "eval.json"
    run_script("eval.py", "--models", pipeline["model"], "--runtime", "keras", "onnx", "onnx-int8", "--json", js)
    res = json.loads(js.read_text())
    name = pipeline["model"].name
    assert res["methods"][-3:] == [name, f"{name} [onnx]", f"{name} [onnx-int8]"]
    keras_row, onnx_row, int8_row = (res["mean"][m] for m in res["methods"][-3:])
    # onnx: the same figures ("identical metrics" in the README; the 16-bit estimates may differ by a rounding
    # step on a few samples).
    assert onnx_row.keys() == keras_row.keys()
    for metric, v in keras_row.items():
        assert onnx_row[metric] == pytest.approx(v, rel=1e-5, abs=1e-6), metric
    # onnx-int8: different figures, within the cost the README's Speed section states ("MAE 0.5-2% higher, SNR
    # 0.01-0.26 dB lower, the spectral distances within 0.02").
    # int8 moves the figures by more than float rounding does (largest change 0.02 measured, onnx's 1e-5) ...
    assert max(abs(int8_row[m] - v) for m, v in keras_row.items()) > 1e-3
    # ... and within the stated cost.
    assert abs(int8_row["MAE"] - keras_row["MAE"]) <= 0.02 * keras_row["MAE"]
    assert abs(int8_row["SNR"] - keras_row["SNR"]) <= 0.26
    for metric in ("LSD", "LSD-HF"):
        assert abs(int8_row[metric] - keras_row[metric]) <= 0.02, metric


def test_int8_check_refuses_wrong_results():
    """check_int8 passes the real int8 network and refuses one that disagrees with the float graph; on a CPU
    without VNNI, the full-range scheme's saturating kernels are that case for real."""
    from superres.runtime import check_int8, saturating_int8_cpu

    model, cfg = _model("bits"), _config("bits")
    proto = export_bilstm(model, cfg)
    float_net = OnnxNetwork(proto)
    check_int8(float_net, OnnxNetwork(quantize_int8(proto)), 50)
    check_int8(float_net, OnnxNetwork(quantize_int8(proto, saturating=True)), 50)  # the scheme safe everywhere

    class Off:
        """The float network's output off by ``share`` of its spread on every sample: an int8 network as wrong
        as that, on average."""

        def __init__(self, share):
            self.share = share

        def predict_on_batch(self, x):
            ref = float_net.predict_on_batch(x)
            signs = np.where(np.arange(ref.size).reshape(ref.shape) % 2, 1.0, -1.0)
            return ref + self.share * ref.std() * signs

    check_int8(float_net, Off(0.05), 50)  # the error of a sound quantization: accepted
    for share in (0.15, 0.3):  # beyond any sound quantization measured (runtime.INT8_MAX_ERROR): refused
        with pytest.raises(UserError, match="wrong results"):
            check_int8(float_net, Off(share), 50)
    import keras

    keras.utils.set_random_seed(11)
    other = build_bilstm(window=50, bits=16, units=6, dense=10, dense2=4, encoding="bits")
    with pytest.raises(UserError, match="wrong results"):
        check_int8(float_net, OnnxNetwork(export_bilstm(other, cfg)), 50)
    if not saturating_int8_cpu():
        pytest.skip("this CPU has VNNI: the full-range int8 scheme is correct here")
    with pytest.raises(UserError, match="wrong results"):
        check_int8(float_net, OnnxNetwork(quantize_int8(proto, saturating=False)), 50)


@pytest.mark.parametrize("window", [1024, 2048, 8192])
def test_sbr_on_the_core_equals_its_keras_network(window):
    """numpy's analysis and synthesis around the exported envelope network compute what the Keras layers do."""
    from superres.runtime import OnnxCore, export_sbr_envelope
    from superres.sbrcore import SbrNetwork

    import keras

    keras.utils.set_random_seed(3)
    model = build_sbr(window, channels=4, bands=8, kernel=3)
    # Envelope weights that put the top octave at speaking level (zero-initialised, it would be near silent).
    env = model.get_layer("envelope")
    env.set_weights([np.random.default_rng(1).standard_normal(env.kernel.shape) * 0.3, np.full(8, -1.0)])
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((3, window)) * 5000).clip(-32768, 32767).astype(np.int16)
    x[1] = 0  # digital silence
    ref = np.asarray(model.predict_on_batch(x))
    out = SbrNetwork(OnnxCore(export_sbr_envelope(model).SerializeToString())).predict_on_batch(x)
    assert out.shape == ref.shape == (3, window, 1)
    top = ref - x[..., None] / 32768.0  # what the network adds, to compare against its own size
    assert np.abs(top).max() > 1e-3
    np.testing.assert_allclose(out, ref, atol=1e-6 * 32)


def test_an_export_that_differs_from_its_network_is_refused(tmp_path):
    from superres.runtime import check_export, export_graph

    cfg = _config("bits")
    model, other = _model("bits"), _model("bits", seed=9)
    check_export(model, cfg, export_graph(model, cfg).SerializeToString())  # its own: accepted
    with pytest.raises(UserError, match="ONNX export of this bilstm network differs"):
        check_export(model, cfg, export_graph(other, cfg).SerializeToString())


def test_every_architectures_model_folder_predicts_on_onnx_runtime_without_keras(tmp_path, pipeline, sbr_run):
    """Training writes each architecture's graph beside its best weights; the command a user runs then loads
    neither Keras nor TensorFlow, and agrees with the Keras network to the 16-bit rounding."""
    from conftest import ROOT

    for model in (pipeline["model"], sbr_run["model"]):  # the tiny BiLSTM of the pipeline, an sbr
        assert (model / "best.onnx").is_file()
        pred = tmp_path / f"pred-{model.name}"
        proc = subprocess.run([sys.executable, "-X", "importtime", str(ROOT / "rnn-super-resolution.py"),
                               "--predict", "--model", str(model), "--output", str(pred)], capture_output=True,
                              text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        imported = {line.split("|")[-1].strip().split(".")[0] for line in proc.stderr.splitlines()
                    if line.startswith("import time:")}
        assert "onnxruntime" in imported and not imported & {"tensorflow", "keras", "jax", "torch"}, model
        manifest = json.loads((pred / "manifest.json").read_text())
        assert manifest["runtime"] == "onnx"
        keras_pred = tmp_path / f"keras-{model.name}"
        run_script("rnn-super-resolution.py", "--predict", "--model", model, "--output", keras_pred,
                   "--runtime", "keras")
        for e in manifest["files"]:
            a = sf.read(str(pred / e["output"]), dtype="int16")[0].astype(int)
            b = sf.read(str(keras_pred / e["output"]), dtype="int16")[0].astype(int)
            assert a.shape == b.shape and np.abs(a - b).max() <= 1, (model, e["output"])


def test_a_bilstm_folder_shipped_as_its_export_alone_runs_on_both_runtimes(tmp_path, pipeline):
    """models/bilstm-full ships best.onnx without best.keras: ONNX Runtime runs it, and Keras gets the very
    same weights back from it (the inverse of the export)."""
    import shutil

    from superres.models.loading import load_model
    from superres.runs import ModelFolder
    from superres.runtime import bilstm_from_onnx

    folder = tmp_path / "onnx-only"
    shutil.copytree(pipeline["model"], folder)
    opened = ModelFolder(folder)
    original, cfg = load_model(opened), opened.config
    for name in ("best.keras", "last.keras"):
        (folder / name).unlink(missing_ok=True)
    rebuilt = bilstm_from_onnx(cfg, folder / "best.onnx")
    assert len(rebuilt.weights) == len(original.weights) > 0
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(original.weights, rebuilt.weights))
    outs = {}
    for runtime in ("auto", "keras"):
        pred = tmp_path / runtime
        out = run_script("rnn-super-resolution.py", "--predict", "--model", folder, pipeline["scan"], "--output",
                         pred, "--runtime", runtime).stdout
        assert f"(bilstm, best.onnx, {'onnx' if runtime == 'auto' else 'keras'})" in out
        manifest = json.loads((pred / "manifest.json").read_text())
        outs[runtime] = [sf.read(str(pred / e["output"]), dtype="int16")[0].astype(int) for e in manifest["files"]]
    assert all(np.abs(a - b).max() <= 1 for a, b in zip(outs["auto"], outs["keras"]))
