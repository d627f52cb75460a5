"""Stage 20: windowed, bit-encoded training and test arrays, written incrementally to ``.npy`` files.

Layout of the dataset folder (``format_version`` 2):

- ``train_x.npy``, ``test_x.npy``: the scan's low-rate signal (22.05 kHz unless ``10-scan.py --rate`` chose
  another) brought to the 44.1 kHz grid -- ``input="naive"`` (sample-and-hold: each sample repeated twice at
  22.05 kHz, the blog's input) or ``"sinc"`` (soxr VHQ band-limited interpolation) -- and stored
  as ``encoding="bits"``: uint8, shape (windows, window, 16), as in :mod:`superres.encoding` (the blog's), or
  ``encoding="pcm"``: int16, shape (windows, window).
- ``train_y.npy``, ``test_y.npy``: int16, shape (windows, window) -- the original 44.1 kHz samples of the
  same steps.
- ``meta.json``: format version, rates (``low_rate``: the scan's), factor (44100 / low rate), window, hop,
  encoding, the songs and their window counts.

Each song is split in time: windows from its first ``train_fraction`` (80%) go to train, windows from the
rest to test. Each channel is an independent stream. Only whole windows are kept. Arrays are written through
``numpy.lib.format.open_memmap`` one block at a time, so memory stays flat whatever the size of the music
folder.
"""

import os
import shutil
import secrets
from pathlib import Path

import numpy as np
from numpy.lib.format import open_memmap

from .audio import HIGH_RATE, audio_info, fit_length, naive_upsample, read_audio, sinc_upsample
from .encoding import BITS, int16_to_bits
from .errors import UserError, check_interrupted
from .manifest import FORMAT_VERSION, permission_denied, read_manifest, relative_path, write_json_atomic
from .scan import load_scan, reference_path

META_NAME = "meta.json"
#: Input encodings: name -> description stored in meta.json.
ENCODINGS = {"bits": "int16 two's complement, 16 bits, MSB (sign) first, uint8 0/1",
             "pcm": "int16 samples"}
#: How the low-rate signal is brought to 44.1 kHz before encoding.
INPUTS = ("naive", "sinc")
SPLITS = ("train", "test")
#: Steps (windows x window length) encoded per block while writing: 8192 of the blog's 50-step windows, about
#: 8 MB of bits per block. Counted in steps, not windows, so that memory stays bounded for long windows too.
_BLOCK_STEPS = 8192 * 50


def split_point(frames, train_fraction=0.8):
    """First frame of the test part of a song of ``frames`` 44.1 kHz frames: ``floor(frames * fraction)``."""
    return int(np.floor(frames * train_fraction))


def full_windows(n, window, hop):
    """Number of whole windows of ``window`` steps, ``hop`` apart, that fit in ``n`` steps."""
    return 0 if n < window else (n - window) // hop + 1


def _part_ranges(frames, train_fraction):
    s = split_point(frames, train_fraction)
    return {"train": (0, s), "test": (s, frames)}


def x_shape(n, window, encoding):
    """Shape of an input array of ``n`` windows."""
    return (n, window, BITS) if encoding == "bits" else (n, window)


def upsample_input(low, kind, rate_in):
    """The network's input signal at 44.1 kHz: int16 (n, c) at ``rate_in`` -> int16 (high_frames(n), c), naive or
    sinc."""
    return naive_upsample(low, rate_in) if kind == "naive" else sinc_upsample(low, rate_in)


