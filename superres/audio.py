"""Audio files in and out, resampling and the naive upsample.

Conventions used throughout the package:

- A signal is a numpy array of shape ``(frames, channels)``, even for mono.
- 16-bit samples are ``int16`` in [-32768, 32767]; float samples are in [-1, 1), and
  ``int16 = clip(round(float * 32768))``, the inverse of how libsndfile reads PCM_16 as float.
- Sample rates are in Hz.
"""

import errno
import math
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from .decode import AV_EXTENSIONS, av_blocks, av_header, av_info
from .errors import UserError, check_finite, check_interrupted
from .manifest import link_loop, make_tempfile

#: The rate of the originals and of the network's output, Hz.
HIGH_RATE = 44100
#: The rate of the network's input by default (the blog's), Hz; ``10-scan.py --rate`` makes copies at another.
LOW_RATE = 22050
#: HIGH_RATE / LOW_RATE.
FACTOR = 2

#: Extensions read by libsndfile (lower case); the others through PyAV (:mod:`superres.decode`).
SNDFILE_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")
#: Extensions the scan stage looks for (lower case).
SCAN_EXTENSIONS = SNDFILE_EXTENSIONS + AV_EXTENSIONS
#: Sample rates accepted anywhere, Hz.
MIN_RATE, MAX_RATE = 8000, 384000
#: The rates a scan may make its copies at (``10-scan.py --rate``), Hz: any rate read anywhere, below the originals'.
MIN_LOW_RATE, MAX_LOW_RATE = MIN_RATE, HIGH_RATE - 1
#: Extensions accepted as prediction input (lower case).
READ_EXTENSIONS = SCAN_EXTENSIONS

#: Extensions the writers write (lower case), and their libsndfile formats: lossless ones only. OGG is read but
#: not written: Vorbis is lossy, and libsndfile writes none of the PCM sample formats into it.
WRITE_FORMATS = {".wav": "WAV", ".flac": "FLAC"}
#: Output sample formats offered to the user (``--subtype``), by libsndfile subtype.
SUBTYPES = {"16": "PCM_16", "24": "PCM_24", "float": "FLOAT"}
_SUBTYPE_NAMES = {"PCM_16": "16-bit", "PCM_24": "24-bit", "FLOAT": "32-bit float"}


def list_audio_files(root, extensions=SCAN_EXTENSIONS, problems=None):
    """Return the audio files under ``root``, recursively, as sorted paths relative to ``root``.

    Sorting makes every stage's output order (and so the dataset) deterministic. Hidden files (our own
    temporary files among them) are left out.

    Parameters
    ----------
    problems : list, optional
        Receives ``(path, message)`` for each symbolic link with an audio extension whose target is missing or
        that leads back to itself (a loop), so that the batch summary can list it rather than drop it without
        a word.
    """
    root = Path(root)
    if link_loop(root):
        raise UserError(f"{root}: symbolic link loop (the link leads back to itself); point it at a folder of "
                        "audio files, or give that folder")
    if not root.is_dir():
        raise UserError(f"{root}: folder not found; create it and put your audio files in it")
    found = []
    for p in root.rglob("*"):
        if p.suffix.lower() not in extensions or p.name.startswith("."):
            continue
        if p.is_file():
            found.append(p.relative_to(root))
        elif p.is_symlink() and problems is not None:
            if link_loop(p):
                problems.append((p, f"{p}: symbolic link loop (its target {os.readlink(p)} leads back to it); "
                                    "skipped"))
            elif not p.exists():
                problems.append((p, f"{p}: broken symbolic link (its target {os.readlink(p)} is missing); "
                                    "skipped"))
    if problems is not None:
        problems.sort(key=lambda f: str(f[0]))
    return sorted(found, key=lambda p: p.as_posix())


