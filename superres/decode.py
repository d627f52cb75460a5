"""Compressed audio and the audio of video files through PyAV: FFmpeg's decoders inside the wheel.

soundfile (libsndfile) reads WAV, FLAC, OGG/Vorbis and MP3; everything else people's music folders hold --
M4A/AAC, ALAC, Opus, WMA, the soundtrack of an MP4/MKV/WebM/MOV -- is decoded here, as float blocks in
bounded memory. FFmpeg trims the codec's priming and padding where the container records them (MP4 edit
lists, Opus pre-skip), so a decoded file lines up with what was encoded.

:func:`encode_audio` writes such files (the tests' inputs, and the per-kind evaluation's).
"""

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .errors import UserError, check_finite, check_interrupted

#: Extensions decoded through PyAV (lower case).
AV_EXTENSIONS = (".m4a", ".mp4", ".aac", ".alac", ".opus", ".webm", ".weba", ".wma", ".mkv", ".mka", ".mov",
                 ".m4v", ".avi")

#: Encoders for :func:`encode_audio`: name -> (FFmpeg encoder, container extension, its sample rates).
CODECS = {"mp3": ("libmp3lame", ".mp3", None), "aac": ("aac", ".m4a", None), "opus": ("libopus", ".opus", 48000),
          "alac": ("alac", ".m4a", None), "wma": ("wmav2", ".wma", None), "flac": ("flac", ".flac", None)}


#: FFmpeg's codec property flag of a lossy codec (AV_CODEC_PROP_LOSSY).
_LOSSY = 2
#: A lossless decoder's sample format -> the libsndfile subtype of that precision (ALAC decodes 20 and 24 bits
#: to 32-bit integers).
_PRECISION = {"u8": "PCM_16", "s16": "PCM_16", "s32": "PCM_24", "flt": "FLOAT", "dbl": "DOUBLE"}


@dataclass(frozen=True)
class AvInfo:
    """What :func:`av_info` read: the fields of ``soundfile.info`` the package uses."""

    samplerate: int
    channels: int
    frames: int
    subtype: str
    format: str
    #: Decoded from a lossy codec: its samples are the decoder's floats, with no bit depth of their own.
    lossy: bool = False

    @property
    def duration(self):
        return self.frames / self.samplerate


def _import_av(path):
    try:
        import av
    except ImportError:
        raise UserError(f"{path}: reading {Path(path).suffix} files needs PyAV (pip install av)") from None
    return av


def _open(path):
    av = _import_av(path)
    try:
        container = av.open(str(path))
    except Exception as e:  # FFmpeg's errors come as several types
        raise UserError(f"{path}: not a readable audio file ({str(e).splitlines()[0][:200]}); re-export it")
    if not container.streams.audio:
        container.close()
        raise UserError(f"{path}: holds no audio stream")
    return av, container


#: Decoded sample formats converted to float in numpy, as FFmpeg's resampler converts them (x / 2^15, x / 2^31,
#: (x - 128) / 2^7): name (planar or packed) -> (offset, scale). A call into the resampler per frame costs more
#: than the decoding of it (measured 3 times slower for AAC).
_TO_FLOAT = {"flt": (0.0, 1.0), "dbl": (0.0, 1.0), "s16": (0.0, 2.0 ** -15), "s32": (0.0, 2.0 ** -31),
             "u8": (128.0, 2.0 ** -7)}


def _decoded(path):
    """Yield the first audio stream's samples as float arrays (n, channels), full scale 1.0 (float32 from the
    decoders that give it, float64 otherwise), at the stream's rate and in its layout."""
    av, container = _open(path)
    with container:
        stream = container.streams.audio[0]
        # The stream's layout and rate as opened: the decoder's context behind ``stream`` follows its frames, and
        # a stream may change them midway (concatenated ADTS files, a broadcast's programmes).
        channels, layout, rate = stream.codec_context.channels, stream.layout, stream.rate
        resampler = setup = None
        try:
            for frame in container.decode(stream):
                check_interrupted()
                fmt = frame.format
                conv = _TO_FLOAT.get(fmt.name.rstrip("p"))
                own = conv is not None and len(frame.layout.channels) == channels and frame.sample_rate == rate
                this = None if own else (fmt.name, frame.layout.name, frame.sample_rate)
                if resampler is not None and this != setup:
                    # PyAV's resampler takes frames of one setup only; what it holds comes before this frame.
                    yield from _drained(resampler, channels)
                    resampler = None
                if own:
                    x = frame.to_ndarray()
                    x = x.T if fmt.is_planar else x.reshape(-1, channels)
                    if x.dtype.kind != "f":
                        x = (x.astype(np.float64) - conv[0]) * conv[1] if conv[0] else x * conv[1]
                    yield x
                    continue
                # Any other format, or a frame whose layout or rate is not the stream's: FFmpeg's resampler.
                if resampler is None:
                    resampler, setup = av.AudioResampler(format="dbl", layout=layout, rate=rate), this
                for out in resampler.resample(frame):
                    yield out.to_ndarray().reshape(-1, channels)
            if resampler is not None:
                yield from _drained(resampler, channels)
        except av.error.FFmpegError as e:
            raise UserError(f"{path}: could not decode audio ({str(e).splitlines()[0][:200]}); the file is corrupt")


