"""Stage 10: make the 22.05 kHz copies of the 44.1 kHz originals.

For every WAV/FLAC file under the input folder (recursive, sorted) the stage writes a 16-bit 22.05 kHz WAV
with the same relative path and channels to the output folder, band-limited by soxr (VHQ). A source at
another rate is first resampled to 44.1 kHz; that 44.1 kHz version is the reference the later stages learn
and measure against, and is written under ``reference44k/`` in the output folder. The manifest
``manifest.json`` lists every file; a re-run skips files whose source is unchanged.
"""

from pathlib import Path

from .audio import (HIGH_RATE, LOW_RATE, SCAN_EXTENSIONS, audio_info, list_audio_files, read_audio, resample,
                    write_audio)
from .errors import UserError
from .manifest import FORMAT_VERSION, MANIFEST_NAME, read_manifest, write_json_atomic

REFERENCE_DIR = "reference44k"


def _source_stamp(path):
    st = Path(path).stat()
    return {"source_size": st.st_size, "source_mtime_ns": st.st_mtime_ns}


def scan(input_dir, output_dir, log=print):
    """Write the 22.05 kHz copies and the manifest.

    Parameters
    ----------
    input_dir : path-like
        Folder of originals (WAV or FLAC, any rate; 44.1 kHz expected).
    output_dir : path-like
        Folder for the 22.05 kHz WAVs; created if missing.
    log : callable
        Receives one line per file.

    Returns
    -------
    dict
        The manifest written.
    """
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    if output_dir.resolve() == input_dir.resolve() or input_dir.resolve() in output_dir.resolve().parents:
        raise UserError(f"{output_dir}: the output folder must not be inside the input folder {input_dir}")
    files = list_audio_files(input_dir, SCAN_EXTENSIONS)
    if not files:
        raise UserError(f"{input_dir}: no .wav or .flac files found; put your 44.1 kHz music there")
    outputs = {}
    for rel in files:
        out = rel.with_suffix(".wav").as_posix()
        if out in outputs:
            raise UserError(f"{input_dir / rel}: same name as {input_dir / outputs[out]} apart from the extension; "
                            "rename one of them")
        outputs[out] = rel

    previous = {}
    if (output_dir / MANIFEST_NAME).is_file():
        old = read_manifest(output_dir, "scan")
        previous = {e["source"]: e for e in old["files"]}

    entries = []
    for rel in files:
        src = input_dir / rel
        stamp = _source_stamp(src)
        out_rel = rel.with_suffix(".wav").as_posix()
        old = previous.get(rel.as_posix())
        if (old and all(old.get(k) == v for k, v in stamp.items()) and (output_dir / out_rel).is_file()
                and (old["reference"] is None or (output_dir / old["reference"]).is_file())):
            log(f"skip  {rel} (done)")
            entries.append(old)
            continue
        info = audio_info(src)
        x, rate = read_audio(src, "int16")
        if x.shape[0] == 0:
            raise UserError(f"{src}: contains no audio frames; remove it from the input folder")
        reference = None
        if rate != HIGH_RATE:
            log(f"note  {rel}: {rate} Hz, resampled to {HIGH_RATE} Hz first")
            x = resample(x, rate, HIGH_RATE)
            reference = (Path(REFERENCE_DIR) / out_rel).as_posix()
            write_audio(output_dir / reference, x, HIGH_RATE)
        low = resample(x, HIGH_RATE, LOW_RATE)
        write_audio(output_dir / out_rel, low, LOW_RATE)
        log(f"wrote {out_rel} ({x.shape[0] / HIGH_RATE:.1f} s, {x.shape[1]} ch)")
        entries.append({
            "source": rel.as_posix(),
            "output": out_rel,
            "reference": reference,
            "source_rate": rate,
            "source_subtype": info.subtype,
            "channels": int(x.shape[1]),
            "frames_high": int(x.shape[0]),
            "frames_low": int(low.shape[0]),
            **stamp,
        })
    manifest = {
        "stage": "scan",
        "format_version": FORMAT_VERSION,
        "input_dir": str(input_dir.resolve()),
        "high_rate": HIGH_RATE,
        "low_rate": LOW_RATE,
        "resampler": "soxr VHQ",
        "sample_format": "PCM_16",
        "files": entries,
    }
    write_json_atomic(output_dir / MANIFEST_NAME, manifest)
    return manifest


def load_scan(scan_dir):
    """Read and check the scan manifest of ``scan_dir``."""
    m = read_manifest(scan_dir, "scan")
    if m.get("high_rate") != HIGH_RATE or m.get("low_rate") != LOW_RATE:
        raise UserError(f"{scan_dir}: made for {m.get('high_rate')} -> {m.get('low_rate')} Hz, this version works "
                        f"on {HIGH_RATE} -> {LOW_RATE} Hz; re-run 10-scan.py")
    return m


def reference_path(manifest, entry, scan_dir):
    """Path of the 44.1 kHz reference of a scanned song: the original, or its resampled copy."""
    if entry["reference"]:
        return Path(scan_dir) / entry["reference"]
    return Path(manifest["input_dir"]) / entry["source"]
