"""Saves and loads the networks under one Keras backend, for tests/test_backends.py (run as a script).

``python tests/backend_probe.py save DIR`` builds a tiny network of every architecture with seeded weights,
saves each as ``DIR/<backend>-<arch>.keras`` and its output on a fixed input as ``DIR/<backend>-<arch>.npy``.
``python tests/backend_probe.py load DIR`` loads every network saved there under another backend and writes
its output here as ``DIR/<saved under>-<arch>.on-<this backend>.npy``. The backend is KERAS_BACKEND's.
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402

from superres.models import build_model, inference_model  # noqa: E402

CONFIGS = {
    "bilstm": {"arch": "bilstm", "window": 50, "bits": 16, "units": 6, "dense": 10, "dense2": 4,
               "dataset": {"encoding": "bits", "input": "naive"}},
    "sbr": {"arch": "sbr", "window": 2048, "channels": 8, "bands": 32, "kernel": 3,
            "dataset": {"encoding": "pcm", "input": "sinc"}},
    "gen": {"arch": "gen", "window": 4096, "dim": 12, "blocks": 2, "expand": 2, "kernel": 3,
            "dataset": {"encoding": "pcm", "input": "sinc"}},
}


def fixed_input(arch):
    """The input every backend predicts from: int16 windows (bilstm, sbr) or float samples (gen)."""
    rng = np.random.default_rng(0)
    window = CONFIGS[arch]["window"]
    if arch == "bilstm":
        x = rng.integers(-20000, 20000, (4, window)).astype(np.int16)
        x[0] = np.linspace(-20000, 20000, window).astype(np.int16)
        return x
    t = np.arange(window) / 44100.0
    x = 0.3 * np.sin(2 * np.pi * 3000 * t) + 0.05 * rng.standard_normal((2, window))
    return (x * 32768).astype(np.int16) if arch == "sbr" else x.astype(np.float32)


def output(model, arch):
    net = inference_model(model, CONFIGS[arch]) if arch == "bilstm" else model
    return np.asarray(keras.ops.convert_to_numpy(net.predict_on_batch(fixed_input(arch))))


def save(folder):
    for arch in CONFIGS:
        model = build_model(CONFIGS[arch])
        # Matrices from numpy (scaled by fan-in, as initializers do), not the backend's initializers: every
        # backend's network is then the same one. Vectors (biases, norms' gains) are constants already.
        rng = np.random.default_rng(1)
        model.set_weights([w if w.ndim < 2 else
                           (rng.standard_normal(w.shape) / np.sqrt(np.prod(w.shape[:-1]))).astype(np.float32)
                           for w in model.get_weights()])
        name = f"{keras.backend.backend()}-{arch}"
        model.save(folder / f"{name}.keras")
        np.save(folder / f"{name}.npy", output(model, arch))


def load(folder):
    here = keras.backend.backend()
    for path in sorted(folder.glob("*.keras")):
        saved_under, arch = path.stem.split("-")
        if saved_under != here:
            model = keras.models.load_model(path, safe_mode=True, compile=False)
            np.save(folder / f"{path.stem}.on-{here}.npy", output(model, arch))


if __name__ == "__main__":
    {"save": save, "load": load}[sys.argv[1]](Path(sys.argv[2]))