def audio_info(path, count=True):
    """Return ``soundfile.info`` for ``path``, or raise :class:`UserError` if it is not usable audio.

    Refused: a missing or unreadable file, anything libsndfile cannot parse (empty, truncated header, not
    audio), and sample rates outside 8-384 kHz. A file PyAV decodes has its frames counted by decoding it
    (once per file and modification), unless ``count`` is false: its ``frames`` is then the container's
    estimate (:func:`superres.decode.av_header`) where they were not counted before.
    """
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: file not found; check the path")
    if not path.is_file():
        raise UserError(f"{path}: not a file; give an audio file or a folder of them")
    if not os.access(path, os.R_OK):
        raise UserError(f"{path}: cannot be read (permission denied); check the file's permissions")
    if path.stat().st_size == 0:
        raise UserError(f"{path}: empty file (0 bytes); re-export or remove it")
    if path.suffix.lower() in AV_EXTENSIONS:
        info = _av_info(path) if count else _AV_INFO.get(_av_key(path)) or av_header(path)
    else:
        try:
            info = sf.info(str(path))
        except Exception as e:  # libsndfile raises several types for unreadable files
            raise UserError(f"{path}: not a readable audio file ({_short(e)}); re-export it as WAV, FLAC or OGG")
    if not MIN_RATE <= info.samplerate <= MAX_RATE:
        raise UserError(f"{path}: unsupported sample rate {info.samplerate} Hz (supported: {MIN_RATE}-{MAX_RATE} "
                        "Hz); re-export it at 44.1 kHz")
    return info


#: av_info of files already counted, by (path, size, modification time): counting decodes the whole file.
_AV_INFO = {}


def _av_key(path):
    st = Path(path).stat()
    return str(Path(path).resolve()), st.st_size, st.st_mtime_ns


def _av_info(path):
    key = _av_key(path)
    if key not in _AV_INFO:
        _AV_INFO[key] = av_info(path)
    return _AV_INFO[key]


#: libsndfile subtypes of lossy codecs (slow to decode: :func:`decoded_once` decodes them once).
LOSSY_SUBTYPES = {"VORBIS", "OPUS", "MPEG_LAYER_I", "MPEG_LAYER_II", "MPEG_LAYER_III"}


def _sndfile_blocks(path, info, block, dtype="float64"):
    """The ``info.frames`` frames of a file libsndfile reads, as float blocks of ``block`` frames (the last
    shorter); decoding errors, a file ending early and NaN/inf samples raise :class:`UserError`."""
    with sf.SoundFile(str(path)) as f:
        read = 0
        while read < info.frames:
            try:
                x = f.read(min(block, info.frames - read), dtype=dtype, always_2d=True)
            except sf.LibsndfileError as e:
                raise UserError(f"{path}: could not decode audio after {read} frames ({e}); the file is corrupt")
            if x.shape[0] == 0:
                raise UserError(f"{path}: ends after {read} of {info.frames} frames; the file is truncated")
            check_finite(x, path)
            check_interrupted()
            read += x.shape[0]
            yield x


