"""Error measures between a reference signal and an estimate, defined once here, computed block by block.

Every measure is read from the sums of a :class:`Scores` (one estimate against one reference), which takes the
two signals in blocks of :data:`BLOCK` frames: memory does not grow with a song's length. The functions
:func:`mae`, :func:`snr`, :func:`lsd` ... score whole arrays the same way (one definition of each measure).

Inputs are arrays of the same shape, (frames,) or (frames, channels). ``mae`` and ``snr`` take int16 units
(int or float arrays; nothing is rescaled). The spectral measures take the sample rate and int16-unit
signals too, and rescale them to float in [-1, 1) (divide by 32768) first, because the 1e-8 power clamp of
the LSD definition assumes that scale.
"""

import numpy as np

from .dsp import hann, spectra

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


#: Frames of the two signals a :class:`Scores` takes per block (5.9 s at 44.1 kHz: some 30 MB of spectra per
#: signal and channel). The low-band SNR sums each block's own spectrum (Parseval), so a song up to this long is
#: scored exactly as one whole-signal spectrum, a longer one within a few thousandths of a dB of it.
BLOCK = 1 << 18

def edge_bands(edge=HF_EDGE):
    """Bands of the band-error measure: 500 Hz wide, from about 2 kHz below the band edge up to 20 kHz (9-20 kHz
    at 11.025 kHz, 5.5-20 kHz at 7.5 kHz, the edge of a 15 kHz input)."""
    start = 500.0 * np.floor((edge - 2000.0) / 500.0)
    return [(f, f + 500.0) for f in np.arange(max(start, 0.0), 20000.0, 500.0)]


#: The band-error bands at 11.025 kHz: 500 Hz wide, from 9 to 20 kHz.
BANDS = edge_bands()
#: Bands of the original more than this far below its loudest band (dB) are left out of the band error: a
#: near-empty band (an original that ends at 19.5 kHz) would otherwise decide it with a ratio of two silences.
BAND_FLOOR_DB = 40.0


def _ratio_db(num, den):
    if den == 0:
        return float("nan")
    return float(10 * np.log10(max(num, 1e-30) / den))


class SpectralStream:
    """The STFT of a signal of known length, computed as its samples arrive, frame for frame as :func:`stft`.

    Frames are centred by reflect padding of ``n_fft // 2`` at both ends (zero padding for a signal too short to
    reflect), so a frame near the end is only complete once the last block is in: :meth:`push` returns the
    frames complete so far, and all the rest with the last block.

    Parameters
    ----------
    channels : int
    total : int
        The signal's length in frames.
    """

    def __init__(self, channels, total, n_fft=LSD_N_FFT, hop=LSD_HOP):
        self.channels, self.total, self.n_fft, self.hop = channels, total, n_fft, hop
        self.pad = n_fft // 2
        self.window = hann(n_fft, np.float64)
        self.reflect = total > self.pad
        self.buf = np.zeros((0, channels))  # the padded signal from frame ``next * hop`` on
        self.tail = np.zeros((0, channels))  # the last ``pad + 1`` samples pushed
        self.seen = 0
        self.frames = 1 + total // hop
        self.next = 0

    def push(self, x):
        """Add float frames (n, channels); return the spectra now complete, complex (channels, frames, bins)."""
        x = np.asarray(x, np.float64).reshape(-1, self.channels)
        first = self.seen == 0
        self.seen += x.shape[0]
        if self.seen > self.total:
            raise ValueError(f"more frames pushed ({self.seen}) than the signal has ({self.total})")
        parts = [self.buf]
        if first:
            if self.reflect and x.shape[0] <= self.pad:
                raise ValueError(f"the first block must hold more than {self.pad} frames")
            parts.append(x[self.pad:0:-1] if self.reflect else np.zeros((self.pad, self.channels)))
        parts.append(x)
        self.tail = np.concatenate([self.tail, x])[-(self.pad + 1):] if not first else x[-(self.pad + 1):]
        if self.seen == self.total:  # the end: its padding mirrors the last samples
            parts.append(self.tail[-2::-1][:self.pad] if self.reflect else np.zeros((self.pad, self.channels)))
        self.buf = np.concatenate(parts)
        ready = 0 if self.buf.shape[0] < self.n_fft else (self.buf.shape[0] - self.n_fft) // self.hop + 1
        ready = min(ready, self.frames - self.next)
        bins = self.n_fft // 2 + 1
        out = np.zeros((self.channels, ready, bins), complex)
        for c in range(self.channels if ready else 0):
            out[c] = spectra(self.buf[:(ready - 1) * self.hop + self.n_fft, c], self.n_fft, self.hop, self.window)
        self.next += ready
        self.buf = self.buf[ready * self.hop:]
        return out


