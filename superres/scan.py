"""Stage 10: make the low-rate copies (22.05 kHz by default) of the 44.1 kHz originals.

For every audio file under the input folder (recursive, sorted: WAV, FLAC, OGG and MP3 through libsndfile, the
formats of :data:`superres.decode.AV_EXTENSIONS` through PyAV) the stage writes a 16-bit WAV at the scan's rate
(22.05 kHz, or the ``rate`` asked for: 15 kHz for the experiment of the blog's README) with the same relative
path and channels to the output folder, band-limited by soxr (VHQ). The later stages follow the rate the
manifest records. A source at
another rate is first resampled to 44.1 kHz; that 44.1 kHz version is the reference the later stages learn
and measure against, and is written under ``reference44k/`` in the output folder. The manifest
``manifest.json`` lists every file; a re-run skips files whose source is unchanged.
"""

from pathlib import Path

from .audio import (HIGH_RATE, LOW_RATE, MAX_LOW_RATE, MIN_LOW_RATE, SCAN_EXTENSIONS, audio_info, check_writable_dir,
                    list_audio_files, open_atomic_writer, read_blocks)
from .errors import UserError, check_interrupted, to_stderr
from .manifest import (FORMAT_VERSION, MANIFEST_NAME, previous_manifest, read_manifest, relative_path, resolve_path,
                       resolved, write_json_atomic)

REFERENCE_DIR = "reference44k"
#: Where the scan writes, and the later stages look, when no folder is given (relative to the working folder).
DEFAULT_SCAN_DIR = "data/22k"


def default_scan_dir(rate=LOW_RATE):
    """Where a scan at ``rate`` Hz writes by default: ``data/22k`` at 22.05 kHz, else ``data/15k``, ``data/11.025k``."""
    return DEFAULT_SCAN_DIR if rate == LOW_RATE else f"data/{rate / 1000:g}k"


def _source_stamp(path):
    st = Path(path).stat()
    return {"source_size": st.st_size, "source_mtime_ns": st.st_mtime_ns}


#: Frames per block when streaming a file through the resampler (about 23 s at 44.1 kHz).
_BLOCK = 1 << 20


def _stream_resample(src, dst, rate):
    """Resample ``src`` to ``rate`` into ``dst`` (16-bit WAV, atomically), block by block; return frames."""
    info = audio_info(src)
    frames = 0
    with open_atomic_writer(dst, rate, info.channels) as out:
        for x in read_blocks(src, rate, _BLOCK):
            out.write(x)
            frames += x.shape[0]
    return frames


def _scan_one(src, rel, output_dir, log, rate=LOW_RATE):
    """Write one song's low-rate copy (and 44.1 kHz reference if resampled); return its manifest entry."""
    info = audio_info(src)
    if info.frames == 0:
        raise UserError(f"{src}: contains no audio frames; remove it from the input folder")
    out_rel = rel.with_suffix(".wav").as_posix()
    reference, ref_path = None, src
    if info.samplerate != HIGH_RATE:
        note = "" if info.samplerate > HIGH_RATE else \
            f"; it has nothing above {info.samplerate / 2000:g} kHz, a poor original to learn the top octave from"
        log(f"note  {rel}: {info.samplerate} Hz, resampled to {HIGH_RATE} Hz first{note}")
        reference = (Path(REFERENCE_DIR) / out_rel).as_posix()
        ref_path = output_dir / reference
        frames_high = _stream_resample(src, ref_path, HIGH_RATE)
    else:
        frames_high = info.frames
    try:
        frames_low = _stream_resample(ref_path, output_dir / out_rel, rate)
    except UserError:
        if reference:
            (output_dir / reference).unlink(missing_ok=True)
        raise
    log(f"wrote {out_rel} ({frames_high / HIGH_RATE:.1f} s, {info.channels} ch)")
    return {
        "source": rel.as_posix(),
        "output": out_rel,
        "reference": reference,
        "source_rate": info.samplerate,
        "source_subtype": info.subtype,
        "channels": int(info.channels),
        "frames_high": int(frames_high),
        "frames_low": int(frames_low),
        **_source_stamp(src),
    }


