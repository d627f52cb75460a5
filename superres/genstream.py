"""Prediction with the ``gen`` and ``cgen`` architectures in numpy, streamed frame by frame, in bounded memory.

The generator (:mod:`superres.models.gen`) is a fixed analysis (STFT), a backbone over STFT frames and a fixed
synthesis (gains, crossfade, inverse STFT). Here the analysis and synthesis are numpy (with scipy's FFT where
it is installed) and the backbone is any callable (ONNX Runtime, or the Keras sub-model as a fallback), so
prediction needs neither TensorFlow nor Keras, nor scipy.

The backbone sees ``context`` frames either side of each output frame (its receptive field), so each step
computes the features of the frames it outputs plus that context and keeps only the frames whose context
was complete: the result equals processing the whole file at once (:func:`superres.models.gen.build_gen`
with any window) up to float rounding, however the stream is cut. The inverse STFT is an overlap-add with
the same constant window normalisation as Keras's ``istft`` (which leaves the last half frame of a file
slightly faded, as the Keras network does).

Signals are (samples, channels) float64 at 44.1 kHz, full scale 1.0. What the band plan is -- ``gen``'s, fixed
at 11.025 kHz, or ``cgen``'s at the input's cutoff -- is a :class:`FixedPlan` or a :class:`CutoffPlan`.
"""

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import soxr


from . import bandplan as bp
from .audio import HIGH_RATE, LOW_RATE, high_frames, to_float
from .dsp import frames_of, hann, overlap_add, spectra, synthesis_window
from .errors import check_interrupted

_HALF = bp.FFT // 2
#: Periodic Hann window (as Keras's ``stft``), float32, and the synthesis window with the overlap-add's
#: constant normalisation folded in (:mod:`superres.dsp`).
WINDOW = hann(bp.FFT)
_SYNTHESIS = synthesis_window(bp.FFT, bp.HOP)
_SOURCE_BINS = bp.source_bins()
_OFFSET = bp.log_gain_offset()
#: ``features`` computed with the natural log: numpy's float32 ``log`` is vectorised on AVX2, its ``log10``
#: is not (measured 2x slower).
_LN_SCALE = np.float32(bp.FEATURE_SCALE / np.log(10.0))


def low_band_features(spec):
    """The backbone's input (:func:`superres.bandplan.features`) of spectra (frames, >= LOW_BINS) complex64:
    float32 (frames, LOW_BINS), computed in place of one temporary."""
    return _features_into(spec[:, :bp.LOW_BINS], np.empty(spec[:, :bp.LOW_BINS].shape, np.float32))


def _features_into(spec, out):
    """:func:`superres.bandplan.features` of the power of ``spec`` (frames, bins) complex64, computed in ``out``
    (frames, bins) float32 without other temporaries; returns ``out``."""
    np.square(spec.real, out=out)
    out += np.square(spec.imag)
    out += np.float32(bp.POWER_FLOOR)
    np.log(out, out=out)
    out *= _LN_SCALE
    out += np.float32(bp.FEATURE_OFFSET)
    return out


def top_band_delta(spec, log_gain):
    """What the generator adds to each frame's spectrum: (..., TOP_BINS) complex64, bins MERGE_LO and up.

    ``S[src] exp(g + offset) - S[top]``: the source bins (:func:`superres.bandplan.source_bins`) with the
    backbone's gains, in place of the input's own top bins.
    """
    gain = np.asarray(log_gain, dtype=np.float32) + _OFFSET
    np.clip(gain, bp.MIN_LOG_GAIN, bp.MAX_LOG_GAIN, out=gain)
    np.exp(gain, out=gain)
    delta = np.take(spec, _SOURCE_BINS, axis=-1)  # 4x faster than fancy indexing here
    delta *= gain
    delta -= spec[..., bp.MERGE_LO:]
    return delta


