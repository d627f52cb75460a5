"""The ONNX Runtime paths for the bilstm network: the exported graph equals Keras, int8 really is int8."""

import json

import numpy as np
import pytest
import soundfile as sf

from conftest import run_script
from superres.errors import UserError
from superres.models import build_bilstm, build_sbr, inference_model
from superres.predict import Predictor
from superres.runtime import OnnxNetwork, export_bilstm, inference_network, quantize_int8


def _config(encoding):
    return {"arch": "bilstm", "window": 50, "bits": 16, "units": 6,
            "dataset": {"encoding": encoding, "input": "naive"}}


def _model(encoding):
    import keras

    keras.utils.set_random_seed(3)
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


def test_only_bilstm_has_onnx_runtimes():
    cfg = {"window": 1024, "arch": "sbr", "channels": 4, "bands": 8, "kernel": 3,
           "dataset": {"encoding": "pcm", "input": "sinc"}}
    with pytest.raises(UserError, match="bilstm architecture only"):
        Predictor(build_sbr(1024, channels=4, bands=8, kernel=3), cfg, window=2048, runtime="onnx")
    with pytest.raises(UserError, match="unknown runtime"):
        inference_network(_model("bits"), _config("bits"), "tensorrt")


def test_predict_and_eval_on_onnx_runtimes(pipeline, tmp_path):
    """--runtime onnx writes what Keras writes (to the last bit, give or take rounding); onnx-int8 is close;
    eval.py runs a model on several runtimes, a row each."""
    song = pipeline["scan"] / "a_stereo.wav"
    keras_out, _ = sf.read(pipeline["predicted"] / "a_stereo.wav", dtype="int16")
    for runtime in ("onnx", "onnx-int8"):
        out = tmp_path / runtime
        run_script("rnn-super-resolution.py", "--predict", "--model", pipeline["model"], song, "--output", out,
                   "--runtime", runtime)
        y, rate = sf.read(out / "a_stereo.wav", dtype="int16")
        assert rate == 44100 and y.shape == keras_out.shape
        diff = np.abs(y.astype(int) - keras_out)
        if runtime == "onnx":
            assert diff.max() <= 1
        else:
            assert diff.mean() < 0.05 * keras_out.std()
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["runtime"] == runtime and manifest["files"][0]["runtime"] == runtime
    js = tmp_path / "eval.json"
    run_script("eval.py", "--models", pipeline["model"], "--runtime", "keras", "onnx-int8", "--json", js)
    res = json.loads(js.read_text())
    name = pipeline["model"].name
    assert res["methods"][-2:] == [name, f"{name} [onnx-int8]"]
    mae = {m: res["mean"][m]["MAE"] for m in res["methods"][-2:]}
    assert mae[name] != mae[f"{name} [onnx-int8]"]


def test_int8_check_refuses_wrong_results():
    """check_int8 passes the real int8 network and refuses one that disagrees with the float graph; on a CPU
    without VNNI, the full-range scheme's saturating kernels are that case for real."""
    from superres.runtime import check_int8, saturating_int8_cpu

    model, cfg = _model("bits"), _config("bits")
    proto = export_bilstm(model, cfg)
    float_net = OnnxNetwork(proto)
    check_int8(float_net, OnnxNetwork(quantize_int8(proto)), 50)
    import keras

    keras.utils.set_random_seed(11)
    other = build_bilstm(window=50, bits=16, units=6, dense=10, dense2=4, encoding="bits")
    with pytest.raises(UserError, match="wrong results"):
        check_int8(float_net, OnnxNetwork(export_bilstm(other, cfg)), 50)
    if not saturating_int8_cpu():
        pytest.skip("this CPU has VNNI: the full-range int8 scheme is correct here")
    with pytest.raises(UserError, match="wrong results"):
        check_int8(float_net, OnnxNetwork(quantize_int8(proto, saturating=False)), 50)