def stft(x, n_fft=LSD_N_FFT, hop=LSD_HOP):
    """Complex STFT of a 1-D signal, framed as :func:`power_spectrogram` describes.

    Returns
    -------
    ndarray of complex, shape (n_fft // 2 + 1, 1 + n // hop)
    """
    x = np.asarray(x, dtype=np.float64)
    return SpectralStream(1, x.shape[0], n_fft, hop).push(x[:, None])[0].T


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
    return np.abs(stft(x, n_fft, hop)) ** 2


def _power(spec):
    return spec.real ** 2 + spec.imag ** 2


def log_power(power):
    """``log10(max(P / 32768^2, 1e-8))`` of int16-unit power spectra: the LSD's log power at full scale 1.0."""
    return np.log10(np.maximum(power / 32768.0 ** 2, LSD_CLAMP))


class Reference:
    """The reference of a :class:`Scores`: its STFT, log power and blocks, shared by every estimate of one song.

    Parameters
    ----------
    channels, total : int
        The reference's channels and length in frames.
    """

    def __init__(self, channels, total, n_fft=LSD_N_FFT, hop=LSD_HOP):
        self.stream = SpectralStream(channels, total, n_fft, hop)
        self.channels, self.total, self.n_fft, self.hop = channels, total, n_fft, hop
        self.long = np.zeros(n_fft // 2 + 1)  # power per bin, summed over frames and channels

    def push(self, x):
        """Take the next block (frames, channels), int16 units; it is what the estimates' next blocks score against."""
        self.block = np.asarray(x, np.float64).reshape(-1, self.channels)
        power = _power(self.stream.push(self.block))
        self.long += power.sum(axis=(0, 1))
        self.logp = log_power(power)


class Scores:
    """Every measure of one estimate against a :class:`Reference`, from sums taken block by block.

    Push the reference's block first, then the estimate's block of the same frames, blocks of :data:`BLOCK`
    frames (the last shorter). What is kept between blocks: a few sums per measure and the long-term spectra
    (``n_fft // 2 + 1`` numbers per signal), besides the open STFT frames.

    Parameters
    ----------
    reference : Reference
    rate : int
        Sample rate, Hz.
    edge : float
        The band edge, Hz: below it the band the input has (SNR-LF), from it up the band to restore (LSD-HF,
        HF energy).
    lsd_band : (float, float or None)
        Band of the LSD, Hz (None: to Nyquist).
    keep : (int, int), optional
        Frames ``[a, b)`` of both signals to keep (for ViSQOL's excerpt): :attr:`kept` once pushed.
    """

    def __init__(self, reference, rate=44100, edge=HF_EDGE, lsd_band=(0.0, None), keep=None):
        self.ref, self.rate, self.edge, self.keep = reference, rate, edge, keep
        ch, n_fft = reference.channels, reference.n_fft
        self.stream = SpectralStream(ch, reference.total, n_fft, reference.hop)
        self.freqs = np.arange(n_fft // 2 + 1) * rate / n_fft
        hi = lsd_band[1] if lsd_band[1] is not None else rate / 2
        self.lsd_sel = (self.freqs >= lsd_band[0]) & (self.freqs <= hi)
        self.hf_sel = self.freqs >= edge
        self.sums = dict.fromkeys(("abs", "count", "ref2", "err2", "low_ref", "low_err"), 0.0)
        self.lsd = np.zeros((2, ch))  # per channel: sum over frames of the frame's LSD, of its LSD-HF
        self.lsd_frames = 0
        self.long_est = np.zeros(n_fft // 2 + 1)  # power per bin, summed over frames and channels
        self.pos = 0
        self.kept = [[], []]

    def push(self, estimate):
        """Score the estimate's block against the reference's last pushed block (same frames, int16 units)."""
        r = self.ref.block
        e = np.asarray(estimate, np.float64).reshape(r.shape[0], -1)
        if e.shape != r.shape:
            raise ValueError(f"reference and estimate shapes differ: {r.shape} vs {e.shape}")
        if r.shape[0] > BLOCK:
            raise ValueError(f"blocks of at most {BLOCK} frames")
        s = self.sums
        d = r - e
        s["abs"] += float(np.abs(d).sum())
        s["count"] += d.size
        s["ref2"] += float(np.sum(r * r))
        s["err2"] += float(np.sum(d * d))
        self._low_band(r, d)
        power = _power(self.stream.push(e))
        if power.shape[1]:
            self.long_est += power.sum(axis=(0, 1))
            diff = self.ref.logp - log_power(power)
            del power
            np.square(diff, out=diff)
            for i, sel in enumerate((self.lsd_sel, self.hf_sel)):
                self.lsd[i] += np.sqrt(np.mean(diff[:, :, sel], axis=2)).sum(axis=1)
            self.lsd_frames += diff.shape[1]
        if self.keep:
            a, b = max(self.keep[0] - self.pos, 0), min(self.keep[1] - self.pos, r.shape[0])
            if a < b:
                self.kept[0].append(r[a:b])
                self.kept[1].append(e[a:b])
        self.pos += r.shape[0]

    def _low_band(self, r, d):
        """Energies below the edge of the reference and of the error, from this block's spectrum (Parseval)."""
        n = r.shape[0]
        f = np.fft.rfftfreq(n, 1.0 / self.rate)
        sel = f < self.edge
        # One-sided spectrum: every bin but DC (and Nyquist, for even n) stands for two.
        weight = np.where((f == 0) | ((n % 2 == 0) & (f == self.rate / 2)), 1.0, 2.0)[sel, None]
        for x, key in ((r, "low_ref"), (d, "low_err")):
            self.sums[key] += float(np.sum(weight * np.abs(np.fft.rfft(x, axis=0)[sel]) ** 2))

    # The measures, from the sums.

    def mae(self):
        s = self.sums
        return s["abs"] / s["count"] if s["count"] else float("nan")

    def snr(self):
        return _snr(self.sums["ref2"], self.sums["err2"])

    def snr_low_band(self):
        return _snr(self.sums["low_ref"], self.sums["low_err"])

    def lsd_value(self, hf=False):
        return float(np.mean(self.lsd[int(hf)] / self.lsd_frames)) if self.lsd_frames else float("nan")

    def hf_energy(self):
        return _ratio_db(self.long_est[self.hf_sel].sum(), self.ref.long[self.hf_sel].sum())

    def band_levels(self, bands=BANDS):
        """Long-term level of the estimate against the reference per band, dB (nan where the reference is empty)."""
        out = []
        for lo, hi in bands:
            sel = (self.freqs >= lo) & (self.freqs < hi)
            out.append(_ratio_db(self.long_est[sel].sum(), self.ref.long[sel].sum()))
        return np.array(out)

    def band_error(self, bands=None, floor_db=BAND_FLOOR_DB):
        """The largest long-term level difference over ``bands`` (default: :func:`edge_bands` of the edge), dB,
        leaving out the original's near-empty bands."""
        bands = edge_bands(self.edge) if bands is None else bands
        levels = self.band_levels(bands)
        power = np.array([self.ref.long[(self.freqs >= lo) & (self.freqs < hi)].sum() for lo, hi in bands])
        used = np.isfinite(levels) & (power >= power.max(initial=0.0) * 10 ** (-floor_db / 10))
        return float(np.abs(levels[used]).max()) if used.any() else float("nan")

    def edge_step(self):
        """The estimate's level step across the edge against the original's, dB (0: the edge is seamless).

        ``L(edge - 25 .. edge + 475) - L(edge - 1025 .. edge - 525)``, each band's level of the estimate against
        the reference (:meth:`band_levels`): at 11.025 kHz, 11-11.5 kHz against 10-10.5 kHz. Negative: a dip
        where the restored band begins; positive: a step up.
        """
        below, above = self.band_levels([(self.edge - 1025, self.edge - 525), (self.edge - 25, self.edge + 475)])
        return float(above - below)

    def result(self):
        """Every measure of :data:`METRICS` by name."""
        return {"MAE": self.mae(), "SNR": self.snr(), "LSD": self.lsd_value(), "LSD-HF": self.lsd_value(hf=True),
                "HF energy": self.hf_energy(), "SNR-LF": self.snr_low_band(), "band error": self.band_error(),
                "edge step": self.edge_step()}


def _snr(signal, noise):
    if signal == 0:
        return float("nan")
    return float("inf") if noise == 0 else float(10 * np.log10(signal / noise))


def score_arrays(reference, estimate, rate=44100, n_fft=LSD_N_FFT, hop=LSD_HOP, **options):
    """A :class:`Scores` of two whole arrays (frames,) or (frames, channels), pushed in :data:`BLOCK` blocks."""
    r, e = _pair(reference, estimate)
    r, e = _channels(r), _channels(e)
    ref = Reference(r.shape[1], r.shape[0], n_fft, hop)
    scores = Scores(ref, rate, **options)
    for i in range(0, max(r.shape[0], 1), BLOCK):
        ref.push(r[i:i + BLOCK])
        scores.push(e[i:i + BLOCK])
    return scores


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
    return _snr(float(np.sum(r ** 2)), float(np.sum((r - e) ** 2)))


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
    return score_arrays(reference, estimate, rate, n_fft, hop, lsd_band=band).lsd_value()


def lsd_hf(reference, estimate, rate=44100):
    """LSD over the reconstructed band alone, 11.025 kHz to Nyquist (see :func:`lsd`)."""
    return score_arrays(reference, estimate, rate).lsd_value(hf=True)


def hf_energy_ratio(reference, estimate, rate=44100, n_fft=LSD_N_FFT, hop=LSD_HOP):
    """Energy of the estimate in the 11.025 kHz-Nyquist band relative to the reference's, in dB.

    ``10 log10(sum P_est / sum P_ref)`` over the band's bins, all frames and channels. 0 dB: as much
    high-band energy as the original; very negative: the band is left empty (as by sinc interpolation);
    positive: too much. ``nan`` when the reference has no energy there.
    """
    return score_arrays(reference, estimate, rate, n_fft, hop).hf_energy()


def snr_low_band(reference, estimate, rate=44100):
    """SNR in dB over the band the input already has, below 11.025 kHz: what a model must not damage.

    The SNR (:func:`snr`) of the two signals after an ideal lowpass at :data:`HF_EDGE`: energies summed over
    the spectrum's bins below the edge (Parseval), all channels, of each block of :data:`BLOCK` frames (for a
    signal up to that long: its whole spectrum). Sinc interpolation scores high here; a model that only adds
    the top octave scores the same. ``nan`` for a reference with no energy there, ``inf`` for an exact low
    band.
    """
    return score_arrays(reference, estimate, rate).snr_low_band()


def band_levels(reference, estimate, rate=44100, bands=BANDS, n_fft=LSD_N_FFT, hop=LSD_HOP):
    """Long-term level of the estimate relative to the reference in each band, dB.

    ``10 log10(sum P_est / sum P_ref)`` over each band's bins, all frames and channels.

    Returns
    -------
    ndarray, shape (len(bands),)
        ``nan`` where the reference has no energy.
    """
    return score_arrays(reference, estimate, rate, n_fft, hop).band_levels(bands)


def band_error(reference, estimate, rate=44100):
    """The largest long-term level difference, dB, over the 500 Hz bands from 9 to 20 kHz (:func:`band_levels`).

    A band left empty, one too loud or a dip at the edge all show as a large value. Bands of the original more
    than :data:`BAND_FLOOR_DB` below its loudest band there are left out (a near-empty band of an original
    that ends at 19.5 kHz would otherwise decide the figure).
    """
    return score_arrays(reference, estimate, rate).band_error()


def edge_step(reference, estimate, rate=44100):
    """The level step across the 11.025 kHz edge, estimate against original, dB (see :meth:`Scores.edge_step`)."""
    return score_arrays(reference, estimate, rate).edge_step()


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
    "band error": (lambda r, e, rate: band_error(r, e, rate), "dB, worst 500 Hz band 9-20 kHz", "lower"),
    "edge step": (lambda r, e, rate: edge_step(r, e, rate), "dB, 11-11.5 against 10-10.5 kHz", "closer to 0"),
}
