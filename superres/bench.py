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

#: Network sizes measured: name -> (units, dense, dense2).
SIZES = {"full": (300, 500, 20), "demo": (32, 64, 20)}


def _peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _signal(seconds, rate, channels=2, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    x = sum(0.1 * np.sin(2 * np.pi * f * t) for f in (220, 1330, 5100, 9000)) + 0.05 * rng.standard_normal(t.shape)
    return np.clip(np.stack([x] * channels, axis=1) * 32768, -32768, 32767).astype(np.int16)


def measure(kind, size=None, seconds=4.0, overlap=None, steps=6, batch=64):
    """Run one measurement in this process and return its figures.

    Parameters
    ----------
    kind : {"sinc", "predict", "train", "dataset"}
    size : str, optional
        Key of :data:`SIZES` for ``predict`` and ``train``.
    seconds : float
        Seconds of stereo 22.05 kHz input for ``sinc`` and ``predict``.
    overlap : int, optional
        Window overlap for ``predict`` (default: half a window).
    steps, batch : int
        Timed training steps and their batch size.

    Returns
    -------
    dict
        ``what``, ``x_real_time`` (seconds of 44.1 kHz audio per second, per stereo file) or
        ``samples_per_s``, ``peak_mb``.
    """
    from .audio import sinc_upsample

    if kind == "sinc":
        x = _signal(seconds, 22050)
        t = time.perf_counter()
        sinc_upsample(x)
        dt = time.perf_counter() - t
        return {"what": "sinc (soxr VHQ) upsample, stereo", "x_real_time": seconds / dt,
                "samples_per_s": seconds * 44100 * 2 / dt, "peak_mb": _peak_mb()}

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    from .models import build_bilstm, make_optimizer

    units, dense, dense2 = SIZES[size]
    keras.utils.set_random_seed(0)
    model = build_bilstm(50, 16, units, dense, dense2)
    if kind == "predict":
        from .predict import default_hop, predict_array

        hop = default_hop(50) if overlap is None else 50 - overlap
        x = _signal(seconds, 22050)
        predict_array(model, x[:2205], 50, hop)  # warm-up: graph tracing
        t = time.perf_counter()
        predict_array(model, x, 50, hop)
        dt = time.perf_counter() - t
        return {"what": f"predict, BiLSTM {size} ({units}/{dense}), overlap {50 - hop}, stereo",
                "x_real_time": seconds / dt, "samples_per_s": seconds * 44100 * 2 / dt, "peak_mb": _peak_mb()}
    if kind == "train":
        from .loader import WindowBatches

        rng = np.random.default_rng(0)
        n = batch * (steps + 2)
        xs = rng.integers(0, 2, (n, 50, 16), dtype=np.uint8)
        ys = rng.integers(-3000, 3000, (n, 50), dtype=np.int16)
        model.compile(optimizer=make_optimizer(), loss="mae")
        data = WindowBatches(xs, ys, batch)
        model.fit(data, epochs=1, steps_per_epoch=2, verbose=0)  # warm-up
        t = time.perf_counter()
        model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0)
        dt = time.perf_counter() - t
        return {"what": f"train, BiLSTM {size} ({units}/{dense}), batch {batch}",
                "samples_per_s": steps * batch * 50 / dt, "peak_mb": _peak_mb()}
    raise ValueError(f"unknown measurement {kind!r}")


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
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return (f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM; GPU: {', '.join(g.name for g in gpus) or 'none'}; "
            f"TensorFlow {tf.__version__}, Keras {keras.__version__} (backend {keras.backend.backend()}); "
            f"{datetime.date.today().isoformat()}")


def format_markdown(rows, machine_line):
    """The benchmark table as markdown."""
    lines = [f"Machine: {machine_line}", "",
             "| measurement | x real time | samples/s | peak memory (MB) |", "|---|---|---|---|"]
    for r in rows:
        xrt = f"{r['x_real_time']:.2f}" if "x_real_time" in r else ""
        sps = f"{r['samples_per_s']:,.0f}" if "samples_per_s" in r else ""
        lines.append(f"| {r['what']} | {xrt} | {sps} | {r['peak_mb']:.0f} |")
    lines += ["", "x real time: seconds of 44.1 kHz stereo audio produced per second of compute. samples/s: "
              "44.1 kHz output samples per second, every channel counted (training: window steps per second)."]
    return "\n".join(lines)
