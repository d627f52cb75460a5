"""The real bandwidth of a recording: the frequency above which its long-term spectrum falls off a wall.

A resampler's or a codec's lowpass leaves a wall: the level drops by tens of dB within a few hundred Hz and
stays down up to the file's Nyquist frequency. Music with little treble falls gradually (a few dB per
octave, or per kHz) and keeps falling: that is a slope, not a wall, and the file is taken as full band.

The long-term spectrum is the mean power spectrum of the file's louder frames: frames are sorted into
loudness buckets as they stream past, and only those within :data:`LOUD_RANGE_DB` of the loudest bucket are
averaged, so silence, fades and quiet passages (whose top band sinks into the noise floor of the format)
neither hide a real top band nor fake a wall. Memory is a few spectra, whatever the length.
"""

from dataclasses import dataclass

import numpy as np

#: A drop of at least this much (dB) from the band below a frequency to everything above it (past the
#: transition) is a wall.
WALL_DB = 30.0
#: Width of the band below a candidate edge whose mean level the drop is measured from, Hz.
BELOW_HZ = 1000.0
#: The transition band a lowpass may take between passband and stopband, Hz (FIR and IIR lowpasses, codecs).
TRANSITION_HZ = 600.0
#: The cutoff is the highest frequency whose level is within this much of the band below the edge, dB.
EDGE_DB = 10.0
#: Frames more than this much quieter than the loudest frames are left out of the long-term spectrum, dB.
LOUD_RANGE_DB = 30.0
#: Loudness buckets are this wide, dB.
BUCKET_DB = 6.0
#: Frames quieter than this (dBFS, mean power per sample) hold nothing to measure.
SILENCE_DBFS = -90.0
#: Content up to this (Hz) leaves nothing audible missing: the file reads as full band (a 320 kbps MP3's
#: lowpass, an original mastered at 44.1 kHz through a resampler).
FULL_BAND_HZ = 19500.0


@dataclass(frozen=True)
class Bandwidth:
    """What :func:`detect_bandwidth` found.

    Attributes
    ----------
    cutoff : float
        Hz: the highest frequency of real content (the file's Nyquist frequency when no wall is below it).
    rate : int
        The file's sample rate, Hz.
    wall_db : float
        The drop at the wall, dB (0 when there is none).
    full_band : bool
        Nothing to restore: the content reaches :data:`FULL_BAND_HZ`.
    """

    cutoff: float
    rate: int
    wall_db: float
    full_band: bool

    def describe(self):
        """``44.1 kHz, content up to 16.8 kHz`` (or ``..., full band``)."""
        head = f"{self.rate / 1000:g} kHz"
        if self.full_band:
            return f"{head}, full band" + ("" if self.wall_db else " (no lowpass found)")
        return f"{head}, content up to {self.cutoff / 1000:.1f} kHz"


class SpectrumStream:
    """The long-term power spectrum of a signal's louder frames, accumulated block by block.

    Parameters
    ----------
    rate : int
        Hz.
    channels : int
    n_fft : int, optional
        Frame length (default: about 93 ms, 10.8 Hz bins at 44.1 kHz).
    """

    def __init__(self, rate, channels, n_fft=None):
        self.rate, self.channels = rate, channels
        self.n_fft = n_fft or int(2 ** np.round(np.log2(4096 * rate / 44100)))
        self.window = np.hanning(self.n_fft)
        self.norm = float(np.sum(self.window ** 2))
        self.buckets = {}  # loudness bucket -> [sum of power spectra, frames]
        self.rest = np.zeros((0, channels))

    def push(self, x):
        """Add float samples (frames, channels), full scale 1.0."""
        x = np.concatenate([self.rest, np.asarray(x, np.float64).reshape(-1, self.channels)])
        k = x.shape[0] // self.n_fft
        self.rest = x[k * self.n_fft:]
        if not k:
            return
        frames = x[:k * self.n_fft].reshape(k, self.n_fft, self.channels) * self.window[None, :, None]
        power = (np.abs(np.fft.rfft(frames, axis=1)) ** 2).sum(axis=2) / self.norm  # (k, bins), summed channels
        level = 10 * np.log10(np.maximum(power.sum(axis=1) / self.n_fft / self.channels, 1e-30))
        for b in np.unique(np.floor(level[level > SILENCE_DBFS] / BUCKET_DB)).astype(int):
            sel = np.floor(level / BUCKET_DB).astype(int) == b
            acc = self.buckets.setdefault(int(b), [0.0, 0])
            acc[0] = acc[0] + power[sel & (level > SILENCE_DBFS)].sum(axis=0)
            acc[1] += int(np.count_nonzero(sel & (level > SILENCE_DBFS)))

    def spectrum(self):
        """The mean power spectrum of the frames within :data:`LOUD_RANGE_DB` of the loudest; None if all silent."""
        if not self.buckets:
            return None
        top = max(self.buckets)
        used = [v for b, v in self.buckets.items() if (top - b) * BUCKET_DB <= LOUD_RANGE_DB]
        return sum(v[0] for v in used) / sum(v[1] for v in used)