def build_dataset(scan_dir, out_dir, window=50, hop=None, train_fraction=0.8, log=print, input="naive",
                  encoding="bits", originals=None):
    """Encode every scanned song into the train/test arrays.

    Parameters
    ----------
    scan_dir : path-like
        Output of stage 10 (the low-rate WAVs and their manifest; the dataset follows the scan's rate).
    out_dir : path-like
        Dataset folder. An existing dataset there is replaced only once the new one is complete.
    window : int
        Window length in 44.1 kHz steps (the blog used 50).
    hop : int, optional
        Steps between window starts; default ``window`` (no overlap).
    train_fraction : float
        Share of each song, from its start, that goes to training.
    input : {"naive", "sinc"}
        How the low-rate signal is upsampled to the network's input.
    encoding : {"bits", "pcm"}
        How input samples are stored: 16-bit vectors (the blog) or plain int16.
    originals : path-like, optional
        The folder of the 44.1 kHz originals the scan read, for a scan folder moved or copied without them
        (default: where the scan manifest says, relative to the scan folder).

    Returns
    -------
    dict
        The ``meta.json`` written.
    """
    hop = hop or window
    if window < 2 or window % 2 or hop < 1:
        raise UserError(f"window must be an even number >= 2 and hop >= 1 (got window={window}, hop={hop})")
    if input not in INPUTS or encoding not in ENCODINGS:
        raise UserError(f"input must be one of {INPUTS} and encoding one of {tuple(ENCODINGS)} "
                        f"(got {input!r}, {encoding!r})")
    if not 0 < train_fraction < 1:
        raise UserError(f"train fraction must be between 0 and 1 (got {train_fraction})")
    scan_dir, out_dir = Path(scan_dir), Path(out_dir)
    scan = load_scan(scan_dir)
    _check_sources(scan, scan_dir, originals)
    _check_output(out_dir)

    songs, counts = [], {k: 0 for k in SPLITS}
    for e in scan["files"]:
        ranges = _part_ranges(e["frames_high"], train_fraction)
        per = {k: full_windows(b - a, window, hop) * e["channels"] for k, (a, b) in ranges.items()}
        songs.append({"source": e["source"], "low": e["output"], "channels": e["channels"],
                      "frames": e["frames_high"], "split_frame": ranges["test"][0],
                      "offset": dict(counts), "windows": per})
        for k in SPLITS:
            counts[k] += per[k]
    if counts["train"] == 0 or counts["test"] == 0:
        raise UserError(f"{scan_dir}: the songs are too short to give whole {window}-step windows in both the "
                        f"train and test parts ({counts}); add longer audio or use a smaller --window")
    meta = {
        "stage": "dataset",
        "format_version": FORMAT_VERSION,
        "scan_dir": relative_path(scan_dir, out_dir),
        "high_rate": HIGH_RATE,
        "low_rate": scan["low_rate"],
        "factor": HIGH_RATE / scan["low_rate"],
        "input": input,
        "window": window,
        "hop": hop,
        "bits": BITS,
        "encoding": encoding,
        "encoding_description": ENCODINGS[encoding],
        "train_fraction": train_fraction,
        "counts": counts,
        "songs": songs,
    }
    # The new dataset is built in a folder beside the old one and takes its place only when complete: a
    # failed or interrupted rebuild leaves the old dataset as it was, and no temporary arrays behind.
    # Named before it is made, so that the clean-up below knows it even when a signal arrives as it is made.
    building = out_dir.parent / f".dataset-{secrets.token_hex(8)}"
    try:
        try:
            building.mkdir()
        except OSError as e:
            raise UserError(f"{out_dir.parent}: cannot write there ({e.strerror or e}); choose another --output")
        _write_arrays(building, scan, scan_dir, songs, counts, window, hop, train_fraction, input, encoding, log,
                      originals)
        write_json_atomic(building / META_NAME, meta)
        _swap_in(building, out_dir)
    except OSError as e:
        raise UserError(f"{out_dir}: cannot write the dataset ({e.strerror or e}); check the folder and the free "
                        "space; an earlier dataset there is unchanged")
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return meta


#: Files a dataset folder holds; a folder with anything else in it is not replaced.
_DATASET_FILES = {META_NAME} | {f"{k}_{kind}.npy" for k in SPLITS for kind in ("x", "y")}


def _check_output(out_dir):
    """Refuse an output path that is a file, or a folder holding files other than a dataset's."""
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"{out_dir}: is a file, not a folder; choose another --output")
    if out_dir.is_dir():
        other = sorted(p.name for p in out_dir.iterdir() if p.name not in _DATASET_FILES)
        if other:
            raise UserError(f"{out_dir}: holds other files than a dataset's ({', '.join(other[:3])}); choose an "
                            "empty or new folder for --output")
    parent = out_dir.parent
    if not parent.is_dir():
        try:
            parent.mkdir(parents=True)
        except OSError as e:
            raise UserError(f"{parent}: cannot create it ({e.strerror or e}); choose another --output")


def _check_sources(scan, scan_dir, originals=None):
    """Every file the scan lists must still be there, as the scan wrote it, before anything is built."""
    for e in scan["files"]:
        for path, rate, frames in ((scan_dir / e["output"], scan["low_rate"], e["frames_low"]),
                                   (reference_path(scan, e, scan_dir, originals), HIGH_RATE, e["frames_high"])):
            info = audio_info(path)
            if info.samplerate != rate or info.channels != e["channels"] or abs(info.frames - frames) > 1:
                raise UserError(f"{path}: changed since 10-scan.py ran ({info.samplerate} Hz, {info.channels} "
                                f"channels, {info.frames} frames; the scan recorded {rate} Hz, {e['channels']} "
                                f"channels, {frames} frames); re-run 10-scan.py")


