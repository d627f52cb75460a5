"""The windowed networks' stream (``bilstm``, ``sbr``): overlapping windows of the input, crossfaded.

The input is upsampled onto the 44.1 kHz grid as the model's dataset was (naive or sinc, :class:`InputStream`),
cut into the model's windows (overlapping, crossfaded by weighted overlap-add) and run through the network as
int16 samples (bit decoding, where the model wants bits, happens inside the graph). Each window is computed on its
own input, so the result is identical to processing the file in one piece. The frame-streamed generators
(``gen``, ``cgen``) have their own stream, :mod:`superres.genstream`.
"""

import numpy as np

import soxr

from .audio import HIGH_RATE, high_frames, hold_blocks, to_float, to_int16
from .dsp import overlap_add
from .errors import UserError, check_interrupted


def crossfade_weights(window, ramp=None):
    """Weights of one window's samples in the overlap-add: sine ramps of ``ramp`` steps at both ends.

    ``w[i] = sin(pi/2 (i + 0.5) / ramp)`` over the first ``ramp`` steps, mirrored over the last, 1 between;
    ``ramp = window // 2`` (the default) gives ``sin(pi (i + 0.5) / window)``. Highest mid-window, where the
    network sees context on both sides, lowest (but never 0, so that the first and last samples of a file
    stay defined) at the edges.
    """
    ramp = max(1, min(ramp or window // 2, window // 2))
    w = np.ones(window)
    up = np.sin(np.pi / 2 * (np.arange(ramp) + 0.5) / ramp)
    w[:ramp], w[window - ramp:] = up, up[::-1]
    return w


class InputStream:
    """The network's input at 44.1 kHz from a stream of int16 blocks at ``rate``: naive or sinc upsampling.

    The naive stream is :func:`superres.audio.hold_blocks` (each sample repeated twice at 22.05 kHz). The sinc
    stream (soxr VHQ, the resampler of :func:`superres.audio.sinc_upsample`) gives the same samples as
    upsampling the whole signal at once, however the stream is cut, but delivers them with a delay.
    """

    def __init__(self, kind, channels, rate):
        self.rate, self.channels = rate, channels
        self.pushed = 0
        self.stream = None if kind == "naive" else soxr.ResampleStream(rate, HIGH_RATE, channels,
                                                                        dtype="float64", quality="VHQ")

    def push(self, low, last=False):
        """int16 (n, channels) -> the int16 44.1 kHz frames now available (naive: all of them)."""
        if self.stream is None:
            out = next(hold_blocks([low], self.rate, self.pushed))
            self.pushed += low.shape[0]
            return out
        return to_int16(self.stream.resample_chunk(to_float(low), last=last))


class StreamUpsampler:
    """Runs the network over a stream of low-rate blocks with overlapping windows and a crossfade.

    Windows of ``window`` 44.1 kHz steps start every ``hop`` steps from the first sample pushed; each output
    sample is the weighted mean (:func:`crossfade_weights`) of the windows covering it. Every window is
    computed on its own input alone, so the output does not depend on how the stream is cut into blocks,
    and memory is bounded by the block size, not the stream length.

    Parameters
    ----------
    model : keras.Model
        Input (batch, window) int16 (:func:`superres.models.inference_model`), output (batch, window, 1)
        float samples in [-1, 1).
    window, hop : int
        In 44.1 kHz steps; ``hop <= window``.
    channels : int
    batch_size : int
        Windows per inference call.
    input_kind : {"naive", "sinc"}
        How the network's input is upsampled (the dataset's ``input``).
    rate : int
        The rate of the blocks pushed, Hz (the model's :func:`superres.runs.input_rate`).
    """

    def __init__(self, model, window, hop, channels, batch_size=64, input_kind="naive", rate=22050):
        if not 0 < hop <= window:
            raise UserError(f"overlap must leave a hop between 1 and the window ({window}) (hop is {hop})")
        self.model, self.window, self.hop, self.batch_size = model, window, hop, batch_size
        self.weights = crossfade_weights(window, window - hop)
        self.source = InputStream(input_kind, channels, rate)
        self.rate = rate
        self.low_pushed = 0
        self.inp = np.zeros((0, channels), dtype=np.int16)  # upsampled input from global step ``next_start``
        self.acc = np.zeros((0, channels))  # weighted sums from global step ``out_pos``
        self.norm = np.zeros(0)
        self.next_start = 0  # start of the next window to compute
        self.out_pos = 0  # first output step not yet returned
        self.pushed = 0  # 44.1 kHz steps the output will have so far (high_frames of the frames pushed)

    def push(self, low):
        """Add int16 frames (n, channels) at the input rate; return the 44.1 kHz output that is final.

        The output is float64 (frames, channels), full scale 1.0, not yet rounded or clipped: the writer
        quantizes it for the output format (:func:`superres.audio.quantize`).
        """
        self.inp = np.concatenate([self.inp, self.source.push(low)])
        self.low_pushed += low.shape[0]
        self.pushed = high_frames(self.low_pushed, self.rate)
        k = 0 if self.inp.shape[0] < self.window else (self.inp.shape[0] - self.window) // self.hop + 1
        self._run(k)
        return self._emit(self.next_start)

    def finish(self):
        """Compute the last windows (zero-padded past the end) and return the rest of the output (as push)."""
        self.inp = np.concatenate([self.inp, self.source.push(np.zeros((0, self.inp.shape[1]), np.int16), True)])
        self.inp = self.inp[:max(0, self.pushed - self.next_start)]  # the resampler may give a frame too many
        covered = self.next_start - self.hop + self.window if self.next_start else 0
        # As many more windows as it takes for the last one to reach the end.
        k = 0 if covered >= self.pushed else max(0, -(-(self.pushed - self.window - self.next_start) // self.hop)) + 1
        need = (k - 1) * self.hop + self.window if k else 0
        if need > self.inp.shape[0]:
            pad = np.zeros((need - self.inp.shape[0], self.inp.shape[1]), dtype=np.int16)
            self.inp = np.concatenate([self.inp, pad])
        self._run(k)
        return self._emit(self.pushed)

    def _run(self, k):
        """Compute the next ``k`` windows and add them into the accumulators."""
        if k == 0:
            return
        w, h, ch = self.window, self.hop, self.inp.shape[1]
        idx = np.arange(k)[:, None] * h + np.arange(w)[None, :]
        wins = np.ascontiguousarray(np.moveaxis(self.inp[idx], 2, 0).reshape(ch * k, w))
        y = np.concatenate([self._predict(wins[i:i + self.batch_size])
                            for i in range(0, wins.shape[0], self.batch_size)]).reshape(ch, k, w)
        r = -(-w // h)
        blocks, wblocks = np.zeros((ch, (k + r - 1) * h)), np.zeros((k + r - 1) * h)
        overlap_add(blocks, y * self.weights, 0, h)
        overlap_add(wblocks, np.broadcast_to(self.weights, (k, w)), 0, h)
        span = (k + r - 1) * h
        base = self.next_start - self.out_pos
        grow = base + span - self.acc.shape[0]
        if grow > 0:
            self.acc = np.concatenate([self.acc, np.zeros((grow, ch))])
            self.norm = np.concatenate([self.norm, np.zeros(grow)])
        self.acc[base:base + span] += blocks.T
        self.norm[base:base + span] += wblocks
        self.next_start += k * h
        self.inp = self.inp[k * h:]

    def _predict(self, wins):
        """The network's output for up to ``batch_size`` windows, (n, window), as floats."""
        check_interrupted()
        n = wins.shape[0]
        if n < self.batch_size:
            # Always the same batch shape: a new shape would make the backend trace (compile) the graph again.
            wins = np.concatenate([wins, np.zeros((self.batch_size - n, wins.shape[1]), wins.dtype)])
        # predict_on_batch: Model.predict would build a new input pipeline (and copy the array) on every call.
        return np.asarray(self.model.predict_on_batch(wins))[:n, :, 0]

    def _emit(self, upto):
        """Return (and drop) the output before global step ``upto``: float64 samples, full scale 1.0."""
        n = max(0, min(upto, self.pushed) - self.out_pos)
        out = self.acc[:n] / np.maximum(self.norm[:n], 1e-12)[:, None]
        self.acc, self.norm = self.acc[n:], self.norm[n:]
        self.out_pos += n
        return out