def synthesis(delta, lo=bp.MERGE_LO):
    """Spectra of the written bins ``lo..FFT/2`` (..., bins) -> windowed, normalised time frames (..., FFT) float32
    to overlap-add."""
    full = np.zeros(delta.shape[:-1] + (bp.FFT // 2 + 1,), dtype=np.complex64)
    full[..., lo:] = delta
    return frames_of(full, bp.FFT, _SYNTHESIS)


class FixedPlan:
    """``gen``'s band plan: features of the bins below 11.025 kHz, the top band written from 10.5 kHz up."""

    lo = bp.MERGE_LO

    def features(self, spec):
        return low_band_features(spec)

    def delta(self, spec, log_gain):
        return top_band_delta(spec, log_gain)


class CutoffPlan:
    """``cgen``'s band plan at a cutoff (:func:`superres.bandplan.any_plan`): features of every bin, silenced
    above the cutoff, with the mask of missing bins; the band written from the cutoff's merge zone up.

    Parameters
    ----------
    cutoff : float
        Hz, clipped to :data:`~superres.bandplan.MIN_CUTOFF_HZ` .. :data:`~superres.bandplan.MAX_CUTOFF_HZ`.
    """

    def __init__(self, cutoff):
        self.kc = bp.cutoff_bin(cutoff)
        source, written, offset = bp.any_plan(self.kc)
        first = int(np.argmax(written > 0))
        self.lo = bp.ANY_LO + first  # the first written bin
        self.source, self.offset, self.first = source[first:], offset[first:], first
        missing = np.arange(bp.ALL_BINS) >= self.kc
        self.mask = missing.astype(np.float32)
        self.silence = np.float32(bp.FEATURE_SCALE * np.log10(bp.POWER_FLOOR) + bp.FEATURE_OFFSET)

    def features(self, spec):
        out = np.empty((spec.shape[0], 2 * bp.ALL_BINS), np.float32)
        _features_into(spec, out[:, :bp.ALL_BINS])[:, self.kc:] = self.silence
        out[:, bp.ALL_BINS:] = self.mask
        return out

    def delta(self, spec, log_gain):
        gain = np.asarray(log_gain, dtype=np.float32)[..., self.first:] + self.offset
        np.clip(gain, bp.MIN_LOG_GAIN, bp.MAX_LOG_GAIN, out=gain)
        np.exp(gain, out=gain)
        delta = np.take(spec, self.source, axis=-1)
        delta *= gain
        delta -= spec[..., self.lo:]
        return delta


_FIXED = FixedPlan()


def channel_frames(core, seg, keep, plan=_FIXED):
    """One channel's generated frames: its padded sinc samples (n,) float32 -> (K, FFT) float32.

    ``keep`` selects the frames to return (the others are the backbone's context).
    """
    spec = spectra(seg, bp.FFT, bp.HOP, WINDOW)  # (F, bins)
    gain = np.asarray(core(plan.features(spec)[None]))[0]
    return synthesis(plan.delta(spec[keep], gain[keep]), plan.lo)


class GenStream:
    """Runs a ``gen`` or ``cgen`` network over a stream of blocks at ``rate``; see the module docstring.

    Parameters
    ----------
    core : callable
        ``core(features) -> log_gain``: float32 (1, frames, features) -> (1, frames, written bins) (``gen``:
        LOW_BINS -> TOP_BINS); called from one thread per channel at once (an ONNX Runtime session and a Keras
        model allow it).
    context : int
        Frames either side an output frame depends on (:func:`superres.bandplan.context_frames`).
    channels : int
    step_frames : int
        Most frames per backbone call (bounds memory: about 8 kB per frame and channel).
    rate : int
        The rate of the blocks pushed, Hz: they are sinc-interpolated (soxr VHQ) to 44.1 kHz.
    plan : FixedPlan or CutoffPlan
        The band plan (default ``gen``'s).
    ceiling : float, optional
        Keep the generated band from taking samples past this magnitude
        (:class:`superres.splice.Headroom`); None: no limit.
    parts : bool
        Return ``(sinc, added)`` pairs, each (m, channels): the input's sinc interpolation (float64) and the
        generated band the network adds to it (float32, the inverse STFT's precision), apart
        (:func:`superres.splice.splice_parts` joins them at the cutoff); no ``ceiling`` then. Default: their sum.
    """

    def __init__(self, core, context, channels, step_frames=8192, threads=None, rate=LOW_RATE, plan=_FIXED,
                 ceiling=None, parts=False):
        self.core, self.context, self.channels = core, int(context), channels
        self.step_frames = max(1, int(step_frames))
        # Work runs in threads, a channel or a part of one each: FFTs, numpy's arithmetic and ONNX Runtime
        # release the GIL, so every core stays busy (measured 1.45x faster on 2 cores than one batched call
        # with ONNX Runtime's own threads).
        self.threads = max(1, threads or os.cpu_count() or 1)
        self.pool = ThreadPoolExecutor(self.threads) if self.threads > 1 else None
        self.rate, self.plan = int(rate), plan
        self.resampler = None if self.rate == HIGH_RATE else soxr.ResampleStream(self.rate, HIGH_RATE, channels,
                                                                                  dtype="float64", quality="VHQ")
        self.low_pushed = 0
        self.sig = np.zeros((0, channels))  # sinc signal from global sample ``sig0``
        self.sig0 = 0
        # The generated top band, channel-major float32, from global sample ``acc0``: the first frame starts
        # half a frame before the signal, later ones at or after ``out_pos``.
        self.acc = np.zeros((channels, 0), np.float32)
        self.acc0 = -_HALF
        self.out_pos = 0  # first output sample not yet returned
        self.t_done = 0  # frames whose top band is in ``acc``
        self.pushed = 0  # output samples the stream will have (high_frames of the frames pushed)
        self.headroom, self.parts = None, bool(parts)
        if ceiling is not None and parts:
            raise ValueError("parts: the ceiling is the splice's")
        if ceiling is not None:
            from .splice import Headroom

            self.headroom = Headroom(channels, ceiling)

    @property
    def available(self):
        return self.sig0 + self.sig.shape[0]

    def push(self, low):
        """Add int16 or float frames (n, channels); return the float64 output that is final, (m, channels) (or,
        with ``parts``, its two parts)."""
        self.low_pushed += low.shape[0]
        self.pushed = high_frames(self.low_pushed, self.rate)
        x = to_float(low) if low.dtype == np.int16 else np.asarray(low, np.float64)
        self._append(x if self.resampler is None else self.resampler.resample_chunk(x))
        # Frames whose window lies inside what has arrived, less the context they must not be output before.
        self._run(max(-1, (self.available - _HALF) // bp.HOP) - self.context, end=None)
        return self._emit(max(0, self.t_done * bp.HOP - _HALF))

    def finish(self):
        """Flush the resampler, compute the last frames and return the rest of the output (as :meth:`push`)."""
        if self.resampler is not None:
            self._append(self.resampler.resample_chunk(np.zeros((0, self.channels)), last=True))
        n = self.pushed
        if self.available > n:  # the resampler may give a sample too many
            self.sig = self.sig[:n - self.sig0]
        elif self.available < n:
            self._append(np.zeros((n - self.available, self.channels)))
        if n > _HALF:  # shorter signals cannot be reflect-padded (nor can Keras's STFT): no top band
            self._run(n // bp.HOP, end=n)
        return self._emit(n, end=True)

    def _append(self, x):
        if x.shape[0]:
            self.sig = np.concatenate([self.sig, x])

    def _padded(self, lo, hi, end):
        """Global samples ``lo .. hi - 1`` of the sinc signal, reflected at its start and (if known) its end,
        as the STFT's centring pads it: float32 (hi - lo, channels)."""
        inner_lo, inner_hi = max(lo, 0), hi if end is None else min(hi, end)
        parts = []
        if lo < 0:  # samples -1, -2, ... are samples 1, 2, ...
            parts.append(self.sig[1 - self.sig0:1 - lo - self.sig0][::-1])
        parts.append(self.sig[inner_lo - self.sig0:inner_hi - self.sig0])
        if end is not None and hi > end:  # samples end, end + 1, ... are end - 2, end - 3, ...
            parts.append(self.sig[2 * end - hi - 1 - self.sig0:end - 1 - self.sig0][::-1])
        return np.concatenate(parts).astype(np.float32) if len(parts) > 1 else parts[0].astype(np.float32)

    def _run(self, last, end):
        """Output frames ``t_done .. last`` (``end``: the signal's length once known, else None)."""
        total = end // bp.HOP + 1 if end is not None else None
        while self.t_done <= last:
            check_interrupted()
            t1 = min(last, self.t_done + self.step_frames - 1)
            a = max(0, self.t_done - self.context)
            b = t1 + self.context if total is None else min(total - 1, t1 + self.context)
            seg = np.ascontiguousarray(self._padded(a * bp.HOP - _HALF, b * bp.HOP + _HALF, end).T)  # (ch, n)
            # Jobs: (channel, first frame, last frame), each with its own context, enough for every thread.
            parts = max(1, -(-self.threads // self.channels))
            bounds = np.linspace(self.t_done, t1 + 1, parts + 1).round().astype(int)
            jobs = [(c, u0, u1 - 1) for c in range(self.channels) for u0, u1 in zip(bounds[:-1], bounds[1:])
                    if u1 > u0]

            def run(job, a=a, b=b, seg=seg):
                c, u0, u1 = job
                lo, hi = max(a, u0 - self.context), min(b, u1 + self.context)
                return channel_frames(self.core, seg[c, (lo - a) * bp.HOP:(hi - a) * bp.HOP + bp.FFT],
                                      slice(u0 - lo, u1 - lo + 1), self.plan)

            done = list(self.pool.map(run, jobs)) if self.pool and len(jobs) > 1 else [run(j) for j in jobs]
            per = len(jobs) // self.channels
            pieces = np.stack([np.concatenate(done[c * per:(c + 1) * per]) for c in range(self.channels)])
            self._overlap_add(pieces, self.t_done)  # (ch, K, FFT)
            self.t_done = t1 + 1
            self._trim()

    def _overlap_add(self, pieces, t0):
        """Add frames ``t0, t0 + 1, ...`` (channels, K, FFT) float32 at global samples ``t * HOP - FFT/2``."""
        k = pieces.shape[1]
        r = bp.FFT // bp.HOP
        off = t0 * bp.HOP - _HALF - self.acc0
        need = off + (k + r - 1) * bp.HOP
        if need > self.acc.shape[1]:
            self.acc = np.concatenate([self.acc, np.zeros((self.channels, need - self.acc.shape[1]), np.float32)], 1)
        overlap_add(self.acc, pieces, off, bp.HOP)

    def _trim(self):
        keep_from = min(self.out_pos, max(0, (self.t_done - self.context) * bp.HOP - _HALF))
        if keep_from > self.sig0:
            self.sig = self.sig[keep_from - self.sig0:]
            self.sig0 = keep_from

    def _emit(self, upto, end=False):
        n = max(0, min(upto, self.pushed, self.available) - self.out_pos)
        if n == 0:
            empty = np.zeros((0, self.channels))
            if self.parts:
                return empty, empty
            return self.headroom.push(empty, empty, end=True) if self.headroom is not None and end else empty
        lo = self.out_pos - self.sig0
        a = self.out_pos - self.acc0
        top = self.acc[:, a:a + n]
        if self.parts:
            out = self.sig[lo:lo + n].copy(), np.zeros((n, self.channels), np.float32)
            out[1][:top.shape[1]] = top.T
        elif self.headroom is not None:
            added = top.T
            if top.shape[1] < n:
                added = np.zeros((n, self.channels), np.float32)
                added[:top.shape[1]] = top.T
            out = self.headroom.push(self.sig[lo:lo + n], added, end)
        else:
            out = self.sig[lo:lo + n].copy()
            out[:top.shape[1]] += top.T
        self.out_pos += n
        self.acc = self.acc[:, max(0, self.out_pos - self.acc0):]
        self.acc0 = max(self.acc0, self.out_pos)
        self._trim()
        return out
