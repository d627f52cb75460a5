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


def _bin_centred_cosine(amp, k0=700, n=256 * 172 + 1):
    """``amp * cos(2 pi k0 t / 2048)`` (int16 units), a tone at the centre of 2048-point bin ``k0`` (15.07 kHz).

    Every STFT frame sees the same cosine, the centring's reflections included (a cosine is even about sample 0,
    and about sample n - 1 since ``k0 (n - 1) / 1024`` is whole), so its power on the full scale 1.0 is known
    exactly: ``(a * 512)^2`` in bin k0 and ``(a * 256)^2`` in bins k0 - 1 and k0 + 1 (the periodic Hann window's
    transform is 1/2, -1/4, -1/4 of its 2048 points), with ``a = amp / 32768``, and nothing (float rounding,
    1e-18 or less) in the others.
    """
    return amp * np.cos(2 * np.pi * k0 * np.arange(n) / 2048)


def _lsd_against_silence(amp, bins):
    """The LSD's definition for that cosine against a silent estimate, over a band of ``bins`` bins holding k0:
    every frame has ``d = log10(max(P, 1e-8)) - log10(1e-8)`` in the three bins and 0 in the others."""
    a = amp / 32768.0
    power = np.array([(a * 256) ** 2, (a * 512) ** 2, (a * 256) ** 2])
    d = np.log10(np.maximum(power, 1e-8)) - np.log10(1e-8)
    return float(np.sqrt(np.sum(d ** 2) / bins))


def test_lsd_uses_the_1e8_clamp_on_full_scale_power():
    # The full-scale spectrogram of the tone is what the docstring above says (scipy's STFT, framed as the LSD's:
    # see test_power_spectrogram_matches_scipy_centered_hann_unnormalised).
    x = _bin_centred_cosine(16384.0)
    _, _, z = scipy.signal.stft(x / 32768.0, window="hann", nperseg=2048, noverlap=2048 - 512, boundary="even",
                                padded=False, detrend=False)
    p = np.abs(z * scipy.signal.get_window("hann", 2048).sum()) ** 2
    assert p.shape == (1025, 87)
    np.testing.assert_allclose(p[699:702], np.array([[256.0 ** 2], [512.0 ** 2], [256.0 ** 2]]) * np.ones(87) / 4,
                               rtol=1e-9)
    assert np.delete(p, [699, 700, 701], axis=0).max() < 1e-15
    silent = np.zeros_like(x)
    # Half of full scale, against silence: d = 12.82 in bin 700 and 12.21 beside it, 0 in every other bin (both
    # clamped); LSD-HF over the 513 bins from 11.025 kHz up = 0.9497, LSD over all 1025 = 0.6718. Without the
    # rescale to full scale (power in 16-bit units) it would be 1.64 and 1.16; with a clamp of 1e-10, 1.10.
    assert lsd_hf(x, silent) == pytest.approx(_lsd_against_silence(16384.0, 513), rel=1e-6)
    assert lsd_hf(x, silent) == pytest.approx(0.94965, abs=1e-5)
    assert lsd(x, silent) == pytest.approx(_lsd_against_silence(16384.0, 1025), rel=1e-6)
    assert lsd(x, silent) == pytest.approx(0.67183, abs=1e-5)
    assert lsd_hf(silent, x) == lsd_hf(x, silent)  # |d| is symmetric
    # 0.01 of a 16-bit step: 2.4e-8 of full-scale power in bin 700 (above the clamp: d = log10(2.44) = 0.388),
    # 6.1e-9 beside it (below: clamped as silence is, d = 0). LSD-HF = 0.388 / sqrt(513) = 0.0171.
    quiet = _bin_centred_cosine(0.01)
    assert lsd_hf(quiet, silent) == pytest.approx(_lsd_against_silence(0.01, 513), rel=1e-6)
    assert lsd_hf(quiet, silent) == pytest.approx(0.0171147, abs=1e-6)
    # Half that tone is below the clamp in every bin: to the LSD it is silence.
    assert lsd_hf(quiet, 0.5 * quiet) == pytest.approx(lsd_hf(quiet, silent), rel=1e-12)
    # 0.005 of a step: every bin below the clamp, so the tone, half of it and silence are the same spectrum to
    # the LSD (in 16-bit units they would be far above the clamp, and log10(4) apart).
    quieter = _bin_centred_cosine(0.005)
    assert lsd_hf(quieter, silent) == 0.0 and lsd(quieter, 0.5 * quieter) == 0.0
    # Above the clamp, twice the amplitude is log10(4) in each of the three bins, whatever the scale.
    assert lsd_hf(x, 2 * x) == pytest.approx(np.log10(4) * np.sqrt(3 / 513), rel=1e-6)


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


