"""The real band below a cutoff and the generated band above it, joined without a seam, in a stream.

``y = real + HP(generated - real)``: a linear-phase FIR highpass (Kaiser window, 130 dB stopband) whose
transition runs over the last few hundred Hz below the cutoff. Below the transition ``y`` is the input's own
signal to within the stopband (-130 dB of the difference between the two), above the cutoff it is the
generated band, and across the transition the two are crossfaded with complementary gains (the highpass and
its complement sum to one), so nothing is lost or doubled at the join.
"""

import numpy as np

#: Stopband attenuation of the highpass, dB: the kept band's error is this far below the difference between
#: the two streams, under a 24-bit output's resolution.
STOPBAND_DB = 130.0
#: Width of the crossfade below the cutoff: this share of the cutoff, at least ``MIN_TRANSITION_HZ``.
TRANSITION = 0.04
MIN_TRANSITION_HZ = 300.0


def highpass(rate, cutoff):
    """The FIR highpass: passband from ``cutoff`` Hz up, stopband below ``cutoff - transition``; odd length."""
    import scipy.signal

    width = max(MIN_TRANSITION_HZ, TRANSITION * cutoff)
    taps, beta = scipy.signal.kaiserord(STOPBAND_DB, width / (rate / 2))
    taps += 1 - taps % 2  # odd: a whole-sample delay, and a highpass needs it
    return scipy.signal.firwin(taps, cutoff - width / 2, window=("kaiser", beta), pass_zero=False, fs=rate)


class BandSplice:
    """Join a real and a generated stream at ``cutoff`` (see the module's description), block by block.

    The difference is mirrored for half a filter's length beyond both ends of the file before it is filtered,
    so that the filter sees no edge there: a highpass of an abrupt start would leave a click in the band that
    is kept.

    Parameters
    ----------
    rate : int
        Hz, of both streams.
    cutoff : float
        Hz: the real band ends, the generated band begins.
    channels : int
    total : int
        Frames of each stream (and of the output).
    """

    def __init__(self, rate, cutoff, channels, total):
        self.h = highpass(rate, cutoff)
        self.delay = (self.h.shape[0] - 1) // 2
        self.channels, self.total = channels, total
        self.real = np.zeros((0, channels))  # real samples from output frame ``done`` on
        self.conv = np.zeros((0, channels))  # filtered difference for those frames
        self.tail = np.zeros((self.h.shape[0] - 1, channels))  # the filter's state
        self.first = []  # the difference before the filtering starts (it needs ``delay + 1`` frames to mirror)
        self.last = np.zeros((0, channels))  # the difference's last ``delay + 1`` frames
        self.pushed = self.done = 0
        # The filter's outputs for the mirrored lead and its own delay belong to no output frame.
        self.skip = 2 * self.delay

    def _filter(self, d):
        import scipy.signal

        if not d.shape[0]:
            return
        c = scipy.signal.oaconvolve(d, self.h[:, None], axes=0)
        c[:self.tail.shape[0]] += self.tail
        self.tail = c[d.shape[0]:]
        out = c[:d.shape[0]]
        drop = min(self.skip, out.shape[0])
        self.skip -= drop
        self.conv = np.concatenate([self.conv, out[drop:]])

    def _mirror(self, d):
        """The ``delay`` frames that mirror ``d`` about its first frame (zeros for a file too short for it)."""
        return d[self.delay:0:-1] if d.shape[0] > self.delay else np.zeros((self.delay, self.channels))

    def push(self, real, generated):
        """Add the next frames of both streams (same shape, float); return the output frames now final."""
        real = np.asarray(real, np.float64)
        d = np.asarray(generated, np.float64) - real
        self.pushed += real.shape[0]
        self.real = np.concatenate([self.real, real])
        end = self.pushed >= self.total
        if self.first is not None:
            self.first.append(d)
            d = np.concatenate(self.first)
            if d.shape[0] <= self.delay and not end:
                return np.zeros((0, self.channels))
            self.first = None
            self._filter(self._mirror(d))
        self._filter(d)
        self.last = np.concatenate([self.last, d])[-(self.delay + 1):]
        if end:  # the end's mirror: the frames before the last, backwards
            short = self.last.shape[0] <= self.delay
            self._filter(np.zeros((self.delay, self.channels)) if short else self.last[-2::-1][:self.delay])
        n = min(self.real.shape[0], self.conv.shape[0], self.total - self.done)
        y = self.real[:n] + self.conv[:n]
        self.real, self.conv = self.real[n:], self.conv[n:]
        self.done += n
        return y


def splice_blocks(real_blocks, generated_blocks, rate, cutoff, channels, total):
    """:class:`BandSplice` over two streams of equal blocks; yields the output, ``total`` frames in all."""
    splice = BandSplice(rate, cutoff, channels, total)
    for r, g in zip(real_blocks, generated_blocks):
        y = splice.push(r, g)
        if y.shape[0]:
            yield y
