"""Speed benchmark: x-real-time, throughput and peak memory, beside the soxr sinc baseline of the same run.

Every measurement runs in a fresh process (``python -m superres.bench`` is not used; the ``tools/bench.py``
script calls :func:`measure` in a child process) so that its peak memory is its own. Networks are built with
random weights: speed does not depend on training.
"""

import datetime
import os
import platform
import resource
import time

import numpy as np

#: Networks measured: name -> (architecture, settings). ``full`` is the blog's network.
NETWORKS = {
    "full": ("bilstm", {"units": 300, "dense": 500, "dense2": 20}),
    "demo": ("bilstm", {"units": 32, "dense": 64, "dense2": 20}),
    "sbr": ("sbr", {"channels": 64, "bands": 32, "kernel": 5}),
    "gen": ("gen", {"dim": 96, "blocks": 4, "expand": 3, "kernel": 7, "band_weight": 1.0, "adv_weight": 0.0,
                    "fm_weight": 2.0, "disc_channels": 16}),
}


def _peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _signal(seconds, rate, channels=2, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    x = sum(0.1 * np.sin(2 * np.pi * f * t) for f in (220, 1330, 5100, 9000)) + 0.05 * rng.standard_normal(t.shape)
    return np.clip(np.stack([x] * channels, axis=1) * 32768, -32768, 32767).astype(np.int16)


def _config(size):
    from .runs import ARCH_DATASET

    arch, settings = NETWORKS[size]
    dataset = {"encoding": "bits", "input": "naive", **ARCH_DATASET[arch]}  # the blog's, unless the arch differs
    return {"arch": arch, "window": 50 if arch == "bilstm" else 8192, "bits": 16, **settings, "dataset": dataset,
            "lr": 5e-4, "decay": 0.0}


def _label(size):
    arch, s = NETWORKS[size]
    if arch == "bilstm":
        return f"BiLSTM {size} ({s['units']}/{s['dense']})"
    if arch == "gen":
        return f"gen ({s['dim']} wide, {s['blocks']} blocks)"
    return f"sbr ({s['channels']} ch, {s['bands']} bands)"


def _timed(fn, *args):
    fn(*args)  # warm-up: graph tracing
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def measure(kind, size=None, seconds=4.0, overlap=None, steps=20, batch=None, xla=False, baseline=False,
            runtime="keras"):
    """Run one measurement in this process and return its figures.

    Parameters
    ----------
    kind : {"sinc", "predict", "train"}
    size : str, optional
        Key of :data:`NETWORKS` for ``predict`` and ``train``.
    seconds : float
        Seconds of stereo 22.05 kHz input for ``sinc`` and ``predict``.
    overlap : int, optional
        Window overlap for ``predict`` (default: the architecture's).
    steps : int
        Timed training steps.
    batch : int, optional
        Training batch (default: the architecture's) or inference batch.
    xla : bool
        Compile the predict or train step with XLA (``jit_compile=True``).
    baseline : bool
        ``predict`` the straightforward way: windows encoded as float32 bits in numpy, ``Model.predict`` with
        its default batch of 32, no overlap (the reference for the "3x faster on a CPU" target).
    runtime : str
        ``predict`` on this runtime (:data:`superres.runtime.RUNTIMES`).

    Returns
    -------
    dict
        ``what``, ``x_real_time`` (seconds of 44.1 kHz audio per second, per stereo file) or
        ``samples_per_s``, ``peak_mb``.
    """
    from .audio import sinc_upsample

    if kind == "sinc":
        x = _signal(seconds, 22050)
        dt = _timed(sinc_upsample, x)
        return {"what": "sinc (soxr VHQ) upsample, stereo", "x_real_time": seconds / dt,
                "samples_per_s": seconds * 44100 * 2 / dt, "peak_mb": _peak_mb()}

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    from .archs import architecture
    from .models import build_bilstm, build_model, make_optimizer
    from .runs import ARCH_DEFAULTS

    config = _config(size)
    keras.utils.set_random_seed(0)
    model = build_model(config)
    xla_note = ", XLA" if xla else ""
    if kind == "predict":
        from .predictor import Predictor

        x = _signal(seconds, 22050)
        if baseline:
            from .encoding import int16_to_bits, make_windows

            ref = build_bilstm(50, 16, **NETWORKS[size][1], input_dtype="float32")
            ref.set_weights(model.get_weights())

            def run(x):
                up = np.repeat(x, 2, axis=0)
                for c in range(x.shape[1]):
                    bits = int16_to_bits(make_windows(up[:, c], 50, 50)).astype(np.float32)
                    y = ref.predict(bits, verbose=0)
                    np.clip(np.rint(y[..., 0].reshape(-1)[:up.shape[0]] * 32768), -32768, 32767).astype(np.int16)

            dt = _timed(run, x)
            what = f"predict, {_label(size)}, overlap 0, straightforward: float32 bits, Model.predict (batch 32)"
        else:
            p = Predictor(model, config, overlap, batch, runtime=runtime)
            if xla:
                p.model.jit_compile = True
            dt = _timed(p.array, x)
            on = {"keras": "", "onnx": ", ONNX Runtime float32", "onnx-int8": ", ONNX Runtime int8"}[runtime]
            if config["arch"] == "gen":
                what = f"predict, {_label(size)}, frames streamed{on}"
            else:
                what = f"predict, {_label(size)}, overlap {p.window - p.hop}, batch {p.batch_size}{xla_note}{on}"
        return {"what": what + ", stereo", "x_real_time": seconds / dt, "samples_per_s": seconds * 44100 * 2 / dt,
                "peak_mb": _peak_mb()}
    if kind == "train":
        from .loader import WindowBatches
        from .losses import make_loss

        defaults = ARCH_DEFAULTS[config["arch"]]
        batch = batch or defaults["batch_size"]
        rng = np.random.default_rng(0)
        n = batch * (steps + 2)
        window = config["window"]
        if config["arch"] == "bilstm":
            xs = rng.integers(0, 2, (n, window, 16), dtype=np.uint8)
        else:
            xs = rng.integers(-3000, 3000, (n, window), dtype=np.int16)
        ys = rng.integers(-3000, 3000, (n, window), dtype=np.int16)
        model.compile(optimizer=make_optimizer(defaults["lr"], defaults["decay"], architecture(config).optimizer),
                      loss=make_loss({**defaults, **config}), jit_compile=xla)
        if config["arch"] == "gen":
            xs = xs.astype(np.float32) / 32768.0
        data = WindowBatches(xs, ys, batch)
        model.fit(data, epochs=1, steps_per_epoch=2, verbose=0)  # warm-up
        t = time.perf_counter()
        model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0)
        dt = time.perf_counter() - t
        return {"what": f"train, {_label(size)}, batch {batch}{xla_note}",
                "samples_per_s": steps * batch * window / dt, "peak_mb": _peak_mb()}
    raise ValueError(f"unknown measurement {kind!r}")


