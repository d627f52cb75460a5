"""The real bandwidth of a recording: the frequency above which its long-term spectrum falls off a wall.

A resampler's or a codec's lowpass leaves a wall: the level drops by tens of dB within a few hundred Hz and
stays down, on the format's floor (or the filter's leakage), up to the file's Nyquist frequency. Music with
little treble falls gradually (a few dB per octave, or per kHz) and keeps falling: that is a slope, not a
wall, and the file is taken as full band. Some sounds fall steeply (a bird's call, a bell, a piano note, a
tabla): 30-40 dB within a kHz, as steep as a slow lowpass, but past the drop their level goes on falling for
kHz, or comes to rest on the recording's own noise, which a lowpass would have taken away with the rest (only
the file's own resampler near Nyquist takes that noise down to the format's floor). So a drop counts as a wall
only where what lies above it is a stopband: flat, on its floor (:func:`_is_stopband`).

The long-term spectrum is the mean power spectrum of the file's louder frames: frames are sorted into
loudness buckets as they stream past, and only those within :data:`LOUD_RANGE_DB` of the loudest bucket are
averaged, so silence, fades and quiet passages (whose top band sinks into the noise floor of the format)
neither hide a real top band nor fake a wall. Memory is a few spectra, whatever the length.
"""

from dataclasses import dataclass

import numpy as np

from .dsp import load_fft

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
#: Content up to this (Hz) leaves nothing audible missing: the file reads as full band. Measured on white noise
#: and music through :func:`superres.decode.encode_audio`: LAME's MP3 keeps 16.6 kHz at 128 kbps, 17.3 at
#: 160, 18.7 at 192, 19.4 at 224-256 and 20.1 at 320; FFmpeg's AAC 17.3 kHz at 128 kbps, 19.3 at 192. Full-band
#: originals mastered at 44.1 kHz through a resampler or a codec show walls at 18.7-19.0 kHz. 18.5 kHz leaves
#: the 128-160 kbps codecs' 17.3 kHz (and below) to restore, 1.2 kHz under it, and takes MP3 at 192 kbps and
#: those masters as full band: the little above 18.5 kHz is inaudible to nearly every adult.
FULL_BAND_HZ = 18500.0
#: Levels below this (dB, per-sample power in a bin) count as this: 10 dB under 16 bits' floor (about -100 dB
#: here). What lies lower in float and 24-bit files (a resampler's -170 dB stopband under the analysis window's
#: leakage skirt, an MP3's noise scattered over -110 to -130 dB, the rounding noise of a float spectrum) would
#: read as walls within the stopband, or as a stopband that keeps falling; here it is one flat floor.
FLOOR_DB = -110.0
#: No lowpass in use cuts below this (Hz): telephone audio keeps 3.4 kHz, a file at 8 kHz 3.6-3.8 kHz (only MP3
#: at 8 kbps goes lower, to 2 kHz). A drop found below it is a sound's own: a synthesizer drone whose partials
#: stop at 1.6 kHz, as steep as a lowpass and over a flat noise floor; a piano note, a tabla stroke, a glass hum.
MIN_WALL_HZ = 2500.0
#: Past its transition a lowpass's stopband falls no faster than this (dB per kHz, from its first kHz to its
#: second) while much of the fall is left: the noise FFmpeg's AAC leaves there (24-96 kbps) falls 2-7 dB per kHz,
#: a filter's floor not at all. A natural roll-off that has not ended falls 10-35 dB per kHz there.
STOP_FALL_DB_PER_KHZ = 8.0
#: ... "much of the fall": more than this share of the fall from the passband to the stopband's floor is left at
#: the stopband's start (a Chebyshev II's slow transition leaves up to 0.24, natural roll-offs 0.46 and more).
STILL_FALLING = 0.35
#: A stopband whose median lies more than this share of the fall above its floor, and level with its start
#: (within half that height), rests on the recording's own noise: a lowpass would have taken that away too, and
#: only the file's resampler near Nyquist (its floor, at the top) did. Codecs' stopbands fall evenly instead:
#: their median lies midway between start and floor.
RESTING = 0.15


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
        self._window32 = self.window.astype(np.float32)
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
        # Channel-major, each frame's samples contiguous: a batch of row transforms (half the time of numpy's
        # along a strided axis, with scipy's), in single precision (its rounding, 130 dB under a frame's level,
        # is far below any wall: the same cutoffs and drops as in double on 19 held-out songs as MP3, AAC, 22.05
        # and 32 kHz files), summed in double.
        frames = x[:k * self.n_fft].T.reshape(self.channels, k, self.n_fft).astype(np.float32) * self._window32
        spec = load_fft()[0](frames, axis=-1)
        power = (np.square(spec.real) + np.square(spec.imag)).astype(np.float64).sum(axis=0) / self.norm  # (k, bins)
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

    def bandwidth(self):
        """The :class:`Bandwidth` of what was pushed (:func:`detect_bandwidth`)."""
        power, rate = self.spectrum(), self.rate
        if power is None:  # all silence, or shorter than one frame: nothing to measure, taken to reach Nyquist
            return Bandwidth(rate / 2, rate, 0.0, rate / 2 >= FULL_BAND_HZ)
        cutoff, drop = find_cutoff(power, rate)
        return Bandwidth(cutoff, rate, drop, cutoff >= FULL_BAND_HZ)


