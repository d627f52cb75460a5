"""Metric definitions, with cases that fail on a wrong definition (scale, order of means, window, band)."""

import scipy.signal
import numpy as np
import pytest

from superres.metrics import hf_energy_ratio, lsd, lsd_hf, mae, power_spectrogram, snr

RATE = 44100


def noise(n=44100, amp=3000.0, seed=0, channels=None):
    shape = (n,) if channels is None else (n, channels)
    return amp * np.random.default_rng(seed).standard_normal(shape)


def split_bands(x):
    """Parts of x below 9 kHz and from 11.025 kHz up (FFT masking).

    The gap below the edge keeps the Hann window's leakage from the low part into the top band's STFT bins
    about 55 dB down, so the metrics' 11.025 kHz split sees each part alone. Use ``low + high`` as the
    reference.
    """
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(x.shape[0], 1 / RATE)
    return np.fft.irfft(np.where(f < 9000, spec, 0), n=x.shape[0]), np.fft.irfft(np.where(f >= 11025, spec, 0),
                                                                                  n=x.shape[0])


def test_mae_in_16_bit_units():
    assert mae(np.array([0, 10, -10]), np.array([1, 10, -7])) == pytest.approx(4 / 3)
    assert mae(np.zeros((5, 2)), np.full((5, 2), 3)) == 3.0
    with pytest.raises(ValueError):
        mae(np.zeros(3), np.zeros(4))


def test_snr_db():
    x = noise()
    assert snr(x, x) == float("inf")
    assert snr(x, np.zeros_like(x)) == pytest.approx(0.0)
    assert snr(x, 0.5 * x) == pytest.approx(20 * np.log10(2), abs=1e-9)  # error = x/2: 6.02 dB
    e = noise(seed=1, amp=300.0)
    assert snr(x, x + e) == pytest.approx(10 * np.log10(np.sum(x ** 2) / np.sum(e ** 2)))
    assert np.isnan(snr(np.zeros(10), np.ones(10)))


def test_power_spectrogram_matches_scipy_centered_hann_unnormalised():
    # scipy's STFT as the independent reference (librosa's gives the same numbers, but its first call spends
    # half a minute compiling with numba): centred by reflection ("even" extension), periodic Hann,
    # unnormalised once scipy's 1 / sum(window) scaling is taken back.
    x = noise(10000, amp=0.1)
    ours = power_spectrogram(x)
    _, _, z = scipy.signal.stft(x, window="hann", nperseg=2048, noverlap=2048 - 512, boundary="even", padded=False,
                                detrend=False)
    ref = np.abs(z * scipy.signal.get_window("hann", 2048).sum()) ** 2
    assert ours.shape == ref.shape == (1025, 1 + 10000 // 512)
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-9)
    # Unnormalised: a full-scale sine's peak power is (A * sum(window) / 2)^2 = (1024 / 2)^2.
    t = np.arange(8192) / RATE
    peak = power_spectrogram(np.sin(2 * np.pi * (100 * RATE / 2048) * t))[:, 8].max()
    assert peak == pytest.approx((1024 / 2) ** 2, rel=1e-6)


def test_lsd_of_a_constant_gain_is_its_log10_power():
    x = noise()
    assert lsd(x, x) == 0.0
    # Amplitude x10 is power x100 in every bin: log10 difference 2 everywhere, so LSD = 2.
    assert lsd(x, 10 * x) == pytest.approx(2.0, abs=1e-9)


def test_lsd_is_rms_over_frequency_then_mean_over_frames():
    x = noise(88200)
    est = x.copy()
    est[44100:] *= 10
    # Half the frames differ by 2 everywhere, half by 0: mean over frames ~1. Pooling all bins and frames
    # before the square root would give sqrt(2) = 1.41 instead.
    assert lsd(x, est) == pytest.approx(1.0, abs=0.06)


def test_lsd_uses_the_1e8_clamp_on_full_scale_power():
    low, high = split_bands(noise())
    x = low + high
    # An empty high band is clamped at log10(1e-8) = -8 rather than -inf: the value stays finite.
    v = lsd_hf(x, low)
    assert np.isfinite(v) and v > 5


def test_lsd_hf_sees_only_the_top_band():
    low, high = split_bands(noise())
    x = low + high
    assert lsd_hf(x, 10 * low + high) < 0.05        # only the low band changed: nothing in the top band
    assert lsd(x, 10 * low + high) > 0.9           # but the whole-band LSD sees it
    assert lsd_hf(x, low + 10 * high) == pytest.approx(2.0, abs=0.05)


