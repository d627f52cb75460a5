"""A network saved under one Keras backend loads and predicts the same under another (make test-backends).

Needs at least two of TensorFlow, JAX and PyTorch installed (``make test-backends`` adds JAX and PyTorch's
CPU builds); with one, the test is skipped and says so.
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

PROBE = Path(__file__).with_name("backend_probe.py")
BACKENDS = [b for b, module in (("tensorflow", "tensorflow"), ("jax", "jax"), ("torch", "torch"))
            if importlib.util.find_spec(module) is not None]
#: float32 rounding of the same operations in another order (another LSTM or FFT kernel): outputs are of
#: the order of 0.1-1, measured differences below 2e-7 (TensorFlow 2.21, JAX 0.10.2, PyTorch 2.13, CPU).
TOLERANCE = 1e-5


def _probe(backend, command, folder):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run([sys.executable, str(PROBE), command, str(folder)], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, f"{backend} {command}:\n{proc.stderr[-3000:]}"


@pytest.mark.skipif(len(BACKENDS) < 2, reason=f"only {', '.join(BACKENDS) or 'no'} Keras backend installed; "
                                              "make test-backends installs jax and torch")
def test_saved_under_one_backend_predicts_the_same_under_another(tmp_path):
    for backend in BACKENDS:
        _probe(backend, "save", tmp_path)
    for backend in BACKENDS:
        _probe(backend, "load", tmp_path)
    compared = 0
    for own in sorted(tmp_path.glob("*-*.npy")):
        if ".on-" in own.name:
            continue
        ref = np.load(own)
        assert np.isfinite(ref).all() and ref.std() > 1e-3  # an output that varies, so a wrong weight shows
        for other in BACKENDS:
            path = tmp_path / f"{own.stem}.on-{other}.npy"
            if other != own.stem.split("-")[0]:
                np.testing.assert_allclose(np.load(path), ref, atol=TOLERANCE, err_msg=path.name)
                compared += 1
    assert compared == 3 * len(BACKENDS) * (len(BACKENDS) - 1)
