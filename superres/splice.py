"""The real band below a cutoff and the generated band above it, joined without a seam, in a stream.

``y = real + HP(generated - real)``: a linear-phase FIR highpass (Kaiser window, 130 dB stopband) whose
transition runs over the last few hundred Hz below the cutoff. Below the transition ``y`` is the input's own
signal to within the stopband (-130 dB of the difference between the two), above the cutoff it is the
generated band, and across the transition the two are crossfaded with complementary gains (the highpass and
its complement sum to one), so nothing is lost or doubled at the join.

The band added on top of the real one can take a loud input's peaks past full scale, where an integer output
would clip the real band with it. :class:`Headroom` keeps it from doing so: where ``real + added`` would pass
:data:`CEILING`, the added band alone is lowered there, by a gain that falls and recovers over a few
milliseconds. The real band is never changed; where it is past full scale by itself (a decoded lossy file's
overshoots) nothing is added on top.
"""

import numpy as np

from .dsp import FirStream, kaiser_highpass, kaiser_order, running_mean, running_min

#: Stopband attenuation of the highpass, dB: the kept band's error is this far below the difference between
#: the two streams, under a 24-bit output's resolution.
STOPBAND_DB = 130.0
#: Width of the crossfade below the cutoff: this share of the cutoff, at least ``MIN_TRANSITION_HZ``.
TRANSITION = 0.04
MIN_TRANSITION_HZ = 300.0
#: The largest magnitude :class:`Headroom` lets the added band take a sample to: the largest a 16-bit output
#: holds (32767 / 32768), so no output format clips what the band adds.
CEILING = 32767 / 32768
#: Frames over which the added band's gain falls before a peak, and as many after which it recovers
#: (1.5 ms at 44.1 kHz: short enough to leave the band's level alone elsewhere, long enough not to click).
HEADROOM_FRAMES = 64


def highpass(rate, cutoff):
    """The FIR highpass: passband from ``cutoff`` Hz up, stopband below ``cutoff - transition``; odd length."""
    width = max(MIN_TRANSITION_HZ, TRANSITION * cutoff)
    taps, beta = kaiser_order(STOPBAND_DB, width / (rate / 2))
    taps += 1 - taps % 2  # odd: a whole-sample delay, and a highpass needs it
    return kaiser_highpass(taps, cutoff - width / 2, beta, rate)