def test_lsd_averages_channels():
    x = noise(channels=2)
    est = x.copy()
    est[:, 1] *= 10
    assert lsd(x, est) == pytest.approx(1.0, abs=1e-9)


def test_hf_energy_ratio_db():
    low, high = split_bands(noise())
    x = low + high
    assert hf_energy_ratio(x, x) == pytest.approx(0.0, abs=1e-9)
    assert hf_energy_ratio(x, low + 2 * high) == pytest.approx(20 * np.log10(2), abs=0.05)
    assert hf_energy_ratio(x, low) < -40  # an empty band reads as strongly negative
    assert np.isnan(hf_energy_ratio(low * 0, low * 0))


def _split_bands(x, edge=11025.0):
    """x (n,) -> (below edge, above edge), by an FFT brick wall."""
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(x.shape[0], 1 / RATE)
    return np.fft.irfft(np.where(f < edge, spec, 0), x.shape[0]), np.fft.irfft(np.where(f >= edge, spec, 0),
                                                                               x.shape[0])


def test_low_band_snr_sees_only_the_band_below_the_edge():
    from superres.metrics import snr, snr_low_band

    low, high = _split_bands(noise(44100, amp=3000.0))
    ref = low + high
    # Leaving the top octave out, or replacing it with other noise, costs nothing below the edge ...
    assert snr_low_band(ref, low) > 60 and snr(ref, low) < 20
    _, other_high = _split_bands(noise(44100, amp=3000.0, seed=7))
    assert snr_low_band(ref, low + other_high) > 60
    # ... while low-band error of a tenth of the low band's amplitude is 20 dB, as SNR defines it.
    err, _ = _split_bands(noise(44100, amp=1.0, seed=8))
    err *= 0.1 * np.sqrt(np.mean(low ** 2) / np.mean(err ** 2))
    assert snr_low_band(ref, ref + err) == pytest.approx(20.0, abs=0.3)
    assert np.isnan(snr_low_band(np.zeros(4096), np.ones(4096)))


def test_seam_is_the_worst_band_level_from_9_to_20_khz():
    from superres.metrics import SEAM_BANDS, band_levels, seam

    low, high = _split_bands(noise(44100, amp=3000.0))
    ref = low + high
    assert seam(ref, ref) == pytest.approx(0.0, abs=1e-9)
    # The top octave at half its amplitude: -6.02 dB in every band above the edge, 0 below.
    levels = band_levels(ref, low + 0.5 * high)
    edges = np.array([lo for lo, _ in SEAM_BANDS])
    assert np.allclose(levels[edges >= 11500], 20 * np.log10(0.5), atol=0.05)
    assert np.allclose(levels[edges + 500 <= 10500], 0.0, atol=0.05)
    assert seam(ref, low + 0.5 * high) == pytest.approx(6.02, abs=0.1)
    # An empty top octave (sinc) is a deep seam.
    assert seam(ref, low) > 40


def test_visqol_ranks_a_missing_top_octave_below_the_original():
    pytest.importorskip("visqol", reason="ViSQOL is optional (make visqol)")
    from superres.audio import resample, sinc_upsample, to_int16
    from superres.metrics import visqol

    from conftest import synth

    ref = to_int16(synth(4.0, channels=1, seed=5)).astype(np.float64)
    dull = to_int16(sinc_upsample(resample(ref / 32768.0, 44100, 22050))).astype(np.float64)  # no top octave
    same = visqol(ref, ref)
    assert same > 4.5 and visqol(ref, dull) < same - 0.1
    assert np.isnan(visqol(np.zeros(1000), np.zeros(1000)))


def test_shared_spectrograms_change_no_figure():
    from superres.evaluate import score
    from superres.metrics import METRICS

    rng = np.random.default_rng(3)
    ref = (rng.standard_normal((44100, 2)) * 3000).astype(np.int16)
    est = (ref + rng.standard_normal(ref.shape) * 300).astype(np.int16)
    est2 = (ref * 0.5).astype(np.int16)
    for e in (est, est2):
        shared = score(ref, e)
        alone = {k: fn(ref, e, 44100) for k, (fn, _, _) in METRICS.items()}
        assert shared.keys() == alone.keys() and all(np.isclose(shared[k], alone[k]) for k in alone)
    assert score(ref, est)["SNR"] != score(ref, est2)["SNR"]
