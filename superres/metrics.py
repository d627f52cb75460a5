"""Error measures between a reference signal and an estimate, defined once here.

Inputs are arrays of the same shape, (frames,) or (frames, channels). ``mae`` and ``snr`` take int16 units
(int or float arrays; nothing is rescaled). The spectral measures take the sample rate and int16-unit
signals too, and rescale them to float in [-1, 1) (divide by 32768) first, because the 1e-8 power clamp of
the LSD definition assumes that scale.
"""

import contextlib

import numpy as np

#: STFT of the log-spectral distance, as in NU-Wave 2 and AP-BWE.
LSD_N_FFT = 2048
LSD_HOP = 512
LSD_CLAMP = 1e-8
#: Lower edge of the band the network reconstructs, Hz (the 22.05 kHz input's Nyquist frequency).
HF_EDGE = 11025.0


def _pair(reference, estimate):
    r = np.asarray(reference, dtype=np.float64)
    e = np.asarray(estimate, dtype=np.float64)
    if r.shape != e.shape:
        raise ValueError(f"reference and estimate shapes differ: {r.shape} vs {e.shape}")
    return r, e


def _channels(x):
    return x[:, None] if x.ndim == 1 else x


def mae(reference, estimate):
    """Mean absolute error in 16-bit units: ``mean(|reference - estimate|)`` over all samples and channels.

    The figure the original blog reported; 0 is perfect; one unit is 1/32768 of full scale.
    """
    r, e = _pair(reference, estimate)
    return float(np.mean(np.abs(r - e))) if r.size else float("nan")


def snr(reference, estimate):
    """Signal-to-noise ratio in dB: ``10 log10(sum(reference^2) / sum((reference - estimate)^2))``.

    Sums run over all samples and channels. ``inf`` for a perfect estimate; ``nan`` for an all-zero
    reference (the ratio is undefined).
    """
    r, e = _pair(reference, estimate)
    signal, noise = np.sum(r ** 2), np.sum((r - e) ** 2)
    if signal == 0:
        return float("nan")
    if noise == 0:
        return float("inf")
    return float(10 * np.log10(signal / noise))


def stft(x, n_fft=LSD_N_FFT, hop=LSD_HOP):
    """Complex STFT of a 1-D signal, framed as :func:`power_spectrogram` describes.

    Returns
    -------
    ndarray of complex, shape (n_fft // 2 + 1, 1 + n // hop)
    """
    import scipy.fft

    x = np.asarray(x, dtype=np.float64)
    pad = n_fft // 2
    x = np.pad(x, pad, mode="reflect" if x.shape[0] > pad else "constant")
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann, torch.hann_window
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop]
    return scipy.fft.rfft(frames * window, axis=1, workers=-1).T


#: Spectrograms kept while a :func:`spectrogram_cache` block runs: key -> (signal, spectrogram).
_CACHE = None


@contextlib.contextmanager
def spectrogram_cache():
    """Within this block, :func:`power_spectrogram` computes each signal's spectrogram once.

    The metrics of one song all need the STFT power of the same reference and estimate; this block (used by
    :func:`superres.evaluate.score`) shares them. Signals are recognised by their memory (address, shape,
    strides), and kept alive by the cache so that no other array can take their place; they must not be
    modified inside the block.
    """
    global _CACHE
    outer = _CACHE
    _CACHE = {} if outer is None else outer  # nested blocks share the outer one
    try:
        yield
    finally:
        _CACHE = outer


def power_spectrogram(x, n_fft=LSD_N_FFT, hop=LSD_HOP):
    """|STFT|^2 of a 1-D signal, as ``torch.stft(x, n_fft, hop, window=hann(n_fft), center=True)`` computes it.

    Unnormalised (no division by the window's energy), periodic Hann window, frames centred by reflect
    padding of ``n_fft // 2`` on both sides (zero padding for signals too short to reflect).

    Parameters
    ----------
    x : ndarray, shape (n,)

    Returns
    -------
    ndarray, shape (n_fft // 2 + 1, 1 + n // hop)
        Power per frequency bin (rows, bin k at ``k * rate / n_fft`` Hz) and frame (columns).
    """
    return _cached(x, ("power", n_fft, hop), lambda: np.abs(stft(x, n_fft, hop)) ** 2)


def _cached(x, what, compute):
    """``compute()``, kept for the array ``x`` under ``what`` while a :func:`spectrogram_cache` block runs."""
    if _CACHE is None or not isinstance(x, np.ndarray):
        return compute()
    key = (x.__array_interface__["data"][0], x.shape, x.strides, x.dtype.str, what)
    if key not in _CACHE:
        _CACHE[key] = (x, compute())
    return _CACHE[key][1]