@contextmanager
def decoded_once(path, beside, watch=None, block=1 << 18):
    """Yield ``(source, info, watched)``: the file to read ``path``'s audio from, ``path``'s own info, and
    whether ``watch`` saw all of it.

    A compressed file (a lossy codec, or anything PyAV decodes) is read several times by prediction (its
    bandwidth, then the stream), and decoding is most of that work: it is decoded once, in bounded memory, into
    a temporary float WAV (RF64: no 4 GB limit) beside the output ``beside``, removed afterwards; for PyAV's
    files that same pass counts the frames, and ``watch`` (a callable) is given every decoded block, float
    (frames, channels) at the file's rate, on the way. The float is the decoders' own precision (32-bit, or 64
    where the decoder gives it): nothing is rounded. Other files are their own source, unwatched.
    """
    path = Path(path)
    head = audio_info(path, count=False)
    subtype = "DOUBLE" if head.subtype == "DOUBLE" else "FLOAT"
    if path_is_av(path):
        # In the copy's precision from the start: no conversion on the way to it.
        decoded = av_blocks(path, block, np.float64 if subtype == "DOUBLE" else np.float32)
    elif head.subtype in LOSSY_SUBTYPES:
        # float32: the precision of libsndfile's MP3 and Vorbis/Opus decoders, and the copy's.
        decoded = _sndfile_blocks(path, head, block, "float32")
    else:
        yield path, head, False
        return
    rate, channels = head.samplerate, head.channels
    tmp = None
    try:
        frames = 0
        try:
            # The output's folder, which its writer makes only later: a failure here is the UserError below.
            Path(beside).parent.mkdir(parents=True, exist_ok=True)
            tmp = make_tempfile(beside, suffix=".decoded.wav")
            # Three stages at once: decoding in a thread, watching the block before in another, writing here.
            with sf.SoundFile(tmp, "w", rate, channels, subtype, format="RF64") as f, \
                    one_behind(watch or (lambda x: None)) as watcher:
                for x in prefetch(decoded):
                    watcher(x)
                    f.write(x)
                    frames += x.shape[0]
        except (OSError, sf.LibsndfileError) as e:
            raise _write_failure(beside, tmp, e)
        if path_is_av(path):
            head = replace(head, frames=frames)
            _AV_INFO[_av_key(path)] = head
        yield Path(tmp), head, True
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def read_audio(path, dtype="float64"):
    """Read a whole audio file.

    Parameters
    ----------
    path : path-like
    dtype : {"float64", "float32", "int16"}
        ``int16`` returns the exact stored samples of a 16-bit file; other files are quantised with
        :func:`to_int16` (rounding, clipping).

    Returns
    -------
    data : ndarray, shape (frames, channels)
    rate : int
        Sample rate, Hz.
    """
    info = audio_info(path)
    if path_is_av(path):
        data = np.concatenate(list(av_blocks(path, 1 << 20)) or [np.zeros((0, info.channels))])
        return (to_int16(data) if dtype == "int16" else data.astype(dtype)), int(info.samplerate)
    try:
        if dtype == "int16" and info.subtype != "PCM_16":
            data, rate = sf.read(str(path), dtype="float64", always_2d=True)
        else:
            data, rate = sf.read(str(path), dtype=dtype, always_2d=True)
    except Exception as e:
        raise UserError(f"{path}: could not decode audio ({_short(e)}); the file may be truncated or corrupt")
    check_finite(data, path)  # before any cast: a NaN would become a full-scale int16 sample
    if data.dtype != np.dtype(dtype):
        data = to_int16(data)
    return data, int(rate)


def path_is_av(path):
    """Whether ``path`` is decoded through PyAV rather than libsndfile."""
    return Path(path).suffix.lower() in AV_EXTENSIONS


def read_blocks(path, rate, block, dtype="int16"):
    """Yield a file's audio as blocks at ``rate``, reading (and resampling, soxr VHQ) block by block.

    Memory stays bounded by ``block`` whatever the file's length. NaN/inf samples and decoding errors raise
    :class:`UserError`.

    Parameters
    ----------
    path : path-like
    rate : int
        Output rate, Hz.
    block : int
        Frames per yielded block (at ``rate``); only the last block is shorter.
    dtype : {"int16", "float64"}
        int16 (rounded and clipped), or float64 at full scale 1.0, as decoded: a 24-bit or float file keeps its
        precision.

    Yields
    ------
    ndarray, shape (<= block, channels)
        ``ceil(frames * rate / source rate)`` frames in all.
    """
    info = audio_info(path)

    decoded = av_blocks(path, block) if path_is_av(path) else _sndfile_blocks(path, info, block)
    yield from resample_blocks(decoded, info.samplerate, rate, info.channels, info.frames, block, dtype)


