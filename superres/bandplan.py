"""The ``gen`` architecture's band plan: STFT, the bins it reads and writes, the copy-up, the crossfade.

Keras-free, so that prediction (:mod:`superres.genstream`, numpy) and training (:mod:`superres.models.gen`,
Keras) share one definition. Frequencies are at 44.1 kHz; a bin is 44100 / 1024 = 43.07 Hz wide.
"""

import numpy as np

#: The input rate the band plan is made for (its input band ends at 11.025 kHz, ``LOW_BINS``), Hz.
from .audio import LOW_RATE  # noqa: F401

#: STFT points and hop (23 ms frames every 5.8 ms), periodic Hann window, frames centred (reflect padding).
FFT, HOP = 1024, 256
#: Bins below 11.025 kHz: the band the input has, and the backbone's features.
LOW_BINS = FFT // 4
#: First bin the generator writes (10.51 kHz). Resamplers roll off from about 10 kHz: between here and
#: 11.025 kHz the generator only re-weights the input's own bins (their phase is the original's), above it
#: it writes copied-up bins.
MERGE_LO = 244
#: Bins the generator writes: ``MERGE_LO .. FFT/2`` (10.51-22.05 kHz).
TOP_BINS = FFT // 2 + 1 - MERGE_LO
#: Highest source bin of the copy-up (10.34 kHz): below the roll-off of any common resampler.
SOURCE_HI = 240
#: Shifts are whole multiples of this many bins: a multiple of FFT / HOP = 4 turns each bin's phase by a
#: whole number of turns per hop, so the copied band stays coherent from frame to frame.
SHIFT = 128
#: Log gains (natural log, of magnitude) are clipped to this range: -130 dB .. +43 dB.
MIN_LOG_GAIN, MAX_LOG_GAIN = -15.0, 5.0
#: The head's initial log gain: the copied band 12 dB down.
INITIAL_LOG_GAIN = float(np.log(10 ** (-12 / 20)))
#: Power floor of the features, full scale^2 per bin (far below one 16-bit LSB's): silence is a constant.
POWER_FLOOR = 1e-10
#: The features are ``FEATURE_SCALE * log10(power + POWER_FLOOR) + FEATURE_OFFSET``: about [-1, 2].
FEATURE_SCALE, FEATURE_OFFSET = 0.2, 1.0


