"""The sbr training loss: zero for a perfect prediction, finite everywhere, and sensitive to both terms."""

import numpy as np
import pytest

from superres.losses import MultiResolutionSTFTLoss


def _signal(n=4096, seed=0):
    return (np.random.default_rng(seed).standard_normal((2, n, 1)) * 0.1).astype("float32")


def test_perfect_prediction_scores_zero_and_errors_score_more():
    loss = MultiResolutionSTFTLoss(wave_weight=10.0)
    y = _signal()
    assert float(loss(y, y)) == pytest.approx(0.0, abs=1e-4)
    assert float(loss(y, 0.5 * y)) > 0.1
    # A same-spectrum, other-phase prediction (time reversal keeps the magnitudes' statistics) costs the
    # waveform term mostly; with wave_weight 0 it costs far less.
    shuffled = y[:, ::-1]
    assert float(MultiResolutionSTFTLoss(0.0)(y, shuffled)) < float(loss(y, shuffled))


def test_gradients_are_finite_on_digital_silence():
    import keras

    from superres.models import build_sbr

    keras.utils.set_random_seed(0)
    m = build_sbr(2048, channels=4, bands=8, kernel=3)
    m.compile(optimizer="rmsprop", loss=MultiResolutionSTFTLoss(500.0))
    x = np.zeros((4, 2048), np.int16)
    x[:2] = (np.random.default_rng(1).standard_normal((2, 2048)) * 1000).astype(np.int16)
    y = (x / 32768.0).astype("float32")[..., None]
    hist = m.fit(x, y, epochs=2, batch_size=4, verbose=0)
    assert np.isfinite(hist.history["loss"]).all()
    assert all(np.isfinite(w).all() for w in m.get_weights())
