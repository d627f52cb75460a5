"""Inference runtimes for the ``bilstm`` network: Keras as trained, or ONNX Runtime in float32 or int8.

The full-size BiLSTM costs 3.3 million multiply-adds per output sample; on a CPU Keras already runs it near
the float32 peak of the cores, so only lower precision makes it much faster. ``onnx-int8`` rebuilds the
trained network as an ONNX graph (the same LSTM equations, weights copied) and lets ONNX Runtime quantize it
dynamically: weights to int8 once, activations to uint8 per call, integer matrix products (VNNI on recent
x86 CPUs). The output changes slightly (measured: MAE 0.5-2% higher); the README gives the figures.
``onnx`` is the same graph in float32 (equal to Keras within float rounding), useful to check the export.

The graph takes what :func:`superres.models.inference_model` takes, int16 windows (batch, window), and
decodes bits inside it, so :class:`superres.predict.StreamUpsampler` drives either runtime the same way.
"""

import tempfile
from pathlib import Path

import numpy as np

from .errors import UserError

#: ``--runtime`` choices.
RUNTIMES = ("keras", "onnx", "onnx-int8")

#: ONNX IR version and opset of the exported graph: old enough for any ONNX Runtime from 1.14 on.
_IR_VERSION, _OPSET = 8, 17


def runs_on(config, runtime):
    """Whether a model of this config can run on ``runtime``: Keras runs every one, ONNX Runtime ``bilstm``."""
    return runtime == "keras" or config["arch"] == "bilstm"


def _import_onnx():
    try:
        import onnx
        import onnxruntime
    except ImportError as e:
        raise UserError(f"--runtime onnx needs the onnx and onnxruntime packages ({e}); "
                        "pip install -r requirements.txt") from None
    return onnx, onnxruntime


def _lstm_weights(bidirectional):
    """Keras Bidirectional(LSTM) weights in ONNX layout: W (2, 4u, in), R (2, 4u, u), B (2, 8u).

    Keras orders the gates input, forget, cell, output; ONNX input, output, forget, cell. ONNX adds a second
    (recurrent) bias, zero here.
    """
    ws, rs, bs = [], [], []
    for lstm in (bidirectional.forward_layer, bidirectional.backward_layer):
        cell = lstm.cell
        if not cell.use_bias or cell.activation.__name__ != "tanh" or \
                cell.recurrent_activation.__name__ != "sigmoid":
            raise UserError(f"layer {bidirectional.name}: only tanh/sigmoid LSTMs with a bias can be exported")

        def reorder(a):
            i, f, c, o = np.split(np.asarray(a, np.float32), 4, axis=-1)
            return np.concatenate([i, o, f, c], axis=-1)

        ws.append(reorder(cell.kernel).T)
        rs.append(reorder(cell.recurrent_kernel).T)
        b = reorder(cell.bias)
        bs.append(np.concatenate([b, np.zeros_like(b)]))
    return np.stack(ws), np.stack(rs), np.stack(bs)


