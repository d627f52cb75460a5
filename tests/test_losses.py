"""The training losses: sbr's zero for a perfect prediction, finite everywhere, and sensitive to both terms;
gen's (TopBandLoss, the shipped default model's) its defined value on the top band alone, finite gradients."""

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


# ---------------------------------------------------------------------------------------------- TopBandLoss

#: Frames of the top-band test signals: n - 1 = 8192, so that cosines of j / (2 (n - 1)) cycles per sample are
#: even about the first and the last sample and the STFT's reflection at both ends continues them exactly (no
#: edge frame leaks the low band into the top one).
_N = 8193


def _low_tones(seed):
    """Six cosines below 9 kHz, amplitudes 0.02-0.08, each even about both ends of the signal (see _N)."""
    rng = np.random.default_rng(seed)
    t = np.arange(_N)
    return sum(rng.uniform(0.02, 0.08) * np.cos(np.pi * j * t / (_N - 1))
               for j in rng.integers(50, int(9000 * 2 * (_N - 1) / 44100), 6))


def _top_noise(seed):
    """Noise from 10.3 kHz to Nyquist (FFT brick wall), about 0.05 rms: power far above the 1e-8 floor in every
    bin of the loss's band (10.5-22.05 kHz)."""
    f = np.fft.rfftfreq(_N, 1 / 44100)
    spec = np.fft.rfft(0.1 * np.random.default_rng(seed).standard_normal(_N))
    return np.fft.irfft(np.where(f >= 10300, spec, 0), _N)


def _batch(*rows):
    return np.stack(rows)[..., None].astype("float32")


def test_top_band_loss_values():
    """TopBandLoss as its docstring defines it, on a reference whose top band and low band are apart.

    A gain g on the whole top band makes ``d = -2 log10 g`` in every bin and frame, and the same log ratio in
    every band energy: per resolution the LSD and the mean |d| are |d| each, and at the first resolution the
    band terms add ``band_weight * (|d| + |d|)``; over the two resolutions the loss is ``(2 + band_weight) |d|``.
    """
    from superres.losses import TopBandLoss

    low, top = [_low_tones(1), _low_tones(2)], [_top_noise(3), _top_noise(4)]
    ref = _batch(*(a + b for a, b in zip(low, top)))
    for band_weight in (0.0, 1.0, 3.0):
        loss = TopBandLoss(band_weight)
        # Identical signals: 0, but for the 1e-8 under the LSD's square root (kept for a finite gradient):
        # sqrt(1e-8) = 1e-4 in each resolution's term.
        assert float(loss(ref, ref)) == pytest.approx(1e-4, rel=1e-3)
        for gain in (2.0, 0.5, 10 ** (1 / 20)):
            est = _batch(*(a + gain * b for a, b in zip(low, top)))
            expected = (2 + band_weight) * 2 * abs(np.log10(gain))
            assert float(loss(ref, est)) == pytest.approx(expected, abs=2e-4), (band_weight, gain)
        # The band below 10.5 kHz does not count: ten times louder, or other tones, cost nothing more than a
        # hundredth of what 1 dB in the top band costs.
        one_db = (2 + band_weight) * 0.1
        assert float(loss(ref, _batch(*(10 * a + b for a, b in zip(low, top))))) < 1e-4 + 0.01 * one_db
        other = [_low_tones(5), _low_tones(6)]
        assert float(loss(ref, _batch(*(a + b for a, b in zip(other, top))))) < 1e-4 + 0.01 * one_db
        # An empty top band (sinc interpolation's): large, and finite, thanks to the 1e-8 floor.
        empty = float(loss(ref, _batch(*low)))
        assert np.isfinite(empty) and empty > 10 * (2 + band_weight) * 2 * np.log10(2)
    # Per example: a batch of one exact and one 6 dB-loud estimate.
    per_example = np.asarray(TopBandLoss(1.0).call(ref, _batch(low[0] + top[0], low[1] + 2 * top[1])))
    np.testing.assert_allclose(per_example, [1e-4, 3 * 2 * np.log10(2)], atol=2e-4)
    # A saved model's loss comes back with its weight.
    again = TopBandLoss.from_config(TopBandLoss(3.0).get_config())
    est = _batch(*(a + 2 * b for a, b in zip(low, top)))
    assert float(again(ref, est)) == pytest.approx(float(TopBandLoss(3.0)(ref, est)), rel=1e-6)


def test_top_band_loss_trains_with_finite_gradients_on_digital_silence():
    """A gen network trained with TopBandLoss on a batch holding digital silence (target and output exactly 0,
    every log at the floor) and tones with a top band: the loss and the weights stay finite, and the weights
    move."""
    import keras

    from superres.audio import resample, sinc_upsample
    from superres.losses import TopBandLoss
    from superres.models.gen import build_gen

    keras.utils.set_random_seed(0)
    model = build_gen(4096, dim=8, blocks=1, expand=2, kernel=3)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=TopBandLoss(1.0))
    before = [np.array(w) for w in model.get_weights()]
    y = np.zeros((4, 4096), np.float32)
    y[2:] = [(_low_tones(s) + _top_noise(s))[:4096] for s in (7, 8)]
    # The network's input as prediction makes it: the target at 22.05 kHz, sinc-upsampled.
    x = np.stack([sinc_upsample(resample(r[:, None].astype(np.float64), 44100, 22050))[:4096, 0] for r in y])
    hist = model.fit(x.astype(np.float32), y[..., None], epochs=2, batch_size=4, verbose=0)
    assert np.isfinite(hist.history["loss"]).all()
    after = model.get_weights()
    assert all(np.isfinite(w).all() for w in after)
    assert any(not np.array_equal(a, b) for a, b in zip(before, after))