def _drained(resampler, channels):
    """The samples a resampler still holds, flushed: (n, channels) float64 arrays."""
    for out in resampler.resample(None):
        yield out.to_ndarray().reshape(-1, channels)


def av_header(path):
    """What a file's first audio stream says of itself without decoding: an :class:`AvInfo` whose ``frames``
    is the container's estimate (0 where it gives none)."""
    av, container = _open(path)
    with container:
        stream = container.streams.audio[0]
        ctx = stream.codec_context
        rate, channels, codec = stream.rate, ctx.channels, ctx.name
        lossy = bool(ctx.codec.properties & _LOSSY)
        subtype = codec.upper() if lossy else _PRECISION.get(ctx.format.name.rstrip("p"), "PCM_16")
        if stream.duration is not None and stream.time_base is not None:
            estimate = float(stream.duration * stream.time_base) * rate
        else:
            estimate = (container.duration or 0) / 1e6 * rate  # AV_TIME_BASE: microseconds
    return AvInfo(int(rate), int(channels), int(round(estimate)), subtype, Path(path).suffix.lstrip(".").upper(),
                  lossy)


def av_info(path):
    """Rate, channels and the exact number of frames of a file's first audio stream (decoded once to count).

    Containers give only an estimate of the length; the pipeline writes outputs of exact length, so the
    frames are counted.
    """
    head = av_header(path)
    return replace(head, frames=int(sum(x.shape[0] for x in _decoded(path))))


def av_blocks(path, block, dtype=np.float64):
    """A file's audio as float blocks of ``block`` frames (the last shorter), full scale 1.0, of ``dtype``."""
    out, have = None, 0
    for x in _decoded(path):
        while x.shape[0]:
            if out is None:
                out = np.empty((block, x.shape[1]), dtype)
            n = min(block - have, x.shape[0])
            out[have:have + n] = x[:n]
            have, x = have + n, x[n:]
            if have == block:
                yield check_finite(out, path)
                out, have = None, 0
    if have:
        yield check_finite(out[:have], path)


def encode_audio(path, x, rate, codec, bitrate=None):
    """Encode float samples (frames, channels), full scale 1.0, to ``path`` with one of :data:`CODECS`.

    Opus encodes at 48 kHz (the only rates it takes are 8-48 kHz divisors): ``x`` is resampled to it first.
    ``bitrate`` in bits per second (lossy codecs).
    """
    av = _import_av(path)
    encoder, _, codec_rate = CODECS[codec]
    x = np.asarray(x, np.float64)
    x = x[:, None] if x.ndim == 1 else x
    if codec_rate and codec_rate != rate:
        import soxr

        x, rate = soxr.resample(x, rate, codec_rate, quality="VHQ"), codec_rate
    layout = {1: "mono", 2: "stereo"}[x.shape[1]]
    with av.open(str(path), "w") as container:
        stream = container.add_stream(encoder, rate=rate, layout=layout)
        if bitrate:
            stream.bit_rate = int(bitrate)
        fmt = stream.codec_context.format.name
        step = stream.codec_context.frame_size or 1024
        for i in range(0, x.shape[0], step):
            chunk = np.clip(x[i:i + step], -1.0, 1.0)
            frame = _frame(av, chunk, fmt, layout, rate)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def _frame(av, chunk, fmt, layout, rate):
    """An ``av.AudioFrame`` of ``chunk`` (n, channels) in the encoder's sample format."""
    planar = fmt.endswith("p")
    kind = fmt.rstrip("p")
    if kind == "flt":
        data = chunk.astype(np.float32)
    elif kind == "dbl":
        data = chunk
    elif kind == "s16":
        data = np.round(chunk * 32767).astype(np.int16)
    elif kind == "s32":
        data = np.round(chunk * (2 ** 31 - 1)).astype(np.int32)
    else:
        raise ValueError(f"sample format {fmt} not handled")
    data = np.ascontiguousarray(data.T if planar else data.reshape(1, -1))
    frame = av.AudioFrame.from_ndarray(data, format=fmt, layout=layout)
    frame.sample_rate = rate
    return frame


def codec_lag(a, b, reach=4096, longest=1 << 18):
    """Samples by which ``b`` (n,) lags ``a`` (m,): a codec's delay its container did not trim, by
    cross-correlation of their first ``longest`` samples, within ``reach`` either way."""
    n = min(len(a), len(b), longest)
    c = np.fft.irfft(np.conj(np.fft.rfft(a[:n], 2 * n)) * np.fft.rfft(b[:n], 2 * n))
    lags = np.concatenate([np.arange(0, reach), np.arange(-reach, 0)])
    return int(lags[np.argmax(c[lags])])
