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