def export_bilstm(model, config):
    """The trained ``bilstm`` network as an ONNX graph with int16 input.

    Parameters
    ----------
    model : keras.Model
        The network as trained (from :func:`superres.predict.load_model`), layers named as in
        :func:`superres.models.build_bilstm`.
    config : dict
        Its model config (window, dataset encoding).

    Returns
    -------
    onnx.ModelProto
        Input ``pcm`` int16 (batch, window); output ``sample`` float32 (batch, window, 1), in [-1, 1) scale.
    """
    onnx, _ = _import_onnx()
    from onnx import TensorProto, helper, numpy_helper

    if not runs_on(config, "onnx"):
        raise UserError(f"--runtime onnx runs the bilstm architecture only (this model is {config['arch']}, "
                        "which is fast on Keras already); use --runtime keras")
    window = config["window"]
    nodes, inits = [], []

    def const(name, value, dtype=np.float32):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(np.asarray(value, dtype)), name))
        return name

    def node(op, inputs, name, **attrs):
        nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    # Time-major (window, batch, features): the layout of the ONNX LSTM.
    if config["dataset"]["encoding"] == "bits":
        # Two's complement as 0..65535, then bit k = (u // 2**k) % 2, MSB first: superres.encoding's order.
        x = node("Cast", ["pcm"], "as_int32", to=TensorProto.INT32)
        x = node("Mod", [node("Add", [x, const("two16", 65536, np.int32)], "offset"), "two16"], "unsigned")
        x = node("Unsqueeze", [x, const("last_axis", [-1], np.int64)], "per_bit")
        x = node("Div", [x, const("powers", 2 ** np.arange(15, -1, -1), np.int32)], "shifted")
        x = node("Mod", [x, const("two", 2, np.int32)], "bit")
        x = node("Cast", [x], "bits", to=TensorProto.FLOAT)
        x = node("Transpose", [x], "time_major", perm=[1, 0, 2])
    else:
        x = node("Cast", ["pcm"], "as_float", to=TensorProto.FLOAT)
        x = node("Mul", [x, const("scale", 1.0 / 32768.0)], "scaled")
        x = node("Transpose", [x], "time_major_2d", perm=[1, 0])
        x = node("Unsqueeze", [x, const("feature_axis", [2], np.int64)], "time_major")

    def bilstm(x, name):
        w, r, b = _lstm_weights(model.get_layer(name))
        y = node("LSTM", [x, const(f"{name}_W", w), const(f"{name}_R", r), const(f"{name}_B", b)], f"{name}_Y",
                 direction="bidirectional", hidden_size=int(r.shape[-1]))
        # Y is (window, 2, batch, units); Keras concatenates forward then backward per step.
        y = node("Transpose", [y], f"{name}_steps", perm=[0, 2, 1, 3])
        return node("Reshape", [y, const(f"{name}_shape", [0, 0, -1], np.int64)], f"{name}_out")

    def dense(x, name, relu):
        layer = model.get_layer(name)
        layer = getattr(layer, "layer", layer)  # TimeDistributed(Dense) holds its Dense
        y = node("MatMul", [x, const(f"{name}_kernel", layer.kernel)], f"{name}_mm")
        y = node("Add", [y, const(f"{name}_bias", layer.bias)], f"{name}_add")
        return node("Relu", [y], f"{name}_relu") if relu else y

    x = bilstm(x, "bilstm_1")
    x = dense(x, "dense_1", True)
    x = bilstm(x, "bilstm_2")
    x = dense(x, "dense_2", True)
    x = dense(x, "dense_3", True)
    x = dense(x, "sample", False)
    nodes.append(helper.make_node("Transpose", [x], ["sample"], name="batch_major", perm=[1, 0, 2]))
    graph = helper.make_graph(
        nodes, "bilstm", [helper.make_tensor_value_info("pcm", TensorProto.INT16, ["batch", window])],
        [helper.make_tensor_value_info("sample", TensorProto.FLOAT, ["batch", window, 1])], inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _OPSET)], ir_version=_IR_VERSION,
                              producer_name="superres")
    onnx.checker.check_model(proto)
    return proto


def quantize_int8(proto):
    """Dynamic int8 quantization of the LSTMs and matrix products (ONNX Runtime's ``quantize_dynamic``).

    Weights become signed int8 per output channel; activations are quantized to uint8 on the fly, per call.
    """
    onnx, _ = _import_onnx()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "float32.onnx", Path(tmp) / "int8.onnx"
        onnx.save(proto, str(src))
        quantize_dynamic(str(src), str(dst), op_types_to_quantize=["LSTM", "MatMul"], per_channel=True,
                         weight_type=QuantType.QInt8)
        return onnx.load(str(dst))


class OnnxNetwork:
    """An ONNX graph behind the one method prediction calls: ``predict_on_batch``.

    Parameters
    ----------
    proto : onnx.ModelProto
        From :func:`export_bilstm` or :func:`quantize_int8`.
    threads : int, optional
        Intra-op threads (default: ONNX Runtime's, one per physical core).
    """

    def __init__(self, proto, threads=None):
        _, ort = _import_onnx()
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        options.log_severity_level = 3
        self.session = ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])

    def predict_on_batch(self, x):
        """int16 windows (batch, window) -> float32 (batch, window, 1)."""
        return self.session.run(None, {"pcm": np.ascontiguousarray(x, np.int16)})[0]


def inference_network(model, config, runtime="keras", window=None):
    """The network prediction calls, on the chosen runtime (see :data:`RUNTIMES`).

    Returns
    -------
    keras.Model or OnnxNetwork
        Either has ``predict_on_batch(int16 (batch, window)) -> (batch, window, 1)``.
    """
    if runtime == "keras":
        from .models import inference_model

        return inference_model(model, config, window)
    if runtime not in RUNTIMES:
        raise UserError(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")
    proto = export_bilstm(model, config)
    return OnnxNetwork(quantize_int8(proto) if runtime == "onnx-int8" else proto)