def find_cutoff(power, rate):
    """The wall in a long-term power spectrum: ``(cutoff Hz, drop dB)``, or ``(rate / 2, 0.0)`` if there is none.

    A candidate edge ``f`` has a wall when the mean level over ``[f - BELOW_HZ, f)`` is at least
    :data:`WALL_DB` above the highest level of everything from ``f + TRANSITION_HZ`` to Nyquist (a spectrum
    smoothed over 100 Hz, so that one tone does not decide). Neighbouring edges with a wall make a run; a run
    is a lowpass's wall only if what lies above it is a stopband (:func:`_is_stopband`), else it is the fall of
    a natural roll-off. Of the runs that are walls the highest is taken, and the cutoff is the highest
    frequency there whose level is within :data:`EDGE_DB` of the passband's (the median level just below the
    run).
    """
    n_bins = power.shape[0]
    df = rate / 2 / (n_bins - 1)
    power = np.maximum(power, 10 ** (FLOOR_DB / 10))
    db = 10 * np.log10(_moving_mean(power, max(1, int(round(100.0 / df)))))
    below_n = max(1, int(round(BELOW_HZ / df)))
    guard = max(1, int(round(TRANSITION_HZ / df)))
    k = np.arange(below_n, n_bins - guard)
    if not k.size:
        return rate / 2, 0.0
    below = 10 * np.log10(np.convolve(power, np.ones(below_n) / below_n)[k - 1])  # mean over [k - below_n, k)
    above = np.maximum.accumulate(db[::-1])[::-1]  # the highest level from each bin up
    drop = below - above[k + guard]
    walls = np.flatnonzero(drop >= WALL_DB)
    if not walls.size:
        return rate / 2, 0.0
    # The runs of edges with a wall, highest first: each begins where the band below is still all passband and
    # goes on while the band below still holds enough of it. The passband's level is the median (of the smoothed
    # spectrum) over the band below the run's start: tones above it and codec holes below it do not move it.
    gaps = np.flatnonzero(np.diff(walls) > 1)
    for first, last in zip(np.r_[walls[0], walls[gaps + 1]][::-1], np.r_[walls[gaps], walls[-1]][::-1]):
        lo = max(0, k[first] - below_n)
        level = np.median(db[lo:k[first]])
        inside = np.flatnonzero(db[lo:k[last] + guard] >= level - EDGE_DB)
        cutoff = min((lo + inside[-1] + 1) * df if inside.size else k[first] * df, rate / 2)
        if cutoff >= MIN_WALL_HZ and _is_stopband(power, db, k[last] + guard, level, df):
            return float(cutoff), float(drop[first:last + 1].max())
    return rate / 2, 0.0


def _is_stopband(power, db, start, level, df):
    """Whether the spectrum from bin ``start`` up (past a candidate wall's transition) is a lowpass's stopband.

    A lowpass leaves nothing of the signal above its transition: the level there is the format's floor
    (rounding, dither), or the filter's leakage, or a codec's noise, flat or falling slowly and evenly up to
    Nyquist. Past a steep natural roll-off the spectrum is one of two things instead (as on held-out samples: a
    glass hum and a piano note, still falling; two bird calls, resting on the recording's noise):

    - still falling: fast (over :data:`STOP_FALL_DB_PER_KHZ`) from the stopband's first kHz to its second, with
      more than :data:`STILL_FALLING` of the fall from the passband's ``level`` to the stopband's floor left;
    - resting on the recording's noise: level at the start and the median, :data:`RESTING` of the fall or more
      above the floor, which lies only at the top, where the file's own resampler took that noise away.

    The floor is the 5th percentile of the smoothed spectrum above ``start``. How deep the stopband lies is no
    evidence: a clean recording's noise can lie 60 dB below a loud sound.
    """
    n = max(1, int(round(1000.0 / df)))
    first = 10 * np.log10(np.mean(power[start:start + n]))
    after = power[start + n:start + 2 * n]
    second = 10 * np.log10(np.mean(after)) if after.size else first
    rest = db[start:]
    floor = np.percentile(rest, 5)
    fall = max(level - floor, 1e-9)
    left = (first - floor) / fall
    median = (np.median(rest) - floor) / fall
    still_falling = left > STILL_FALLING and first - second > STOP_FALL_DB_PER_KHZ
    resting = median > RESTING and abs(left - median) < median / 2
    return not (still_falling or resting)


def _moving_mean(x, n):
    """Mean over ``n`` bins centred on each (fewer at the ends), summed locally: a cumulative sum would leave
    rounding errors of the whole spectrum's total (about -140 dB) in the stopband's bins."""
    if n <= 1:
        return x
    half = n // 2
    ones = np.ones(2 * half + 1)
    return np.convolve(x, ones, "same") / np.convolve(np.ones_like(x), ones, "same")


def detect_bandwidth(blocks, rate, channels):
    """Measure the real bandwidth of a signal given as float blocks (frames, channels) at ``rate``.

    Returns
    -------
    Bandwidth
    """
    stream = SpectrumStream(rate, channels)
    for x in blocks:
        stream.push(x)
    return stream.bandwidth()


def bandwidth_of(x, rate):
    """:func:`detect_bandwidth` of a whole array, (frames,) or (frames, channels), float full scale 1.0."""
    x = np.asarray(x, np.float64)
    x = x[:, None] if x.ndim == 1 else x
    return detect_bandwidth([x], rate, x.shape[1])
