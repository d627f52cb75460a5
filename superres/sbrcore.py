"""The ``sbr`` network on the inference core: its fixed analysis and synthesis in numpy around its envelope
network on ONNX Runtime, so that an ``sbr`` model predicts without TensorFlow or Keras.

The Keras network (:mod:`superres.models.sbr`) is an STFT (1024 points, hop 256, periodic Hann, frames
centred by reflect padding), a small network from the low band's log power to the top octave's envelope,
and a synthesis (the 5.5-11 kHz band copied up twice, whitened per band, given the envelope, inverse STFT
with a constant overlap-add normalisation, added to the input). Only the middle has weights: it is the ONNX
graph (:func:`superres.runtime.export_sbr_envelope`); this module computes the rest as the Keras layers do, in
float32, so the two agree to float32 rounding (checked when the graph is written,
:func:`superres.runtime.write_onnx`).
"""

import numpy as np

from .archs import SBR_FFT, SBR_HOP
from .dsp import frames_of, hann, overlap_add, spectra, synthesis_window

_LOW = SBR_FFT // 4  # bins below 11.025 kHz
WINDOW = hann(SBR_FFT)
_SYNTHESIS = synthesis_window(SBR_FFT, SBR_HOP)


def analysis(x):
    """float32 (batch, window) -> the source band (batch, frames, low / 2) complex64 and the low band's log10
    power (batch, frames, low) float32, frames = window // hop + 1."""
    pad = SBR_FFT // 2
    spec = spectra(np.pad(x, ((0, 0), (pad, pad)), mode="reflect"), SBR_FFT, SBR_HOP, WINDOW)
    power = np.square(spec.real[..., :_LOW]) + np.square(spec.imag[..., :_LOW])
    # 1e-10 is far below one 16-bit LSB's power in a bin: digital silence maps to a constant.
    return spec[..., _LOW // 2:_LOW], np.log10(power + np.float32(1e-10))


def synthesis(x, source, envelope):
    """The input plus its synthesised top octave: x (batch, window) float32, the source band (batch, frames,
    low / 2) complex64, the envelope (batch, frames, bands) log10 mean power per bin -> (batch, window)."""
    batch, frames, bands = envelope.shape
    per = (SBR_FFT // 2 - _LOW) // bands
    # Shifts of low / 2 and low bins are whole turns per hop: the copies stay phase-coherent.
    src = np.concatenate([source, source], axis=-1)
    power = np.square(src.real) + np.square(src.imag)
    band_power = power.reshape(batch, frames, bands, per).mean(axis=-1)
    target = np.power(np.float32(10.0), np.clip(envelope, -12.0, 7.0).astype(np.float32))
    gain = np.repeat(np.sqrt(target / (band_power + np.float32(1e-10))), per, axis=-1)
    full = np.zeros((batch, frames, SBR_FFT // 2 + 1), np.complex64)
    full[..., _LOW:SBR_FFT // 2] = src * gain
    out = np.zeros((batch, (frames - 1) * SBR_HOP + SBR_FFT), np.float32)
    overlap_add(out, frames_of(full, SBR_FFT, _SYNTHESIS), 0, SBR_HOP)
    return x + out[:, SBR_FFT // 2:SBR_FFT // 2 + x.shape[1]]


class SbrNetwork:
    """An ``sbr`` network behind the one method prediction calls, ``predict_on_batch``, without Keras.

    Parameters
    ----------
    envelope : callable
        ``envelope(log_power) -> log10 envelope``: float32 (batch, frames, low) -> (batch, frames, bands), the
        ONNX graph on ONNX Runtime (:class:`superres.runtime.OnnxCore`).
    """

    def __init__(self, envelope):
        self.envelope = envelope

    def predict_on_batch(self, pcm):
        """int16 windows (batch, window) of the sinc-upsampled signal -> float32 (batch, window, 1)."""
        x = np.asarray(pcm, np.float32) * np.float32(1.0 / 32768.0)
        source, log_power = analysis(x)
        env = np.asarray(self.envelope(log_power), np.float32)
        return synthesis(x, source, env)[..., None]