def source_bins():
    """For each written bin ``MERGE_LO + i``, the input bin it is made from: int array (TOP_BINS,).

    Below 11.025 kHz, the bin itself (the generator re-weights the input's roll-off). Above, bin ``k`` takes
    bin ``k - SHIFT * ceil((k - SOURCE_HI) / SHIFT)``: the highest copy of the 5-10.3 kHz band that lands on
    it, so every copied bin is below the resamplers' roll-off.
    """
    k = np.arange(MERGE_LO, FFT // 2 + 1)
    copied = (k - SHIFT * np.ceil((k - SOURCE_HI) / SHIFT)).astype(np.int64)
    return np.where(k < LOW_BINS, k, copied)


def log_gain_offset():
    """Added to the head's log gains: float32 (TOP_BINS,), 0 on the input's own bins, ``INITIAL_LOG_GAIN``
    on the copied ones, so that an untrained head leaves the input as it is and adds the copied band 12 dB
    down."""
    k = np.arange(MERGE_LO, FFT // 2 + 1)
    return np.where(k < LOW_BINS, 0.0, INITIAL_LOG_GAIN).astype(np.float32)


def features(power, xp=np):
    """The backbone's input from the low band's power (frames, LOW_BINS): log10, brought near [-1, 2].

    ``xp`` is ``numpy`` or ``keras.ops`` (both have ``log10``).
    """
    return FEATURE_SCALE * xp.log10(power + POWER_FLOOR) + FEATURE_OFFSET


def context_frames(config):
    """Frames either side that one output frame of the backbone depends on: ``blocks * (kernel - 1) / 2``."""
    return config["blocks"] * (config["kernel"] - 1) // 2


# ---------------------------------------------------------------------------------------------------------------
# The band plan of any cutoff (the ``cgen`` architecture): the same STFT, merge zone and coherent copy-up, placed
# at the cutoff the input's bandwidth detection found instead of at 11.025 kHz.

#: Width of one STFT bin, Hz.
BIN_HZ = 44100 / FFT
#: Cutoffs a cutoff-conditioned generator restores from, Hz.
MIN_CUTOFF_HZ, MAX_CUTOFF_HZ = 4000.0, 20000.0
#: Bins below the cutoff that the generator re-weights (a lowpass's roll-off), as ``MERGE_LO`` below 11.025 kHz.
MERGE_BINS = LOW_BINS - MERGE_LO
#: Bins between the top of the copy's source and the cutoff (below any lowpass's roll-off), as ``SOURCE_HI``.
SOURCE_GAP = LOW_BINS - SOURCE_HI
#: Shifts of the copy are whole multiples of this many bins: ``FFT / HOP``, a whole number of phase turns per hop.
SHIFT_STEP = FFT // HOP
#: All bins: the features of a cutoff-conditioned backbone are every bin's, masked above the cutoff.
ALL_BINS = FFT // 2 + 1


def cutoff_bin(cutoff_hz, xp=np):
    """The first missing bin of a cutoff (Hz), clipped to the trained range: 256 at 11.025 kHz.

    With ``xp`` ``numpy`` and a number: an int; with ``keras.ops`` and a tensor of cutoffs: float bins of the
    same shape (the network's and the loss's)."""
    bins = xp.floor(xp.clip(cutoff_hz, MIN_CUTOFF_HZ, MAX_CUTOFF_HZ) / BIN_HZ + 0.5)
    return int(bins) if xp is np else bins


#: The lowest bin a cutoff-conditioned generator writes (at the lowest cutoff), and the number it may write.
ANY_LO = cutoff_bin(MIN_CUTOFF_HZ) - MERGE_BINS
ANY_BINS = ALL_BINS - ANY_LO


def copy_shift(kc, xp=np):
    """The shift of the copy-up below cutoff bin ``kc`` (int or array): the whole multiple of ``SHIFT_STEP``
    nearest half the source's top, so that the octave below the cutoff is what is copied (120 bins, 5.2 kHz, at
    11.025 kHz; SBR's choice)."""
    hi = kc - SOURCE_GAP
    return SHIFT_STEP * xp.maximum(1, xp.floor(hi / (2 * SHIFT_STEP) + 0.5))


def any_plan(kc, xp=np):
    """Where every writable bin ``ANY_LO .. FFT/2`` comes from, for cutoff bins ``kc`` (shape (...,)).

    Returns
    -------
    source : int array (..., ANY_BINS)
        The input bin each one is made from: below the cutoff the bin itself (re-weighted), above it bin
        ``k - S ceil((k - hi) / S)`` with ``hi = kc - SOURCE_GAP`` and ``S`` = :func:`copy_shift`: the highest
        copy of the band below ``hi`` that lands on it, phase-coherent from frame to frame.
    written : float array (..., ANY_BINS)
        1 where the generator writes (``kc - MERGE_BINS`` and up), 0 below, where the input stays as it is.
    offset : float array (..., ANY_BINS)
        Added to the backbone's log gains: 0 on the input's own bins, ``INITIAL_LOG_GAIN`` on copied ones.
    """
    kc = xp.asarray(kc)[..., None] if xp is np else xp.expand_dims(kc, -1)
    k = xp.arange(ANY_LO, ALL_BINS) if xp is np else xp.arange(ANY_LO, ALL_BINS, dtype="float32")
    kc = kc.astype(np.float64) if xp is np else xp.cast(kc, "float32")
    k = k.astype(np.float64) if xp is np else k
    hi, shift = kc - SOURCE_GAP, copy_shift(kc, xp)
    above = k >= kc
    source = xp.where(above, k - shift * xp.ceil((k - hi) / shift), k)
    written = xp.where(k >= kc - MERGE_BINS, 1.0, 0.0)
    offset = xp.where(above, INITIAL_LOG_GAIN, 0.0)
    if xp is np:
        return source.astype(np.int64), written.astype(np.float32), offset.astype(np.float32)
    return xp.cast(source, "int32"), written, offset


def any_features(power, kc, xp=np):
    """The cutoff-conditioned backbone's input: (..., frames, 2 ALL_BINS) from every bin's power (..., frames,
    ALL_BINS) and cutoff bins ``kc`` (...,): :func:`features` below the cutoff and silence's above it, then a
    mask that is 1 on the missing bins (the network is told where the band ends)."""
    k = np.arange(ALL_BINS) if xp is np else xp.arange(ALL_BINS, dtype="float32")
    kc = xp.asarray(kc)[..., None, None] if xp is np else xp.expand_dims(xp.expand_dims(xp.cast(kc, "float32"), -1),
                                                                          -1)
    missing = (k >= kc).astype(np.float32) if xp is np else xp.cast(k >= kc, "float32")
    feats = features(power * (1.0 - missing), xp)
    missing = missing * xp.ones_like(feats[..., :1]) if xp is np else xp.broadcast_to(missing, xp.shape(feats))
    return xp.concatenate([feats, missing], axis=-1)