class Headroom:
    """``real + g * added`` in a stream, with the largest smooth gain ``0 <= g <= 1`` that keeps each sample
    within ``ceiling`` where ``real`` alone is, and adds nothing to a sample ``real`` alone takes past it
    (one gain for all channels, so the added band's image stays).

    The gain a sample needs is taken down to its minimum over ``width`` frames either side, then averaged over
    as many: the result is never above what any sample needs, and moves over ``2 width + 1`` frames. Output
    frames lag the input by ``2 width`` until the stream ends.

    Parameters
    ----------
    channels : int
    ceiling : float
        Full scale 1.0.
    width : int
        Frames.
    """

    def __init__(self, channels, ceiling=CEILING, width=HEADROOM_FRAMES):
        self.ceiling, self.w = float(ceiling), int(width)
        self.real = np.zeros((0, channels))  # the pending frames' two parts
        self.added = np.zeros((0, channels))
        # The needed gains of the 2 w frames before the pending ones, then of the pending ones; None while
        # all of them are 1 (the common case, kept free of per-frame work).
        self.need = None

    def _hot(self, y):
        """Indices of the frames of ``y`` with a channel past the ceiling."""
        c = self.ceiling
        if y.max(initial=0.0) <= c and y.min(initial=0.0) >= -c:
            return np.zeros(0, np.intp)
        return np.unique(np.flatnonzero(np.abs(y) > c) // y.shape[1])  # (10x faster than any(axis=1))

    def _needed(self, real, added):
        """The largest gain of ``added`` that keeps each frame of ``real + added`` within the ceiling, for
        frames past it: 0 where ``real`` alone is past it too (added, the band could only take it further or
        less far past)."""
        c = self.ceiling
        with np.errstate(divide="ignore", invalid="ignore"):
            room = np.where(added > 0, (c - real) / added, np.where(added < 0, (-c - real) / added, np.inf))
        room = np.clip(room, 0.0, 1.0)
        room[np.abs(real) > c] = 0.0
        return room.min(axis=1)

    def _gains(self, need, ready):
        """The output frames ``0 .. ready - 1`` whose gain is below 1, and their gains: the filters run only
        around the frames that need one (within 4 w of them; elsewhere every gain is 1)."""
        w = self.w
        hot = np.flatnonzero(need < 1.0)
        if not hot.size:
            return np.zeros(0, np.intp), np.zeros(0)
        cut = np.flatnonzero(np.diff(hot) > 8 * w)  # groups at least 8 w apart: their spans do not meet
        # The spans laid end to end, filtered at once (a loud song has a hundred per block, and a call's
        # overhead would be most of the work): each begins and ends with 4 w needs of 1, more than the
        # filters' reach of 2 w, so its neighbours change none of its gains, as the edge's own values would not.
        at = np.concatenate([np.arange(max(0, a - 4 * w), min(need.shape[0], b + 4 * w + 1))
                             for a, b in zip(np.r_[hot[0], hot[cut + 1]], np.r_[hot[cut], hot[-1]])])
        g = running_mean(running_min(need[at], w), w)
        at -= 2 * w  # output frames
        keep = (at >= 0) & (at < ready) & (g < 1.0)
        return at[keep], np.clip(g[keep], 0.0, 1.0)  # the running mean rounds by 1e-15

    def push(self, real, added, end=False):
        """Add frames of both parts (n, channels) float; return the output frames now final, float64.
        ``end``: the last frames, all of the rest is returned."""
        p, n = self.real.shape[0], real.shape[0]
        if (p + n if end else p + n - 2 * self.w) < p:  # fewer new frames than the lag: keep them pending
            real, added = np.concatenate([self.real, real]), np.concatenate([self.added, added])
            self.real, self.added = self.real[:0], self.added[:0]
            self.need = None if self.need is None else self.need[:2 * self.w]
            p, n = 0, real.shape[0]
        ready = p + n if end else max(0, p + n - 2 * self.w)
        m = ready - p  # new frames among those returned; the others wait for the frames after them
        out = np.empty((ready, real.shape[1]))
        np.add(self.real, self.added, out=out[:p])
        np.add(real[:m], added[:m], out=out[p:])
        tail = real[m:] + added[m:]
        hot = np.concatenate([self._hot(out[p:]), m + self._hot(tail)])
        if self.need is None and not hot.size:  # the common case: nothing to lower anywhere near
            self.real, self.added = real[m:].copy(), added[m:].copy()
            return out
        # ``need``: the 2 w frames before the pending ones, then the pending and the new ones (and, at the end,
        # 2 w ones: nothing is needed after it). Output frame i is need[2 w + i]; its gain reads
        # need[i .. i + 4 w].
        new = np.ones(n)
        new[hot] = self._needed(real[hot], added[hot])
        need = np.concatenate([self.need if self.need is not None else np.ones(2 * self.w + p), new]
                              + ([np.ones(2 * self.w)] if end else []))
        low, g = self._gains(need, ready)  # only these frames change: out = real + g added
        old, new = low < p, low >= p
        out[low[old]] -= (1.0 - g[old])[:, None] * self.added[low[old]]
        out[low[new]] -= (1.0 - g[new])[:, None] * added[low[new] - p]
        self.real, self.added = real[m:].copy(), added[m:].copy()
        rest = need[ready:ready + 2 * self.w + self.real.shape[0]]
        self.need = None if rest.min(initial=1.0) >= 1.0 else rest
        return out


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
    ceiling : float, optional
        Keep the generated band from taking samples past this magnitude (:class:`Headroom`); None: no limit.
    dtype : {numpy.float64, numpy.float32}
        The precision the difference is filtered in (:class:`superres.dsp.FirStream`): single for a generated
        band that is single precision itself (:func:`splice_parts`). The real band is never filtered.
    """

    def __init__(self, rate, cutoff, channels, total, ceiling=None, dtype=np.float64):
        self.h = highpass(rate, cutoff)
        self.headroom = Headroom(channels, ceiling) if ceiling is not None else None
        self.delay = (self.h.shape[0] - 1) // 2
        self.channels, self.total = channels, total
        self.fir = FirStream(self.h, channels, dtype)  # holds the filter's state between blocks
        self.real = np.zeros((0, channels))  # real samples from output frame ``done`` on
        self.conv = np.zeros((0, channels), self.fir.dtype)  # filtered difference for those frames
        self.first = []  # the difference before the filtering starts (it needs ``delay + 1`` frames to mirror)
        self.last = np.zeros((0, channels), self.fir.dtype)  # the difference's last ``delay + 1`` frames
        self.pushed = self.done = 0
        # The filter's outputs for the mirrored lead and its own delay belong to no output frame.
        self.skip = 2 * self.delay

    def _filter(self, d):
        if not d.shape[0]:
            return
        out = self.fir.push(d)
        drop = min(self.skip, out.shape[0])
        self.skip -= drop
        self.conv = np.concatenate([self.conv, out[drop:]])

    def _mirror(self, d):
        """The ``delay`` frames that mirror ``d`` about its first frame (zeros for a file too short for it)."""
        return d[self.delay:0:-1] if d.shape[0] > self.delay else np.zeros((self.delay, self.channels))

    def push(self, real, generated):
        """Add the next frames of both streams (same shape, float); return the output frames now final."""
        real = np.asarray(real, np.float64)
        return self.push_added(real, np.asarray(generated, np.float64) - real)

    def push_added(self, real, d):
        """Add the next frames of the real stream and of what the generated one adds to it, ``generated -
        real`` (same shape, float); return the output frames now final."""
        real = np.asarray(real, np.float64)
        d = np.asarray(d, self.fir.dtype)
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
        real, added = self.real[:n], self.conv[:n]
        self.real, self.conv = self.real[n:], self.conv[n:]
        self.done += n
        if self.headroom is not None:
            return self.headroom.push(real, added, end=self.done >= self.total)
        return real + added


def splice_blocks(real_blocks, generated_blocks, rate, cutoff, channels, total, ceiling=None):
    """:class:`BandSplice` over two streams of equal blocks; yields the output, ``total`` frames in all."""
    splice = BandSplice(rate, cutoff, channels, total, ceiling)
    for r, g in zip(real_blocks, generated_blocks):
        y = splice.push(r, g)
        if y.shape[0]:
            yield y


def splice_parts(parts, rate, cutoff, channels, total, ceiling=None):
    """:class:`BandSplice` over one stream of ``(real, added)`` blocks, ``added`` what the generated stream
    adds to the real one (the generator's own top band: nothing is read or resampled twice, nor subtracted);
    yields the output, ``total`` frames in all. The band is the network's and the inverse STFT's single
    precision: it is filtered in single precision."""
    splice = BandSplice(rate, cutoff, channels, total, ceiling, np.float32)
    for real, added in parts:
        y = splice.push_added(real, added)
        if y.shape[0]:
            yield y