def scan(input_dir, output_dir, log=print, warn=to_stderr, rate=LOW_RATE):
    """Write the low-rate copies and the manifest.

    Files are streamed block by block, so memory stays bounded for songs of any length. A file that cannot
    be used is reported and skipped; the others are still written.

    Parameters
    ----------
    input_dir : path-like
        Folder of originals (WAV, FLAC or OGG, any rate; 44.1 kHz expected).
    output_dir : path-like
        Folder for the low-rate WAVs; created if missing.
    log : callable
        Receives one line per file.
    warn : callable
        Receives the ``error:`` line of each file that fails (default: stderr).
    rate : int
        The copies' rate, Hz (default 22050, the blog's; any rate below 44.1 kHz).

    Returns
    -------
    manifest : dict
        The manifest written (successful files only).
    failures : list of (path, message)
    """
    input_dir, output_dir, rate = Path(input_dir), Path(output_dir), int(rate)
    if not MIN_LOW_RATE <= rate <= MAX_LOW_RATE:
        raise UserError(f"--rate {rate}: the copies' rate must be from {MIN_LOW_RATE} to {MAX_LOW_RATE} Hz, below the "
                        f"originals' {HIGH_RATE} Hz")
    if resolved(output_dir) == resolved(input_dir) or resolved(input_dir) in resolved(output_dir).parents:
        raise UserError(f"{output_dir}: the output folder must not be inside the input folder {input_dir}")
    failures = []  # broken links found in the folder first, then the files that fail
    files = list_audio_files(input_dir, SCAN_EXTENSIONS, failures)
    if not files:
        raise UserError(f"{input_dir}: no audio files found (.wav, .flac, .mp3, .m4a, ...); put your 44.1 kHz music "
                        "there")
    outputs = {}
    for rel in files:
        out = rel.with_suffix(".wav").as_posix()
        if out in outputs:
            raise UserError(f"{input_dir / rel}: same name as {input_dir / outputs[out]} apart from the extension; "
                            "rename one of them")
        outputs[out] = rel
    check_writable_dir(output_dir)

    old = previous_manifest(output_dir, "scan")
    # Copies made at another rate are not this scan's: all made again.
    previous = {e["source"]: e for e in old["files"]} if old and old.get("low_rate") == rate else {}
    if old and old.get("low_rate") != rate:
        log(f"note  {output_dir}: held a scan at {old.get('low_rate')} Hz; making every copy again at {rate} Hz")

    entries = []
    for rel in files:
        src = input_dir / rel
        old = previous.get(rel.as_posix())
        if (old and src.is_file() and all(old.get(k) == v for k, v in _source_stamp(src).items())
                and (output_dir / old["output"]).is_file()
                and (old["reference"] is None or (output_dir / old["reference"]).is_file())):
            log(f"skip  {rel} (done)")
            entries.append(old)
            continue
        try:
            entries.append(_scan_one(src, rel, output_dir, log, rate))
        except UserError as e:
            check_interrupted()  # a signal inside a C call may surface as a decoding error
            failures.append((src, str(e)))
            warn(f"error: {e}")
    if not entries:
        raise UserError(f"{input_dir}: none of the {len(files)} audio files could be used (see above)")
    manifest = {
        "stage": "scan",
        "format_version": FORMAT_VERSION,
        "input_dir": relative_path(input_dir, output_dir),
        "high_rate": HIGH_RATE,
        "low_rate": rate,
        "resampler": "soxr VHQ",
        "sample_format": "PCM_16",
        "files": entries,
    }
    write_json_atomic(output_dir / MANIFEST_NAME, manifest)
    return manifest, failures


def load_scan(scan_dir):
    """Read and check the scan manifest of ``scan_dir`` (its ``low_rate`` is the rate of its copies, Hz)."""
    m = read_manifest(scan_dir, "scan")
    low = m.get("low_rate")
    if m.get("high_rate") != HIGH_RATE or not isinstance(low, int) or not MIN_LOW_RATE <= low <= MAX_LOW_RATE:
        raise UserError(f"{scan_dir}: made for {m.get('high_rate')} -> {low} Hz, this version works on "
                        f"{HIGH_RATE} Hz originals and copies from {MIN_LOW_RATE} to {MAX_LOW_RATE} Hz; re-run "
                        "10-scan.py")
    return m


def reference_path(manifest, entry, scan_dir, originals=None):
    """Path of the 44.1 kHz reference of a scanned song: its resampled copy in the scan folder, or the original.

    The originals are looked for in ``originals`` (``--originals``) if given, else where the manifest says
    (relative to the scan folder). A scan folder moved or copied without them is refused here, with the
    option that names them.
    """
    if entry["reference"]:
        return Path(scan_dir) / entry["reference"]
    folder = Path(originals) if originals is not None else resolve_path(manifest["input_dir"], scan_dir)
    path = folder / entry["source"]
    if not path.exists():
        where = "in --originals" if originals is not None else "where 10-scan.py read it"
        raise UserError(f"{path}: the original of {entry['source']} is not {where}; if the scan folder {scan_dir} "
                        "was moved or copied without its originals, give --originals DIR, the folder 10-scan.py "
                        "read")
    return path
