"""Inference runtimes for the ``bilstm`` network: Keras as trained, or ONNX Runtime in float32 or int8.

The full-size BiLSTM costs 3.3 million multiply-adds per output sample; on a CPU Keras already runs it near
the float32 peak of the cores, so only lower precision makes it much faster. ``onnx-int8`` rebuilds the
trained network as an ONNX graph (the same LSTM equations, weights copied) and lets ONNX Runtime quantize it
dynamically: weights to 8 bits once, activations to uint8 per call, integer matrix products (see
:func:`quantize_int8` for the scheme, which is safe on CPUs without VNNI). The output changes slightly; the
README gives the measured cost. Each int8 network is checked against the float one before use
(:func:`check_int8`).
``onnx`` is the same graph in float32 (equal to Keras within float rounding), useful to check the export.

The graph takes what :func:`superres.models.inference_model` takes, int16 windows (batch, window), and
decodes bits inside it, so :class:`superres.windows.StreamUpsampler` drives either runtime the same way.
"""

import tempfile
from pathlib import Path

import numpy as np

from .archs import architecture
from .errors import UserError

#: Inference runtimes.
RUNTIMES = ("keras", "onnx", "onnx-int8")
#: ``--runtime`` choices: ``auto`` is ONNX Runtime, without Keras, where the model folder holds a current export
#: of its weights (:func:`write_onnx`), else Keras.
RUNTIME_CHOICES = ("auto", *RUNTIMES)

#: ONNX IR version and opset of the exported graph: old enough for any ONNX Runtime from 1.14 on.
_IR_VERSION, _OPSET = 8, 17


def runs_on(config, runtime):
    """Whether a model of this config can run on ``runtime`` (:attr:`superres.archs.Architecture.runtimes`)."""
    return runtime == "auto" or runtime in architecture(config).runtimes


def _onnx():
    """The ``onnx`` package, which writing a graph needs (training's extra); reading one needs ONNX Runtime alone."""
    try:
        import onnx
    except ImportError as e:
        raise UserError(f"exporting or quantizing a graph needs the onnx package ({e}); "
                        "pip install 'superres[train]'") from None
    return onnx


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


def _graph_builder():
    """An ONNX graph under construction: its node and initialiser lists, and ``const`` / ``node`` adding to them.

    ``const(name, value, dtype=float32)`` adds an initialiser, ``node(op, inputs, name, **attrs)`` a node whose
    one output is ``name``; both return the name.
    """
    from onnx import helper, numpy_helper

    nodes, inits = [], []

    def const(name, value, dtype=np.float32):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(np.asarray(value, dtype)), name))
        return name

    def node(op, inputs, name, **attrs):
        nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    return nodes, inits, const, node


def _model_proto(nodes, inits, name, inputs, outputs):
    """The checked ONNX model of a graph: ``inputs`` and ``outputs`` as (name, element type, shape)."""
    onnx = _onnx()
    helper = onnx.helper
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info(*io) for io in inputs],
                              [helper.make_tensor_value_info(*io) for io in outputs], inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _OPSET)], ir_version=_IR_VERSION,
                              producer_name="superres")
    onnx.checker.check_model(proto)
    return proto


def export_bilstm(model, config):
    """The trained ``bilstm`` network as an ONNX graph with int16 input.

    Built node by node, as measured necessary: models/bilstm-full ships as this graph alone, and Keras reads
    its weights back from the graph's named initialisers (:func:`bilstm_from_onnx`); Keras's own export
    (tf2onnx, opset 18 for the bit decoding) names them its own way and unrolls the per-step dense layers into
    50 matrix products each (53 MatMul nodes against 4; 1.15-1.2 times slower for one window, equal for 64).

    Parameters
    ----------
    model : keras.Model
        The network as trained (from :func:`superres.models.loading.load_model`), layers named as in
        :func:`superres.models.build_bilstm`.
    config : dict
        Its model config (window, dataset encoding).

    Returns
    -------
    onnx.ModelProto
        Input ``pcm`` int16 (batch, window); output ``sample`` float32 (batch, window, 1), in [-1, 1) scale.
    """
    onnx = _onnx()
    TensorProto, helper = onnx.TensorProto, onnx.helper

    window = config["window"]
    nodes, inits, const, node = _graph_builder()

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
    return _model_proto(nodes, inits, "bilstm", [("pcm", TensorProto.INT16, ["batch", window])],
                        [("sample", TensorProto.FLOAT, ["batch", window, 1])])