def _swap_in(building, out_dir):
    """Put the finished folder ``building`` in the place of ``out_dir`` (two renames; the old one deleted)."""
    old = None
    try:
        if out_dir.exists():
            old = out_dir.parent / f".dataset-old-{secrets.token_hex(8)}"
            old.mkdir()
            os.replace(out_dir, old / "dataset")
        os.replace(building, out_dir)
    except BaseException:
        if old is not None and (old / "dataset").exists():
            os.replace(old / "dataset", out_dir)
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def _write_arrays(folder, scan, scan_dir, songs, counts, window, hop, train_fraction, input, encoding, log,
                  originals=None):
    """Encode every song into ``folder``'s four arrays, block by block through memmaps."""
    arrays = {}
    for k in SPLITS:
        x_dtype = np.uint8 if encoding == "bits" else np.int16
        for kind, dtype, shape in (("x", x_dtype, x_shape(counts[k], window, encoding)),
                                   ("y", np.int16, (counts[k], window))):
            arrays[k, kind] = open_memmap(folder / f"{k}_{kind}.npy", mode="w+", dtype=dtype, shape=shape)

    pos = {k: 0 for k in SPLITS}
    for e, song in zip(scan["files"], songs):
        ref, ref_rate = read_audio(reference_path(scan, e, scan_dir, originals), "int16")
        low, low_rate = read_audio(scan_dir / e["output"], "int16")
        if ref_rate != HIGH_RATE or low_rate != scan["low_rate"] or ref.shape[1] != low.shape[1]:
            raise UserError(f"{scan_dir / e['output']}: rates or channels differ from the scan manifest; "
                            "re-run 10-scan.py")
        frames = e["frames_high"]
        ref = fit_length(ref, frames)
        inp = fit_length(upsample_input(low, input, low_rate), frames)
        encode = int16_to_bits if encoding == "bits" else np.asarray
        for k, (a, b) in _part_ranges(frames, train_fraction).items():
            nw = full_windows(b - a, window, hop)
            per_block = max(1, _BLOCK_STEPS // window)
            for c in range(ref.shape[1]):
                for w0 in range(0, nw, per_block):
                    check_interrupted()
                    w1 = min(nw, w0 + per_block)
                    idx = a + np.arange(w0, w1)[:, None] * hop + np.arange(window)[None, :]
                    arrays[k, "x"][pos[k]:pos[k] + w1 - w0] = encode(inp[idx, c])
                    arrays[k, "y"][pos[k]:pos[k] + w1 - w0] = ref[idx, c]
                    pos[k] += w1 - w0
        log(f"encoded {e['source']}: {song['windows']['train']} train, {song['windows']['test']} test windows")
    for arr in arrays.values():
        arr.flush()
    arrays.clear()  # closes the memmaps before the folder is renamed


#: Fields of meta.json that training and evaluation read.
_META_KEYS = ("window", "hop", "bits", "encoding", "input", "train_fraction", "counts", "songs", "scan_dir",
              "high_rate", "low_rate", "factor")


def load_meta(dataset_dir):
    """Read and check ``meta.json`` of a dataset folder."""
    path = Path(dataset_dir) / META_NAME
    meta = read_manifest(path, "dataset", "dataset meta.json")
    missing = [k for k in _META_KEYS if k not in meta]
    counts = meta.get("counts")
    if missing or not isinstance(counts, dict) or not all(isinstance(counts.get(k), int) for k in SPLITS):
        raise UserError(f"{path}: incomplete or edited (missing {', '.join(missing) or 'the window counts'}); "
                        "re-run 20-make-dataset.py")
    return meta


def open_split(dataset_dir, split):
    """Memory-map one split's arrays read-only.

    Returns
    -------
    x : memmap of uint8, shape (windows, window, 16), or of int16, shape (windows, window) (see ``encoding``)
    y : memmap of int16, shape (windows, window)
    """
    dataset_dir = Path(dataset_dir)
    meta = load_meta(dataset_dir)
    out = []
    for kind in ("x", "y"):
        path = dataset_dir / f"{split}_{kind}.npy"
        try:
            out.append(np.load(path, mmap_mode="r", allow_pickle=False))
        except FileNotFoundError:
            raise UserError(f"{path}: missing; re-run 20-make-dataset.py")
        except PermissionError:
            raise permission_denied(path)
        except (ValueError, OSError) as e:
            raise UserError(f"{path}: corrupt array ({e}); re-run 20-make-dataset.py")
    x, y = out
    n = meta["counts"][split]
    if x.shape != x_shape(n, meta["window"], meta["encoding"]) or y.shape != (n, meta["window"]):
        raise UserError(f"{dataset_dir}: {split} arrays have shapes {x.shape}, {y.shape}, not what meta.json "
                        "says; re-run 20-make-dataset.py")
    return x, y