def test_band_error_is_the_worst_band_level_from_9_to_20_khz_of_the_bands_the_original_has():
    from superres.metrics import BANDS, band_error, band_levels

    low, high = _split_bands(noise(44100, amp=3000.0))
    ref = low + high
    assert band_error(ref, ref) == pytest.approx(0.0, abs=1e-9)
    # The top octave at half its amplitude: -6.02 dB in every band above the edge, 0 below.
    levels = band_levels(ref, low + 0.5 * high)
    edges = np.array([lo for lo, _ in BANDS])
    assert np.allclose(levels[edges >= 11500], 20 * np.log10(0.5), atol=0.05)
    assert np.allclose(levels[edges + 500 <= 10500], 0.0, atol=0.05)
    assert band_error(ref, low + 0.5 * high) == pytest.approx(6.02, abs=0.1)
    # An empty top octave (sinc) is a large band error.
    assert band_error(ref, low) > 40
    # An original that ends at 18.5 kHz: its near-empty bands from 19 kHz up (more than 40 dB down) are left
    # out, so 19.5-20 kHz restored 40 dB above the original's faint floor does not decide the figure, as a ratio
    # of two near-silences would ...
    short, top = _split_bands(ref, 18500.0)
    ref2 = short + 1e-3 * top
    _, faint = _split_bands(noise(44100, amp=300.0, seed=4), 19500.0)
    est = ref2 + faint
    assert band_levels(ref2, est)[-1] > 20
    assert band_error(ref2, est) < 0.5
    # ... while a band the original really has is never left out.
    assert band_error(ref, short) > 40


def test_edge_step_is_the_level_step_across_the_edge_against_the_original():
    from superres.metrics import edge_step

    low, high = _split_bands(noise(44100, amp=3000.0))
    ref = low + high
    assert edge_step(ref, ref) == pytest.approx(0.0, abs=1e-9)
    # 11-11.5 kHz is restored band but for its first bin (11002 Hz, of 24 bins of 21.5 Hz): the top band at
    # half its amplitude is a step down of 10 log10((1 + 23 / 4) / 24) = -5.5 dB; twice as loud, a step up.
    assert edge_step(ref, low + 0.5 * high) == pytest.approx(10 * np.log10((1 + 23 / 4) / 24), abs=0.1)
    assert edge_step(ref, low + 2 * high) == pytest.approx(10 * np.log10((1 + 23 * 4) / 24), abs=0.1)
    # A gain on the whole signal is no step.
    assert edge_step(ref, 0.5 * ref) == pytest.approx(0.0, abs=1e-9)


def test_every_metric_of_a_song_is_the_same_streamed_in_blocks_or_scored_whole(monkeypatch):
    import superres.metrics as metrics

    rng = np.random.default_rng(5)
    ref = rng.standard_normal((30000, 2)) * 3000
    est = ref + rng.standard_normal((30000, 2)) * 300
    whole = metrics.score_arrays(ref, est).result()
    # Blocks of 4096 frames: the STFT frames straddle blocks; the low-band spectrum is summed per block,
    # which for noise-like signals agrees with the whole-signal spectrum to a few hundredths of a dB.
    monkeypatch.setattr(metrics, "BLOCK", 4096)
    blocked = metrics.score_arrays(ref, est).result()
    for k in whole:
        tol = 0.05 if k == "SNR-LF" else 1e-9
        assert blocked[k] == pytest.approx(whole[k], rel=tol, abs=tol), k


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