def bilstm_from_onnx(config, path):
    """The Keras ``bilstm`` network of ``config`` with the weights of its export (:func:`export_bilstm`) at
    ``path``: the inverse of the export, exact (the same float32 values, back in Keras's layout)."""
    onnx = _onnx()

    from .models import build_model

    inits = {t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}
    model = build_model(config)

    def keras_order(a):  # ONNX's gates i, o, f, c back to Keras's i, f, c, o
        i, o, f, c = np.split(a, 4, axis=-1)
        return np.concatenate([i, f, c, o], axis=-1)

    for name in ("bilstm_1", "bilstm_2"):
        w, r, b = (inits[f"{name}_{k}"] for k in "WRB")
        layer = model.get_layer(name)
        for d, lstm in enumerate((layer.forward_layer, layer.backward_layer)):
            units = r.shape[-1]
            lstm.cell.set_weights([keras_order(w[d].T), keras_order(r[d].T), keras_order(b[d][:4 * units])])
    for name in ("dense_1", "dense_2", "dense_3", "sample"):
        layer = model.get_layer(name)
        layer = getattr(layer, "layer", layer)
        layer.set_weights([inits[f"{name}_kernel"], inits[f"{name}_bias"]])
    return model


def export_gen_core(core):
    """The ``gen`` backbone (:func:`superres.models.gen.build_core`) as an ONNX graph.

    Built node by node, as measured necessary: Keras's own export (tf2onnx) cannot convert the exact GELU
    (TensorFlow writes it with ``Erfc``, which tf2onnx lacks) without a handler of our own, and with one its
    graph runs 1.35-1.46 times slower on ONNX Runtime (layer normalisation split into reductions, each dense
    wrapped in reshapes), where this one is fused into LayerNormalization and BiasGelu.

    Parameters
    ----------
    core : keras.Model
        The backbone sub-model, layers named as :func:`~superres.models.gen.build_core` names them.

    Returns
    -------
    onnx.ModelProto
        Input ``features`` float32 (batch, frames, LOW_BINS); output ``log_gain`` float32 (batch, frames,
        TOP_BINS) (``cgen``'s backbone: its own numbers of features and gains, read from its layers). Frames and
        batch may be any size.
    """
    onnx = _onnx()
    TensorProto, helper = onnx.TensorProto, onnx.helper

    nodes, inits, const, node = _graph_builder()

    def weights(name):
        return [np.asarray(w, np.float32) for w in core.get_layer(name).get_weights()]

    def dense(x, name):
        kernel, bias = weights(name)
        return node("Add", [node("MatMul", [x, const(f"{name}_W", kernel)], f"{name}_mm"), const(f"{name}_b", bias)],
                    f"{name}_out")

    def norm(x, name):
        layer = core.get_layer(name)
        gamma, beta = weights(name)
        return node("LayerNormalization", [x, const(f"{name}_g", gamma), const(f"{name}_b", beta)], f"{name}_out",
                    axis=-1, epsilon=float(layer.epsilon))

    blocks = sum(1 for layer in core.layers if layer.name.endswith("_dw"))
    bins_in, bins_out = weights("embed")[0].shape[0], weights("log_gain")[0].shape[1]
    h = norm(dense("features", "embed"), "embed_norm")
    for i in range(blocks):
        name = f"block{i}"
        kernel, bias = weights(f"{name}_dw")  # (k, dim, 1), (dim,)
        k = kernel.shape[0]
        y = node("Transpose", [h], f"{name}_chan_major", perm=[0, 2, 1])
        y = node("Conv", [y, const(f"{name}_dw_W", np.transpose(kernel, (1, 2, 0))), const(f"{name}_dw_b", bias)],
                 f"{name}_dw", group=int(kernel.shape[1]), kernel_shape=[k], pads=[(k - 1) // 2, k // 2])
        y = node("Transpose", [y], f"{name}_frame_major", perm=[0, 2, 1])
        y = dense(norm(y, f"{name}_norm"), f"{name}_pw1")
        # Exact GELU, as Keras's: x (1 + erf(x / sqrt 2)) / 2, written as ONNX Runtime's fusion expects it, so that
        # it runs as one BiasGelu op with the bias before it (the backbone 12% faster than with x * (1 / sqrt 2)).
        e = node("Erf", [node("Div", [y, const(f"{name}_sqrt2", np.sqrt(2))], f"{name}_scaled")], f"{name}_erf")
        y = node("Mul", [y, node("Add", [e, const(f"{name}_one", 1.0)], f"{name}_1perf")], f"{name}_xg")
        y = node("Mul", [y, const(f"{name}_half", 0.5)], f"{name}_gelu")
        h = node("Add", [h, dense(y, f"{name}_pw2")], f"{name}_add")
    h = dense(norm(h, "head_norm"), "log_gain")
    nodes.append(helper.make_node("Identity", [h], ["log_gain"], name="log_gain"))
    return _model_proto(nodes, inits, "gen_core", [("features", TensorProto.FLOAT, ["batch", "frames", bins_in])],
                        [("log_gain", TensorProto.FLOAT, ["batch", "frames", bins_out])])


def export_sbr_envelope(model):
    """The weighted middle of an ``sbr`` network (:func:`superres.models.sbr.build_sbr`) as an ONNX graph:
    from the low band's log10 power to the top octave's log10 envelope. :mod:`superres.sbrcore` computes the
    STFT and the synthesis around it in numpy.

    Keras's own export (``model.export(format="onnx")``, tf2onnx on TensorFlow) of the sub-network from the
    features' scaling to the envelope, with any number of frames. Measured against a graph built node by
    node: the same output to 3e-6, the same speed (0.9-1.0 times its time on ONNX Runtime).

    Returns
    -------
    onnx.ModelProto
        Input float32 (batch, frames, 256); output float32 (batch, frames, bands).
    """
    import keras
    import tensorflow as tf

    onnx = _onnx()
    middle = keras.Model(model.get_layer("scale_features").input, model.get_layer("envelope").output)
    bins = int(model.get_layer("features").get_weights()[0].shape[0])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "envelope.onnx"
        middle.export(str(path), format="onnx", verbose=False,
                      input_signature=[tf.TensorSpec((None, None, bins), tf.float32, name="features")])
        return onnx.load(str(path))


def session(source, threads=None):
    """An ONNX Runtime session (CPU) of a graph: an ``onnx.ModelProto``, its bytes or a file (a session is
    returned as it is).

    ``threads``: intra-op threads (None or 0: ONNX Runtime's own choice, one per physical core).
    """
    try:
        import onnxruntime as ort
    except ImportError as e:
        raise UserError(f"the onnx runtime needs the onnxruntime package ({e}); pip install superres")
    if isinstance(source, ort.InferenceSession):
        return source
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    options.log_severity_level = 3
    if not isinstance(source, (bytes, str, Path)):
        source = source.SerializeToString()
    return ort.InferenceSession(source if isinstance(source, bytes) else str(source), options,
                                providers=["CPUExecutionProvider"])


class OnnxCore:
    """An exported backbone (:func:`export_gen_core`), bytes or a file, run by ONNX Runtime alone.

    Calling it maps features (batch, frames, LOW_BINS) float32 to log gains (batch, frames, TOP_BINS). Only
    ``onnxruntime`` is imported: prediction with it never loads TensorFlow or Keras. One intra-op thread by
    default: :class:`superres.genstream.GenStream` calls it from a thread per core.
    """

    def __init__(self, model, threads=1):
        self.session = session(model, threads)
        self.input = self.session.get_inputs()[0].name

    def __call__(self, features):
        return self.session.run(None, {self.input: np.ascontiguousarray(features, np.float32)})[0]


#: Metadata key of an exported graph: the SHA-256 of the checkpoint it was exported from.
_SOURCE_KEY = "superres.weights_sha256"
#: Metadata key of an exported graph: the network it is (:func:`network_signature`).
_NETWORK_KEY = "superres.network"


def network_signature(config):
    """What an exported graph must agree with in its folder's config.json: the architecture, its number of
    weights and (for networks of a fixed window) the window. An edited or mixed-up config then stops
    prediction on ONNX Runtime as it stops Keras (superres.models.loading._check_weights), where the graph alone
    would run, or fail inside ONNX Runtime."""
    import json

    arch = architecture(config)
    sig = {"arch": config["arch"], "params": int(arch.params(config))}
    if not arch.window_free:
        sig["window"] = int(config["window"])
    return json.dumps(sig, sort_keys=True)


def _sha256(path):
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def core_file(checkpoint):
    """Where the exported backbone of ``checkpoint`` (``best.keras``) lives: ``best.onnx`` beside it."""
    return Path(checkpoint).with_suffix(".onnx")


#: Largest difference between an exported graph's output and the Keras network's on the probe inputs, as a
#: share of the Keras output's largest magnitude, that is taken for float32 rounding (measured on the shipped
#: models: gen 4.5e-7, cgen 4.7e-7, sbr 2.1e-7, the full BiLSTM 1.9e-7); anything more is a wrong export.
EXPORT_TOLERANCE = 1e-4


def export_graph(model, config):
    """The ONNX graph prediction runs for a trained network of ``config``: ``gen``'s and ``cgen``'s backbone,
    ``sbr``'s envelope network (:mod:`superres.sbrcore` does the rest), the whole ``bilstm``."""
    arch = config["arch"]
    if architecture(config).frame_stream:
        from .models.gen import core_of

        return export_gen_core(core_of(model))
    if arch == "sbr":
        return export_sbr_envelope(model)
    return export_bilstm(model, config)


def _threads(config):
    """Intra-op threads of a network's session: one for ``gen``/``cgen`` (the stream runs a thread per core),
    ONNX Runtime's own choice for the others."""
    return 1 if architecture(config).frame_stream else None


def onnx_network(source, config):
    """The network prediction calls, from an exported graph (bytes, a file or a session) alone: an
    :class:`OnnxCore` for ``gen``/``cgen`` (the stream calls it), else an object with
    ``predict_on_batch(int16 (batch, window)) -> (batch, window, 1)``."""
    if architecture(config).frame_stream:
        return OnnxCore(source, threads=_threads(config))
    if config["arch"] == "sbr":
        from .sbrcore import SbrNetwork

        return SbrNetwork(OnnxCore(source, threads=_threads(config)))
    return OnnxNetwork(source, threads=_threads(config))


def _probe(model, config):
    """Inputs to compare an export with its Keras network on, and the Keras network's outputs there."""
    import keras

    rng = np.random.default_rng(0)
    if architecture(config).frame_stream:
        from .models.gen import core_of

        core = core_of(model)
        x = rng.standard_normal((1, 48, int(core.inputs[0].shape[-1]))).astype(np.float32)
        # Called, not predict_on_batch: under tf.distribute (a training worker) that gathers every replica's.
        return x, keras.ops.convert_to_numpy(core(x, training=False))
    from .models import inference_model

    net = inference_model(model, config)  # int16 windows in, as the export takes them
    window = int(net.inputs[0].shape[1])
    x = (rng.standard_normal((4, window)) * 6000).clip(-32768, 32767).astype(np.int16)
    x[0] = (20000 * np.sin(np.arange(window) * 0.05)).astype(np.int16)
    return x, keras.ops.convert_to_numpy(net(x, training=False))


def check_export(model, config, source):
    """Refuse (UserError) an exported graph whose output on the probe inputs differs from the Keras network's
    by more than :data:`EXPORT_TOLERANCE`."""
    x, ref = _probe(model, config)
    net = onnx_network(source, config)
    out = np.asarray(net(x) if callable(net) else net.predict_on_batch(x))
    err = float(np.max(np.abs(out - ref))) / max(float(np.max(np.abs(ref))), 1e-6)
    if out.shape != ref.shape or not err <= EXPORT_TOLERANCE:
        raise UserError(f"the ONNX export of this {config['arch']} network differs from it (largest difference "
                        f"{err:.2g} of its output, shapes {out.shape} and {ref.shape}); not written")
    return err


def write_onnx(model, config, checkpoint):
    """Export the network saved as ``checkpoint`` to :func:`core_file` (:func:`export_graph`), checked against
    the Keras network first (:func:`check_export`), atomically.

    The graph records the checkpoint's SHA-256, so that prediction uses it only with those weights.
    """
    from .audio import atomic_output

    onnx = _onnx()
    proto = export_graph(model, config)
    check_export(model, config, proto.SerializeToString())
    onnx.helper.set_model_props(proto, {_SOURCE_KEY: _sha256(checkpoint), _NETWORK_KEY: network_signature(config)})
    with atomic_output(core_file(checkpoint)) as tmp:
        onnx.save(proto, str(tmp))


def current_network(checkpoint, config):
    """:func:`onnx_network` of ``core_file(checkpoint)`` if it exists, was exported from exactly these weights
    and is the network ``config`` describes, else None (a checkpoint that is itself an export,
    :func:`superres.runs.weights_file`, is its own weights).

    Read with ONNX Runtime alone (no Keras, no onnx package): both are in the graph's metadata, and the one
    session that reads them runs the graph.

    Raises
    ------
    UserError
        The graph is of another network than ``config`` describes (an edited or mixed-up folder).
    """
    path = core_file(checkpoint)
    if not path.is_file():
        return None
    try:
        graph = session(path, _threads(config))
        meta = graph.get_modelmeta().custom_metadata_map
    except Exception:
        return None
    if Path(checkpoint).suffix != ".onnx" and meta.get(_SOURCE_KEY) != _sha256(checkpoint):
        return None
    import json

    try:
        network = json.loads(meta[_NETWORK_KEY])
    except (KeyError, ValueError):  # exported before graphs said what network they are, or damaged: as if stale
        return None
    if network != json.loads(network_signature(config)):
        from .runs import ARCH_DEFAULTS

        cfg = {k: config[k] for k in ("arch", *ARCH_DEFAULTS[config["arch"]]) if k in config}
        raise UserError(f"{path}: these weights are not those of the network config.json describes ({cfg}); the "
                        "folder was edited or mixed up: retrain the model, or restore its config.json")
    return onnx_network(graph, config)


def saturating_int8_cpu():
    """Whether this is an x86 CPU without VNNI, where ONNX Runtime's uint8 x int8 products can saturate.

    Without VNNI (AVX2 alone, for example) ONNX Runtime multiplies uint8 activations by int8 weights with
    ``VPMADDUBSW``, whose 16-bit sums of two products overflow for full-range weights (255 x 127 x 2 > 32767)
    and give wrong outputs: measured on an AVX2-only machine, errors of 60-80% of the output's spread, with
    every ONNX Runtime release tried (1.27, 1.30, 1.31.1, 1.32.0). CPUs with VNNI (``avx512_vnni``,
    ``avx_vnni``) sum in 32 bits, and other architectures use other kernels.
    """
    import platform

    if platform.machine().lower() not in ("x86_64", "amd64", "i686", "x86"):
        return False
    try:
        flags = next((ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("flags")), "")
    except OSError:
        return True  # unknown: assume the kernels that are safe everywhere
    return not any(f in flags.split() for f in ("avx512_vnni", "avx_vnni", "amx_int8"))


def quantize_int8(proto, saturating=None):
    """Dynamic int8 quantization of the LSTMs and matrix products (ONNX Runtime's ``quantize_dynamic``).

    Activations are quantized to uint8 on the fly, per call; weights once, per output channel.

    Parameters
    ----------
    proto : onnx.ModelProto
    saturating : bool, optional
        Whether this CPU's integer kernels can saturate (default: :func:`saturating_int8_cpu`). If so, the
        scheme keeps every integer sum in range: LSTM weights int8 in 7 bits (``reduce_range``) and matrix
        products with uint8 weights (u8 x u8 widens to 16 bits before it multiplies). Otherwise every weight
        is int8 in full range, the more precise and faster scheme on such CPUs.
    """
    onnx = _onnx()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    if saturating is None:
        saturating = saturating_int8_cpu()
    if saturating:
        steps = [(["LSTM"], {"reduce_range": True, "weight_type": QuantType.QInt8}),
                 (["MatMul"], {"weight_type": QuantType.QUInt8})]
    else:
        steps = [(["LSTM", "MatMul"], {"weight_type": QuantType.QInt8})]
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "float32.onnx"
        onnx.save(proto, str(src))
        for i, (ops, options) in enumerate(steps):
            dst = Path(tmp) / f"int8-{i}.onnx"
            quantize_dynamic(str(src), str(dst), op_types_to_quantize=ops, per_channel=True, **options)
            src = dst
        return onnx.load(str(src))


#: Largest mean error of the int8 network on the probe windows, as a share of its float output's spread,
#: that is taken for rounding rather than broken integer kernels. Sound quantization measured, on these probe
#: windows (ONNX Runtime on a CPU with VNNI, both schemes of :func:`quantize_int8`): trained networks 0.4-0.5%
#: (the blog's full size) and 1.4-3.4% (the tests' tiny one); 36 random untrained networks of 4-32 units
#: (tests/test_runtime.py's kind) 0.9-11.4%, median 3%, the worst an untrained 4-unit one whose output barely
#: varies. The full-range scheme on a CPU without VNNI: 60-80%. 12% passes all of the sound ones and refuses
#: an error of 15% (tests/test_runtime.py).
INT8_MAX_ERROR = 0.12


def check_int8(float_net, int8_net, window):
    """Refuse an int8 network whose outputs are not close to the float network's: a broken quantizer or
    integer kernel of this ONNX Runtime on this CPU, which would otherwise write wrong audio without a word.

    Both run on a fixed batch of windows (a loud ramp and seeded noise); the check costs one small batch.
    """
    import onnxruntime

    rng = np.random.default_rng(0)
    x = (rng.standard_normal((8, window)) * 6000).clip(-32768, 32767).astype(np.int16)
    x[0] = np.linspace(-20000, 20000, window).astype(np.int16)
    ref, out = float_net.predict_on_batch(x), int8_net.predict_on_batch(x)
    spread = float(np.std(ref))
    err = float(np.mean(np.abs(out - ref)))
    if not np.isfinite(err) or err > INT8_MAX_ERROR * max(spread, 1e-6):
        raise UserError(f"--runtime onnx-int8: the int8 network gives wrong results with ONNX Runtime "
                        f"{onnxruntime.__version__} on this CPU (mean error {err:.3g} against an output spread of "
                        f"{spread:.3g}); use --runtime onnx or keras")


class OnnxNetwork:
    """An ONNX graph behind the one method prediction calls: ``predict_on_batch``.

    Parameters
    ----------
    proto : onnx.ModelProto, bytes or path
        From :func:`export_bilstm` or :func:`quantize_int8`, or a file of one.
    threads : int, optional
        Intra-op threads (default: ONNX Runtime's, one per physical core).
    """

    def __init__(self, proto, threads=None):
        self.session = session(proto, threads)

    def predict_on_batch(self, x):
        """int16 windows (batch, window) -> float32 (batch, window, 1)."""
        return self.session.run(None, {"pcm": np.ascontiguousarray(x, np.int16)})[0]


def inference_network(model, config, runtime="keras", window=None):
    """The network prediction calls, from a Keras network, on the chosen runtime (see :data:`RUNTIMES`).

    Returns
    -------
    keras.Model, OnnxCore, SbrNetwork or OnnxNetwork
        ``gen`` / ``cgen``: the backbone, a callable (features -> log gains); the others have
        ``predict_on_batch(int16 (batch, window)) -> (batch, window, 1)``.
    """
    if runtime not in RUNTIMES:
        raise UserError(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")
    if not runs_on(config, runtime):
        raise UserError(f"--runtime {runtime}: --arch {config['arch']} runs on "
                        f"{' or '.join(architecture(config).runtimes)}")
    if runtime == "keras":
        if architecture(config).frame_stream:
            from .models.gen import core_of

            core = core_of(model)
            return lambda features: np.asarray(core.predict_on_batch(features))
        from .models import inference_model

        return inference_model(model, config, window)
    proto = export_graph(model, config)
    net = onnx_network(proto.SerializeToString(), config)
    if runtime == "onnx":
        return net
    int8_net = OnnxNetwork(quantize_int8(proto))
    check_int8(net, int8_net, config["window"])
    return int8_net
