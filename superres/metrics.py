"""Error measures between a reference signal and an estimate.

All functions take arrays of the same shape, (frames,) or (frames, channels), in int16 units (float or int
arrays are both fine; nothing is rescaled).
"""

import numpy as np


def mae(reference, estimate):
    """Mean absolute error in 16-bit units: ``mean(|reference - estimate|)`` over all samples and channels.

    This is the figure the original blog reported; 0 is perfect, and for a full-scale signal one unit is
    1/32768 of full scale.
    """
    r, e = _pair(reference, estimate)
    return float(np.mean(np.abs(r - e))) if r.size else float("nan")


def _pair(reference, estimate):
    r = np.asarray(reference, dtype=np.float64)
    e = np.asarray(estimate, dtype=np.float64)
    if r.shape != e.shape:
        raise ValueError(f"reference and estimate shapes differ: {r.shape} vs {e.shape}")
    return r, e