def _log_power(x, n_fft, hop):
    # The spectrogram of the int16-unit signal, rescaled to full scale 1.0 (so the 1e-8 clamp applies as
    # defined).
    return _cached(x, ("log_power", n_fft, hop),
                   lambda: np.log10(np.maximum(power_spectrogram(x, n_fft, hop) / 32768.0 ** 2, LSD_CLAMP)))


def lsd(reference, estimate, rate=44100, band=(0.0, None), n_fft=LSD_N_FFT, hop=LSD_HOP):
    """Log-spectral distance as NU-Wave 2 / AP-BWE define it.

    For each channel: ``P = log10(max(|STFT|^2, 1e-8))`` of reference and estimate (STFT of
    :func:`power_spectrogram` on the signal scaled to [-1, 1)), then for every frame the root mean square
    over the frequency bins in ``band`` of ``P_ref - P_est``, then the mean over frames. Channels are
    averaged. Unitless (log10 of power); 0 is perfect.

    Parameters
    ----------
    reference, estimate : ndarray, shape (frames,) or (frames, channels), int16 units
    rate : int
        Sample rate, Hz.
    band : (float, float or None)
        Frequency range in Hz, bins with ``low <= f <= high``; ``(11025, None)`` gives LSD-HF.
    """
    r, e = _pair(reference, estimate)
    r, e = _channels(r), _channels(e)
    freqs = np.arange(n_fft // 2 + 1) * rate / n_fft
    lo, hi = band[0], band[1] if band[1] is not None else rate / 2
    sel = (freqs >= lo) & (freqs <= hi)
    out = []
    for c in range(r.shape[1]):
        d = _log_power(r[:, c], n_fft, hop)[sel] - _log_power(e[:, c], n_fft, hop)[sel]
        out.append(np.mean(np.sqrt(np.mean(d ** 2, axis=0))))
    return float(np.mean(out))


def lsd_hf(reference, estimate, rate=44100):
    """LSD over the reconstructed band alone, 11.025 kHz to Nyquist (see :func:`lsd`)."""
    return lsd(reference, estimate, rate, band=(HF_EDGE, None))


def hf_energy_ratio(reference, estimate, rate=44100, n_fft=LSD_N_FFT, hop=LSD_HOP):
    """Energy of the estimate in the 11.025 kHz-Nyquist band relative to the reference's, in dB.

    ``10 log10(sum P_est / sum P_ref)`` over the band's bins, all frames and channels. 0 dB: as much
    high-band energy as the original; very negative: the band is left empty (as by sinc interpolation);
    positive: too much. ``nan`` when the reference has no energy there.
    """
    r, e = _pair(reference, estimate)
    r, e = _channels(r), _channels(e)
    freqs = np.arange(n_fft // 2 + 1) * rate / n_fft
    sel = freqs >= HF_EDGE
    pr = sum(power_spectrogram(r[:, c], n_fft, hop)[sel].sum() for c in range(r.shape[1]))
    pe = sum(power_spectrogram(e[:, c], n_fft, hop)[sel].sum() for c in range(e.shape[1]))
    if pr == 0:
        return float("nan")
    return float(10 * np.log10(max(pe, 1e-30) / pr))


def snr_low_band(reference, estimate, rate=44100):
    """SNR in dB over the band the input already has, below 11.025 kHz: what a model must not damage.

    The SNR (:func:`snr`) of the two signals after an ideal lowpass at :data:`HF_EDGE`: energies summed over
    the whole-signal spectrum's bins below the edge (Parseval), all channels. Sinc interpolation scores high
    here; a model that only adds the top octave scores the same. ``nan`` for a reference with no energy
    there, ``inf`` for an exact low band.
    """
    r, e = _pair(reference, estimate)
    r, e = _channels(r), _channels(e)
    n = r.shape[0]
    f = np.fft.rfftfreq(n, 1.0 / rate)
    # One-sided spectrum: every bin but DC (and Nyquist, for even n) stands for two.
    weight = np.where((f == 0) | ((n % 2 == 0) & (f == rate / 2)), 1.0, 2.0)[f < HF_EDGE, None]
    sel = f < HF_EDGE
    spec_r = _cached(r, ("rfft_low", rate), lambda: np.fft.rfft(r, axis=0)[sel])
    signal = float(np.sum(weight * np.abs(spec_r) ** 2))
    noise = float(np.sum(weight * np.abs(spec_r - np.fft.rfft(e, axis=0)[sel]) ** 2))
    if signal == 0:
        return float("nan")
    return float("inf") if noise == 0 else float(10 * np.log10(signal / noise))


#: Bands of the seam measure: 500 Hz wide, from 9 to 20 kHz (both sides of the 11.025 kHz band edge).
SEAM_BANDS = [(f, f + 500.0) for f in np.arange(9000.0, 20000.0, 500.0)]


def band_levels(reference, estimate, rate=44100, bands=SEAM_BANDS, n_fft=LSD_N_FFT, hop=LSD_HOP):
    """Long-term level of the estimate relative to the reference in each band, dB.

    ``10 log10(sum P_est / sum P_ref)`` over each band's bins, all frames and channels.

    Returns
    -------
    ndarray, shape (len(bands),)
        ``nan`` where the reference has no energy.
    """
    r, e = _pair(reference, estimate)
    r, e = _channels(r), _channels(e)
    freqs = np.arange(n_fft // 2 + 1) * rate / n_fft
    pr = sum(power_spectrogram(r[:, c], n_fft, hop).sum(axis=1) for c in range(r.shape[1]))
    pe = sum(power_spectrogram(e[:, c], n_fft, hop).sum(axis=1) for c in range(e.shape[1]))
    out = []
    for lo, hi in bands:
        sel = (freqs >= lo) & (freqs < hi)
        ref, est = pr[sel].sum(), pe[sel].sum()
        out.append(float(10 * np.log10(max(est, 1e-30) / ref)) if ref > 0 else float("nan"))
    return np.array(out)


def seam(reference, estimate, rate=44100):
    """The largest long-term level difference, dB, over the 500 Hz bands from 9 to 20 kHz (:func:`band_levels`).

    A seam at the band edge (a dip or a step between what the input had and what was added), a band left
    empty or one too loud all show as a large value; under 3 dB in every band is the target.
    """
    levels = band_levels(reference, estimate, rate)
    finite = np.abs(levels[np.isfinite(levels)])
    return float(finite.max()) if finite.size else float("nan")


#: ViSQOL's audio mode works at this rate, Hz.
VISQOL_RATE = 48000


def visqol_api():
    """A ViSQOL scorer in audio mode (the optional ``visqol-python`` package), or a UserError saying how to get it."""
    from .errors import UserError

    try:
        from visqol import VisqolApi
    except ImportError:
        raise UserError("ViSQOL is optional and not installed: make visqol (or pip install -r "
                        "requirements-visqol.txt)") from None
    api = VisqolApi()
    api.create(mode="audio")
    return api


def visqol(reference, estimate, rate=44100, seconds=None, api=None):
    """ViSQOL MOS-LQO (audio mode, 1-5, higher is better), the mean over channels.

    Both signals are resampled to 48 kHz (soxr VHQ) as ViSQOL's audio mode requires; with ``seconds``, only
    that many seconds from the middle of the signal are scored (ViSQOL costs about a quarter of real time per
    channel on one core). ``nan`` for a silent reference.
    """
    import soxr

    r, e = _pair(reference, estimate)
    r, e = _channels(r) / 32768.0, _channels(e) / 32768.0
    if seconds is not None and r.shape[0] > seconds * rate:
        a = (r.shape[0] - int(seconds * rate)) // 2
        r, e = r[a:a + int(seconds * rate)], e[a:a + int(seconds * rate)]
    api = api or visqol_api()
    scores = []
    for c in range(r.shape[1]):
        if not np.any(r[:, c]):
            continue
        rc, ec = (soxr.resample(x[:, c], rate, VISQOL_RATE, quality="VHQ") for x in (r, e))
        scores.append(float(api.measure_from_arrays(rc, ec, sample_rate=VISQOL_RATE).moslqo))
    return float(np.mean(scores)) if scores else float("nan")


#: Every metric of the evaluation table: name -> (function(reference, estimate, rate), unit, better).
METRICS = {
    "MAE": (lambda r, e, rate: mae(r, e), "16-bit units", "lower"),
    "SNR": (lambda r, e, rate: snr(r, e), "dB", "higher"),
    "LSD": (lambda r, e, rate: lsd(r, e, rate), "log10 power", "lower"),
    "LSD-HF": (lambda r, e, rate: lsd_hf(r, e, rate), "log10 power", "lower"),
    "HF energy": (lambda r, e, rate: hf_energy_ratio(r, e, rate), "dB vs original", "closer to 0"),
    "SNR-LF": (lambda r, e, rate: snr_low_band(r, e, rate), "dB", "higher"),
    "seam": (lambda r, e, rate: seam(r, e, rate), "dB, worst 500 Hz band 9-20 kHz", "lower"),
}