def resample_blocks(blocks, rate_in, rate, channels, frames_in, block, dtype="int16"):
    """Resample a stream of float blocks (soxr VHQ) into blocks of exactly ``block`` frames at ``rate``.

    The one resampling loop behind files (:func:`read_blocks`) and arrays (:func:`superres.api.upsample`).

    Parameters
    ----------
    blocks : iterable of ndarray of float, shape (n, channels)
        Full scale 1.0; ``frames_in`` frames in all.
    rate_in, rate : int
        Hz.
    channels, frames_in, block : int
    dtype : {"int16", "float64"}
        int16 (rounded and clipped) or float64 blocks.

    Yields
    ------
    ndarray, shape (<= block, channels)
        ``ceil(frames_in * rate / rate_in)`` frames in all; only the last block is shorter.
    """
    out = to_int16 if dtype == "int16" else (lambda x: np.asarray(x, np.float64))
    total = -(-frames_in * rate // rate_in)
    stream = None if rate_in == rate else soxr.ResampleStream(rate_in, rate, channels, dtype="float64",
                                                               quality="VHQ")
    pending = np.zeros((0, channels))
    emitted = read = 0
    for x in blocks:
        read += x.shape[0]
        if stream is not None:
            x = stream.resample_chunk(x, last=read >= frames_in)
        pending = np.concatenate([pending, x])
        # The resampler may deliver a few frames more than the exact ratio: never emit past ``total``.
        while pending.shape[0] >= block and emitted < total:
            n = min(block, total - emitted)
            yield out(pending[:n])
            emitted += n
            pending = pending[n:]
    # What is left, zero-padded if the resampler came up a few frames short.
    rest = np.zeros((total - emitted, channels))
    m = min(rest.shape[0], pending.shape[0])
    rest[:m] = pending[:m]
    for i in range(0, rest.shape[0], block):
        yield out(rest[i:i + block])


def exact_blocks(blocks, skip, total, block):
    """Re-cut a stream of arrays (frames, channels) into blocks of exactly ``block`` frames.

    The first ``skip`` frames are dropped and ``total`` frames are yielded (the last block shorter), the
    stream zero-padded if it ends early; what comes after ``total`` is never read.
    """
    pending, have, done = [], 0, 0
    channels = None
    it = iter(blocks)
    while done < total:
        want = min(block, total - done)
        while have < want:
            x = next(it, None)
            if x is None:
                break
            channels = x.shape[1]
            if skip:
                cut = min(skip, x.shape[0])
                x, skip = x[cut:], skip - cut
            if x.shape[0]:
                pending.append(x)
                have += x.shape[0]
        if have < want:  # the stream ended early: zeros, as fit_length pads
            pending.append(np.zeros((want - have, channels or 1), pending[0].dtype if pending else np.int16))
            have = want
        joined = np.concatenate(pending) if len(pending) > 1 else pending[0]
        yield joined[:want]
        pending, have = ([joined[want:]], have - want) if have > want else ([], 0)
        done += want


@contextmanager
def one_behind(work):
    """Yield ``feed``: ``feed(x)`` calls ``work(x)`` in a thread of its own and returns once the call before it
    is done, so that the caller goes on with the next item while the thread works on this one.

    Calls run in order, at most two wait (the one running and the one just given), and an exception in one is
    raised by the next ``feed`` or on leaving the block, whose end waits for the last call. Where the caller
    raises instead, leaving waits for the running call and drops the other.
    """
    with ThreadPoolExecutor(1) as pool:
        pending = None

        def feed(x):
            nonlocal pending
            job = pool.submit(work, x)
            if pending is not None:
                pending.result()
            pending = job

        yield feed
        if pending is not None:
            pending.result()


def prefetch(blocks, depth=1):
    """Iterate ``blocks`` in a thread of its own, up to ``depth`` items ahead of the caller.

    The stages of a stream take turns on one thread otherwise: while the caller works on one block (the splice,
    its writing), the thread computes the next (numpy, soxr, libsndfile and ONNX Runtime release the GIL, so a
    second core works too). Items come in order; an exception in the thread is raised in the caller at the
    item it stopped at, and a caller that stops iterating stops the thread at its next item.
    """
    import queue
    import threading

    items = queue.Queue(max(1, int(depth)))
    stop = threading.Event()
    done = object()

    def put(item):
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    def run():
        try:
            for x in blocks:
                if not put((x, None)):
                    return
            put((done, None))
        except BaseException as e:  # noqa: BLE001 -- re-raised in the caller's thread
            put((None, e))

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    try:
        while True:
            x, error = items.get()
            if error is not None:
                try:
                    raise error
                finally:
                    # The traceback holds this frame: without this, a cycle that keeps the stream's frames (and
                    # their blocks) until the garbage collector runs.
                    error = None
            if x is done:
                return
            yield x
    finally:
        stop.set()
        worker.join()


def to_int16(x):
    """Quantise float samples in [-1, 1) to int16, rounding to nearest and clipping (never wrapping).

    Parameters
    ----------
    x : ndarray of float
        Any shape; values outside [-1, 1) are clipped.
    """
    y = np.asarray(x, dtype=np.float64) * 32768.0  # one temporary, rounded and clipped in place
    np.rint(y, out=y)
    np.clip(y, -32768, 32767, out=y)
    return y.astype(np.int16)


def to_float(x):
    """int16 samples to float64 in [-1, 1)."""
    return np.asarray(x, dtype=np.float64) / 32768.0


def resample(x, rate_in, rate_out, quality="VHQ"):
    """Band-limited resampling with soxr.

    Parameters
    ----------
    x : ndarray, shape (frames, channels)
        int16 or float samples.
    rate_in, rate_out : int
        Hz.

    Returns
    -------
    ndarray, shape (ceil(frames * rate_out / rate_in), channels)
        Same dtype family as ``x``: int16 in gives int16 out (rounded and clipped).
    """
    if rate_in == rate_out:
        return x.copy()
    is_int = x.dtype == np.int16
    xf = to_float(x) if is_int else np.asarray(x, dtype=np.float64)
    y = soxr.resample(xf, rate_in, rate_out, quality=quality)
    # soxr may return one frame fewer or more than the exact ratio; pin the length so that a 2x round trip
    # gives back exactly the original length.
    n_out = -(-x.shape[0] * rate_out // rate_in)
    y = fit_length(y, n_out)
    return to_int16(y) if is_int else y


def fit_length(x, n):
    """Trim or zero-pad ``x`` along axis 0 to exactly ``n`` frames."""
    if x.shape[0] >= n:
        return x[:n]
    pad = np.zeros((n - x.shape[0],) + x.shape[1:], dtype=x.dtype)
    return np.concatenate([x, pad], axis=0)


def high_frames(frames_low, rate_in=LOW_RATE):
    """Frames on the 44.1 kHz grid of a signal of ``frames_low`` frames at ``rate_in``: ``ceil(n 44100 / rate_in)``.

    The one length rule of every upsample (naive, linear, sinc, the networks'): 2 n at 22.05 kHz.
    """
    return -(-int(frames_low) * HIGH_RATE // int(rate_in))


def low_frames(frames_high, rate_out=LOW_RATE):
    """Frames at ``rate_out`` of a 44.1 kHz signal of ``frames_high`` frames (as :func:`resample` gives them)."""
    return -(-int(frames_high) * int(rate_out) // HIGH_RATE)


def grid_step(rate_in=LOW_RATE):
    """The smallest number of 44.1 kHz frames that spans a whole number of ``rate_in`` frames (2 at 22.05 kHz,
    147 at 15 kHz): the points where the two grids meet."""
    return HIGH_RATE // math.gcd(HIGH_RATE, int(rate_in))


def hold_blocks(blocks, rate_in=LOW_RATE, start=0):
    """Sample-and-hold onto the 44.1 kHz grid (the blog's naive upsample), block by block.

    Output frame ``n`` is input frame ``floor(n rate_in / 44100)``: each sample repeated twice at 22.05 kHz, 2 or
    3 times (2.94 on average) at 15 kHz. ``start``: the index of the first input frame in the whole signal, so
    that a stream begun inside a song lands on the same grid (its first output frame is
    ``high_frames(start, rate_in)``). The dtype is kept; the output has :func:`high_frames` of the frames pushed,
    however the stream is cut.
    """
    done_in, done_out = int(start), high_frames(start, rate_in)
    for x in blocks:
        n_in = done_in + x.shape[0]
        n_out = high_frames(n_in, rate_in)
        if rate_in * 2 == HIGH_RATE:
            yield np.repeat(x, 2, axis=0)  # the blog's case, without index arithmetic
        else:
            yield x[np.arange(done_out, n_out, dtype=np.int64) * int(rate_in) // HIGH_RATE - done_in]
        done_in, done_out = n_in, n_out


def naive_upsample(x, rate_in=LOW_RATE):
    """Sample-and-hold onto the 44.1 kHz grid (see :func:`hold_blocks`): shape (n, c) -> (high_frames(n), c)."""
    parts = list(hold_blocks([x], rate_in))
    return parts[0] if parts else x[:0]


def naive_blocks(blocks, rate_in=LOW_RATE):
    """:func:`naive_upsample` of a stream of blocks (n, c), block by block (:func:`hold_blocks`)."""
    return hold_blocks(blocks, rate_in)


def linear_blocks(blocks, rate_in=LOW_RATE):
    """Linear interpolation between neighbouring samples onto the 44.1 kHz grid, of a stream of blocks (n, c).

    Output frame ``n`` sits at input position ``p = n rate_in / 44100``: ``(1 - f) x[i] + f x[i + 1]`` with
    ``i = floor(p)``, ``f = p - i`` (at 22.05 kHz: the input samples, and between two of them their mean); past
    the last input sample the last value is held. int16 blocks give int16 (rounded), float give float64. The
    output has :func:`high_frames` of the frames pushed, however the stream is cut.
    """
    rate_in = int(rate_in)
    prev = None  # the last input frame of the blocks before
    done_in = done_out = 0  # input frames pushed before ``prev``'s block ended; output frames given
    is_int = None
    for x in blocks:
        if not x.shape[0]:
            continue
        is_int = x.dtype == np.int16
        s = np.asarray(x if prev is None else np.concatenate([prev, x]), np.float64)
        first = done_in - (0 if prev is None else 1)  # global index of s[0]
        done_in += x.shape[0]
        # Output frames whose right neighbour is in: position < done_in - 1.
        n_out = high_frames(done_in - 1, rate_in)
        n = np.arange(done_out, n_out, dtype=np.int64)
        i, r = np.divmod(n * rate_in, HIGH_RATE)
        f = (r / HIGH_RATE)[:, None]
        out = (1 - f) * s[i - first] + f * s[i - first + 1]
        done_out = n_out
        prev = x[-1:]
        yield to_int16(out / 32768.0) if is_int else out
    if prev is not None:
        n = high_frames(done_in, rate_in) - done_out
        last = np.repeat(np.asarray(prev, np.float64), n, axis=0)
        yield to_int16(last / 32768.0) if is_int else last


def linear_upsample(x, rate_in=LOW_RATE):
    """Linear interpolation onto the 44.1 kHz grid: shape (n, c) -> (high_frames(n), c) (:func:`linear_blocks`)."""
    parts = list(linear_blocks([x], rate_in))
    return np.concatenate(parts) if parts else np.zeros((0,) + x.shape[1:], x.dtype if x.dtype == np.int16 else
                                                        np.float64)


def sinc_upsample(x, rate_in=LOW_RATE):
    """Band-limited (soxr VHQ) upsampling to 44.1 kHz: shape (n, c) -> (high_frames(n), c)."""
    return resample(x, rate_in, HIGH_RATE)


def check_writable_dir(folder):
    """Create ``folder`` if needed and make sure files can be created in it, else raise :class:`UserError`."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        os.unlink(make_tempfile(folder / "probe"))
    except OSError as e:
        raise UserError(f"{folder}: cannot write there ({e.strerror or e}); choose another output folder")


#: Free space below which a write error from libsndfile (which reports only "System error.") is taken for a
#: full disk, bytes.
_FULL_DISK = 1 << 20


def _write_failure(path, tmp, e):
    """A :class:`UserError` for a failed write of ``path``: the reason, and what to do."""
    code = getattr(e, "errno", None)
    if code is None and isinstance(e, sf.LibsndfileError):
        # libsndfile loses the errno: ask the file system whether it is full.
        try:
            st = os.statvfs(Path(tmp or path).parent)
            if st.f_bavail * st.f_frsize < _FULL_DISK:
                code = errno.ENOSPC
        except OSError:
            pass
    reason = os.strerror(code) if code else _short(e)
    hint = "free some space and re-run" if code == errno.ENOSPC else "check the output folder"
    return UserError(f"{path}: cannot write ({reason}); {hint}; nothing was written there")


@contextmanager
def atomic_output(path):
    """Yield a temporary path beside ``path``; rename it to ``path`` only if the block succeeds.

    On any error (including KeyboardInterrupt and the signals :func:`superres.cli.run` turns into one) the
    temporary file is removed, so a failed run never leaves a partial output under the final name. Write
    errors (a full disk, a read-only folder) become a :class:`UserError` naming the file.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = make_tempfile(path, suffix=f".tmp{path.suffix}")
        yield tmp
        os.replace(tmp, path)
    except (OSError, sf.LibsndfileError) as e:
        raise _write_failure(path, tmp, e)
    finally:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)


def quantize(x, subtype):
    """Float samples, full scale 1.0 -> the array to hand libsndfile for ``subtype``: integers rounded and
    clipped at full scale; floats as they are, peaks past full scale included (a float file holds them, and a
    decoded lossy file has them).

    Parameters
    ----------
    x : ndarray of float, shape (frames, channels)
    subtype : {"PCM_16", "PCM_24", "FLOAT"}

    Returns
    -------
    ndarray
        int16 for PCM_16 (:func:`to_int16`); int32 holding the 24-bit value in its top three bytes for PCM_24
        (libsndfile keeps those bytes, so nothing is rounded twice); float32 for FLOAT.
    """
    if subtype == "PCM_16":
        return to_int16(x)
    if subtype == "PCM_24":
        return (np.clip(np.rint(np.asarray(x, np.float64) * 2.0 ** 23), -2 ** 23, 2 ** 23 - 1)
                .astype(np.int32) << 8)
    if subtype == "FLOAT":
        return np.asarray(x, np.float32)
    raise ValueError(f"unknown subtype {subtype!r}")


#: Per output subtype: the largest and smallest float sample that :func:`quantize` keeps unclipped.
_FULL_SCALE = {"PCM_16": ((2 ** 15 - 0.5) / 2 ** 15, -(2 ** 15 + 0.5) / 2 ** 15),
               "PCM_24": ((2 ** 23 - 0.5) / 2 ** 23, -(2 ** 23 + 0.5) / 2 ** 23),
               "FLOAT": (np.inf, -np.inf)}


def clipped_samples(x, subtype):
    """How many samples of ``x`` (float, full scale 1.0) :func:`quantize` clips to full scale for ``subtype``."""
    hi, lo = _FULL_SCALE[subtype]
    return int(np.count_nonzero(x > hi) + np.count_nonzero(x < lo))


def output_format(path, subtype="PCM_16"):
    """The libsndfile format :func:`write_audio` and :func:`open_atomic_writer` write ``path`` in, from its
    extension; a :class:`UserError` naming the file if that extension, or ``subtype`` in it, cannot be written
    losslessly.

    Parameters
    ----------
    path : path-like
    subtype : str
        libsndfile subtype (:data:`SUBTYPES`' values).
    """
    path = Path(path)
    fmt = WRITE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        what = f"{path.suffix} files" if path.suffix else "a file without an extension"
        raise UserError(f"{path}: cannot write {what}; name the output .wav or .flac (lossless)")
    if subtype not in sf.available_subtypes():  # not a file's problem: the caller's
        raise ValueError(f"unknown libsndfile subtype {subtype!r}")
    if not sf.check_format(fmt, subtype):
        raise UserError(f"{path}: {fmt} cannot hold {_SUBTYPE_NAMES.get(subtype, subtype)} samples; write .wav, or "
                        "16- or 24-bit samples to .wav or .flac")
    return fmt


def write_audio(path, data, rate, subtype="PCM_16"):
    """Write ``data`` (frames, channels) to ``path`` atomically; the format follows the extension.

    int16 data is written as stored; float data is written as float and converted by libsndfile to
    ``subtype``. An output that cannot be written losslessly is refused first (:func:`output_format`).
    """
    path = Path(path)
    fmt = output_format(path, subtype)
    with atomic_output(path) as tmp:
        sf.write(tmp, data, rate, subtype=subtype, format=fmt)


@contextmanager
def open_atomic_writer(path, rate, channels, subtype="PCM_16"):
    """Open a :class:`soundfile.SoundFile` for block-wise writing; it appears under ``path`` only on success.

    An output that cannot be written losslessly is refused before anything is created (:func:`output_format`).
    """
    path = Path(path)
    fmt = output_format(path, subtype)
    with atomic_output(path) as tmp:
        with sf.SoundFile(tmp, "w", samplerate=rate, channels=channels, subtype=subtype, format=fmt) as f:
            yield f


def write_text(path, text):
    """Write a text file atomically (tables, JSON results)."""
    with atomic_output(path) as tmp:
        Path(tmp).write_text(text)


def _short(e):
    return str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