#: Runs a command and prints its wall time and peak resident set (kB). A child's ``ru_maxrss`` starts at the
#: resident size of the process it was forked from (Linux keeps the old image's high-water mark through
#: exec): started from this small process, the command's figure is its own, not the benchmark's as well.
_MEASURE = ("import resource, subprocess, sys, time\n"
            "t = time.perf_counter()\n"
            "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
            "wall = time.perf_counter() - t\n"
            "print(wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
            "sys.exit(code)\n")


def measure_process(command, seconds, what):
    """Run ``command`` (a list) as a new process; its wall time and peak memory, as a user feels them.

    Parameters
    ----------
    command : list of str
    seconds : float
        Seconds of audio the command produces (for x real time).
    what : str
        The row's description.

    Returns
    -------
    dict
        ``what``, ``x_real_time`` (seconds of audio per second of wall time, start-up and model loading
        included), ``seconds`` (wall), ``peak_mb`` (the process's maximum resident set).
    """
    import subprocess
    import sys

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-c", _MEASURE, *command], capture_output=True, text=True, env=env)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{proc.stderr[-2000:]}")
    wall, maxrss = proc.stdout.split()
    wall = float(wall)
    return {"what": what, "x_real_time": seconds / wall, "seconds": wall, "peak_mb": int(maxrss) / 1024.0}


def measure_dataset(demo_dir, work_dir):
    """Scan and dataset stages on the demo audio: seconds of audio processed per second, peak memory."""
    from .dataset import build_dataset
    from .scan import scan

    t = time.perf_counter()
    manifest, _ = scan(demo_dir, f"{work_dir}/22k", log=lambda s: None)
    t_scan = time.perf_counter() - t
    t = time.perf_counter()
    build_dataset(f"{work_dir}/22k", f"{work_dir}/dataset", log=lambda s: None)
    t_ds = time.perf_counter() - t
    audio = sum(e["frames_high"] for e in manifest["files"]) / 44100
    return {"what": "10-scan + 20-make-dataset on the demo audio", "x_real_time": audio / (t_scan + t_ds),
            "peak_mb": _peak_mb()}


def machine():
    """One line naming the machine, the libraries and the backend."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
    except (ValueError, OSError):
        mem = float("nan")
    import keras
    import onnxruntime

    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        lib = f"PyTorch {torch.__version__}"
    elif backend == "jax":
        import jax

        gpus = [str(d) for d in jax.devices() if d.platform == "gpu"]
        lib = f"JAX {jax.__version__}"
    else:
        import tensorflow as tf

        gpus = [g.name for g in tf.config.list_physical_devices("GPU")]
        lib = f"TensorFlow {tf.__version__}"
    return (f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM; GPU: {', '.join(gpus) or 'none'}; "
            f"{lib}, Keras {keras.__version__} (backend {backend}), "
            f"ONNX Runtime {onnxruntime.__version__}; {datetime.date.today().isoformat()}")


def format_markdown(rows, machine_line):
    """The benchmark table as markdown."""
    lines = [f"Machine: {machine_line}", "",
             "| measurement | x real time | samples/s | wall s | peak memory (MB) |", "|---|---|---|---|---|"]
    for r in rows:
        xrt = f"{r['x_real_time']:.2f}" if "x_real_time" in r else ""
        sps = f"{r['samples_per_s']:,.0f}" if "samples_per_s" in r else ""
        wall = f"{r['seconds']:.2f}" if "seconds" in r else ""
        lines.append(f"| {r['what']} | {xrt} | {sps} | {wall} | {r['peak_mb']:.0f} |")
    lines += ["", "x real time: seconds of 44.1 kHz stereo audio produced per second of compute (whole-process "
              "rows: per second of wall time from the shell, start-up, imports and model loading included). "
              "samples/s: 44.1 kHz output samples per second, every channel counted (training: window steps per "
              "second)."]
    return "\n".join(lines)