def find_cutoff(power, rate):
    """The wall in a long-term power spectrum: ``(cutoff Hz, drop dB)``, or ``(rate / 2, 0.0)`` if there is none.

    A candidate edge ``f`` has a wall when the mean level over ``[f - BELOW_HZ, f)`` is at least
    :data:`WALL_DB` above the highest level of everything from ``f + TRANSITION_HZ`` to Nyquist (a spectrum
    smoothed over 100 Hz, so that one tone does not decide). Of the edges with a wall the highest run is
    taken, and the cutoff is the highest frequency there whose level is within :data:`EDGE_DB` of the
    passband's (the median level just below the run).
    """
    n_bins = power.shape[0]
    df = rate / 2 / (n_bins - 1)
    smooth = _moving_mean(power, max(1, int(round(100.0 / df))))
    db = 10 * np.log10(np.maximum(smooth, 1e-30))
    below_n = max(1, int(round(BELOW_HZ / df)))
    guard = max(1, int(round(TRANSITION_HZ / df)))
    csum = np.concatenate([[0.0], np.cumsum(power)])
    k = np.arange(below_n, n_bins - guard)
    if not k.size:
        return rate / 2, 0.0
    below = 10 * np.log10(np.maximum((csum[k] - csum[k - below_n]) / below_n, 1e-30))
    above = np.maximum.accumulate(db[::-1])[::-1]  # the highest level from each bin up
    drop = below - above[k + guard]
    walls = np.flatnonzero(drop >= WALL_DB)
    if not walls.size:
        return rate / 2, 0.0
    # The highest run of edges with a wall: it begins where the band below is still all passband and goes on
    # while the band below still holds enough of it. The passband's level is the median (of the smoothed
    # spectrum) over the band below the run's start: tones above it and codec holes below it do not move it.
    last = walls[-1]
    first = last
    while first > 0 and drop[first - 1] >= WALL_DB:
        first -= 1
    lo = max(0, k[first] - below_n)
    level = np.median(db[lo:k[first]])
    inside = np.flatnonzero(db[lo:k[last] + guard] >= level - EDGE_DB)
    cutoff = (lo + inside[-1] + 1) * df if inside.size else k[first] * df
    return float(min(cutoff, rate / 2)), float(drop[first:last + 1].max())


def _moving_mean(x, n):
    if n <= 1:
        return x
    c = np.concatenate([[0.0], np.cumsum(x)])
    half = n // 2
    i = np.arange(x.shape[0])
    a, b = np.maximum(0, i - half), np.minimum(x.shape[0], i + half + 1)
    return (c[b] - c[a]) / (b - a)


def detect_bandwidth(blocks, rate, channels):
    """Measure the real bandwidth of a signal given as float blocks (frames, channels) at ``rate``.

    Returns
    -------
    Bandwidth
    """
    stream = SpectrumStream(rate, channels)
    for x in blocks:
        stream.push(x)
    power = stream.spectrum()
    if power is None:  # all silence, or shorter than one frame: nothing to measure, taken to reach Nyquist
        return Bandwidth(rate / 2, rate, 0.0, rate / 2 >= FULL_BAND_HZ)
    cutoff, drop = find_cutoff(power, rate)
    return Bandwidth(cutoff, rate, drop, cutoff >= FULL_BAND_HZ)


def bandwidth_of(x, rate):
    """:func:`detect_bandwidth` of a whole array, (frames,) or (frames, channels), float full scale 1.0."""
    x = np.asarray(x, np.float64)
    x = x[:, None] if x.ndim == 1 else x
    return detect_bandwidth([x], rate, x.shape[1])
