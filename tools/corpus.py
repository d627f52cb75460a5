"""A training corpus of full-band music, rebuilt from Debian packages (used by ``build_music_set.py``).

It lives with the tools that build data, not in the package a user's prediction imports.

The pipeline learns to restore the 11-22 kHz band, so its training music must actually have content up to
about 22 kHz. Debian ships freely licensed music and samples; this module downloads a few such packages
(never installing them), keeps the files whose measured bandwidth reaches :data:`MIN_BANDWIDTH_HZ`, and
writes them as 16-bit 44.1 kHz WAVs split into ``train/`` and ``heldout/``, with a record of where every
file came from, its licence, and why every other file was dropped.

Stages (all in :func:`build`):

1. :func:`fetch_deb` / :func:`extract_deb` -- ``apt-get download`` and ``dpkg-deb -x`` into a cache folder.
2. :func:`parse_copyright` / :func:`licence_for` -- each file's licence from ``usr/share/doc/<pkg>/copyright``.
3. :func:`examine` -- per file: demo song?, too short?, native rate, near silence, :func:`measure_bandwidth`.
4. :func:`select` (:func:`split_of`, :func:`cap_every_kth`) -- whole-file train/held-out split; a length cap.
5. :func:`write_wav`, :func:`sources_json`, :func:`sources_markdown` -- the WAVs and the two records.

Signals are numpy arrays of shape ``(frames, channels)``; rates and frequencies are in Hz; durations in
seconds.
"""

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import scipy.signal
import soundfile as sf

from superres.audio import HIGH_RATE, atomic_output, list_audio_files, resample, to_int16, write_audio
from superres.errors import UserError
from superres.manifest import write_json_atomic

#: Debian packages the corpus is built from, in processing order.
PACKAGES = ("wesnoth-1.16-music", "sonic-pi-samples", "hydrogen-drumkits", "supertuxkart-data", "megaglest-data",
            "widelands-data", "supertux-data", "openclonk-data", "neverball-data", "xmoto-data",
            "extremetuxracer-data", "singularity-music", "drascula-music", "frozen-bubble-data", "freeciv-data",
            "lmms-common",
            # Added to the training songs only (the held-out songs stay those of the sixteen above): 223 minutes
            # of full-band soundtracks (a few effects and voice clips among them), found by surveying some 80
            # packages' audio with survey_package.
            "naev-data", "unknown-horizons", "starfighter-data", "hyperrogue-music", "freeorion-data",
            "pushover-data")
#: Source audio looked for inside the extracted packages (compared lower case).
AUDIO_EXTENSIONS = (".ogg", ".flac", ".wav")
#: Rate of every written file, Hz.
TARGET_RATE = HIGH_RATE
#: Shorter files are dropped, s: the dataset cuts 50-step windows from the first 80% and the last 20% of
#: each song, and a drum hit of a few tenths of a second adds almost nothing to either.
MIN_SECONDS = 1.0
#: Welch segment length, samples (10.8 Hz resolution at 44.1 kHz).
WELCH_NPERSEG = 4096
#: Width of the moving average applied to the long-term spectrum before thresholding, Hz. It keeps a
#: single noisy bin or a narrow tone from deciding the bandwidth.
SMOOTH_HZ = 100.0
#: The bandwidth is the highest frequency whose smoothed power is within this many dB of the spectrum's
#: maximum. Encoder lowpasses leave the band above the cutoff 100-160 dB below the maximum, while real
#: orchestral high end sits 60-90 dB below it (see :func:`measure_bandwidth`).
BANDWIDTH_DB = 90.0
#: ...and at least this many dB above the noise of 16-bit rounding (see :func:`measure_bandwidth`).
FLOOR_MARGIN_DB = 10.0
#: Files whose measured bandwidth is below this are dropped as lowpassed, Hz. Vorbis encoders lowpass at
#: 14-19.4 kHz (wesnoth-1.16-music's lowpassed tracks all sit there); several widelands and supertuxkart tracks
#: reach 19.5-19.9 kHz, which is full band for the 11-22 kHz octave the network restores.
MIN_BANDWIDTH_HZ = 19500.0
#: Files quieter than this (RMS over all channels, dB re full scale) are dropped: there is no music to learn.
SILENCE_DBFS = -60.0
#: Share of each package's files that go to ``heldout/`` (chosen by a hash of the file name); packages not
#: listed here go entirely to ``train/``. Hydrogen drum hits are not music to evaluate on.
HELDOUT_FRACTION = {"wesnoth-1.16-music": 0.2, "sonic-pi-samples": 0.2, "supertuxkart-data": 0.2,
                    "widelands-data": 0.2, "supertux-data": 0.2, "openclonk-data": 0.25, "xmoto-data": 0.3,
                    "extremetuxracer-data": 0.3}
#: Most seconds kept per package; over it, a deterministic every-k-th subset is kept (:func:`cap_every_kth`).
CAP_SECONDS = {"hydrogen-drumkits": 15 * 60.0}
#: Stem suffixes of re-encoded variants of another file in the same folder (supertuxkart's sped-up
#: ``xeon6_fast.ogg`` beside ``xeon6.ogg``): dropped, so that no song is both trained on and held out.
VARIANT_SUFFIXES = ("_fast", "_f")
#: Licences of packages whose copyright file is free-form and names no main licence that covers their
#: audio, as (licence, where it is stated).
LICENCE_OVERRIDES = {
    "openclonk-data": ("CC-BY-3.0 or CC0-1.0", "copyright file: 'Some files belonging to the game content are "
                       "licensed under the Creative Commons Attribution 3.0 license or the Creative Commons CC0'; "
                       "attribution to the OpenClonk Team is kept"),
}
#: Files that are audio files but not music, by (package, path inside the package).
NOT_MUSIC = {("sonic-pi-samples", "usr/share/sonic-pi/buffers/rand-stream.wav"):
             "not music: Sonic Pi's buffer of random numbers"}
#: The two splits, in output order.
SPLITS = ("train", "heldout")


# ---------------------------------------------------------------------------------------------------------
# Debian packages


def _run(cmd, cwd=None):
    """Run ``cmd``; return its stdout, or raise :class:`UserError` with the end of its stderr."""
    try:
        proc = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True)
    except FileNotFoundError:
        raise UserError(f"{cmd[0]}: command not found; this script needs a Debian system with apt-get and dpkg-deb")
    if proc.returncode:
        raise UserError(f"{' '.join(map(str, cmd))} failed (exit {proc.returncode}): {proc.stderr.strip()[-1500:]}")
    return proc.stdout


def fetch_deb(package, cache):
    """Return the path of ``package``'s .deb in ``cache``, downloading it with ``apt-get download`` if absent.

    The download goes to a temporary folder first, so an interrupted download never leaves a truncated .deb
    that a later run would take for a good one.
    """
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    found = sorted(cache.glob(f"{package}_*.deb"))
    if not found:
        with tempfile.TemporaryDirectory(dir=cache, prefix=".download-") as tmp:
            _run(["apt-get", "download", package], cwd=tmp)
            for deb in Path(tmp).glob(f"{package}_*.deb"):
                os.replace(deb, cache / deb.name)
        found = sorted(cache.glob(f"{package}_*.deb"))
    if len(found) != 1:
        names = ", ".join(p.name for p in found) or "none"
        raise UserError(f"{cache}: expected one {package}_*.deb, found {names}; delete the stale ones and re-run")
    return found[0]


def deb_field(deb, field):
    """One control field of a .deb (``dpkg-deb -f``), e.g. ``Version``."""
    return _run(["dpkg-deb", "-f", deb, field]).strip()


def extract_deb(deb, dest):
    """Unpack ``deb`` into the folder ``dest`` (``dpkg-deb -x``, nothing is installed); return ``dest``.

    A marker file names the .deb the tree came from; an existing tree from the same .deb is reused, any
    other is replaced. The tree is unpacked beside ``dest`` and renamed, so a half-unpacked tree is never
    taken for a complete one.
    """
    deb, dest = Path(deb), Path(dest)
    marker = dest / ".extracted-from"
    if marker.is_file() and marker.read_text().strip() == deb.name:
        return dest
    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    _run(["dpkg-deb", "-x", deb, tmp])
    (tmp / ".extracted-from").write_text(deb.name + "\n")
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(tmp, dest)
    return dest


# ---------------------------------------------------------------------------------------------------------
# Licences


def _paragraphs(text):
    """Split deb822 text into paragraphs of ``{lower-case field: (first line, continuation lines)}``."""
    paras, cur, key = [], {}, None
    for line in text.splitlines():
        if not line.strip():
            if cur:
                paras.append(cur)
            cur, key = {}, None
        elif line[0] in " \t":
            if key is not None:
                cur[key][1].append(line.strip())
        elif ":" in line:
            key, value = line.split(":", 1)
            key = key.strip().lower()
            cur[key] = (value.strip(), [])
        # anything else is not deb822 and is ignored
    if cur:
        paras.append(cur)
    return paras


_GPL_RE = re.compile(r"(Library |Lesser )?General Public\s+License[,;\s]*(?:as published by the Free Software "
                     r"Foundation[,;\s]*)?(?:either\s+)?version\s+(\d)(.{0,80})", re.I | re.S)


def guess_licence(text):
    """Short licence name from a free-form (not DEP-5) copyright text, or None.

    Only GNU GPL/LGPL grants are recognised ("GNU General Public License version 2 or at your option any
    later version" gives ``GPL-2+``); the first grant in the text counts, as Debian puts the package's main
    licence first.
    """
    m = _GPL_RE.search(text)
    if not m:
        return None
    name = {"library ": "LGPL", "lesser ": "LGPL"}.get((m.group(1) or "").lower(), "GPL") + "-" + m.group(2)
    return name + ("+" if "later" in m.group(3).lower() else "")


def parse_copyright(text):
    """Parse a Debian ``copyright`` file enough to name each file's licence.

    Parameters
    ----------
    text : str
        The file's contents.

    Returns
    -------
    dict
        ``format``: ``"DEP-5"`` (machine-readable) or ``"free-form"``; ``stanzas``: list of
        ``(patterns, licence)`` in file order, where ``licence`` is the first line of the ``License:`` field
        (its short name); ``main``: the package's main licence -- the licence of the ``Files: *`` stanza,
        else of the header paragraph, else (free-form) :func:`guess_licence`, else None.
    """
    paras = _paragraphs(text)
    is_dep5 = bool(paras) and "format" in paras[0] and re.search(r"copyright-format|dep-?5", paras[0]["format"][0],
                                                                   re.I) is not None
    if not is_dep5:
        return {"format": "free-form", "stanzas": [], "main": guess_licence(text)}
    stanzas, main = [], None
    for para in paras:
        if "files" in para and "license" in para:
            first, more = para["files"]
            patterns = (first.split() if first else []) + [p for line in more for p in line.split()]
            licence = para["license"][0]
            stanzas.append((patterns, licence))
            if patterns == ["*"]:
                main = licence
    if main is None and "license" in paras[0]:
        main = paras[0]["license"][0] or None
    return {"format": "DEP-5", "stanzas": stanzas, "main": main}


def _glob_body(pattern):
    # DEP-5 globs: ``*`` matches any run of characters, "/" included; ``?`` exactly one; nothing else is special.
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)


def pattern_matches(pattern, path):
    """Whether a DEP-5 ``Files:`` pattern covers the installed file ``path``.

    ``Files:`` patterns name files in the upstream source tree, whose layout differs from the installed one
    (sonic-pi's ``etc/samples/x.flac`` is installed as ``usr/share/sonic-pi/samples/x.flac``). So a pattern
    matches when it matches the whole path or any trailing part of it (split at "/"), or -- if its last
    component is more than wildcards -- when that component matches the file name.

    A Hydrogen drumkit archive ``drumkits/Kit.h2drumkit`` is installed unpacked, as a folder named after the
    kit, sometimes with a version after a space, "_", "-" or "." (``circAfrique.h2drumkit`` becomes
    ``circAfrique v4/``); it covers the files in that folder.

    Parameters
    ----------
    pattern : str
    path : str
        "/"-separated path inside the package.
    """
    if pattern.endswith(".h2drumkit"):
        rx = re.compile(_glob_body(pattern[:-len(".h2drumkit")]) + r"(?:[ _.-][^/]*)?/.*\Z", re.S)
        last = ""
    else:
        rx = re.compile(_glob_body(pattern) + r"\Z", re.S)
        last = pattern.rsplit("/", 1)[-1]
    parts = path.strip("/").split("/")
    if any(rx.match("/".join(parts[i:])) for i in range(len(parts))):
        return True
    return last.strip("*?") != "" and re.match(_glob_body(last) + r"\Z", parts[-1], re.S) is not None


def licence_for(path, copyright_info):
    """Licence of the installed file ``path`` per :func:`parse_copyright`'s result.

    The last matching stanza wins, as DEP-5 specifies; without one, the package's main licence.

    Returns
    -------
    licence : str
        Short name (``"CC0"``, ``"GPL-2+"``), or ``"unknown"``.
    basis : str
        ``"Files: <pattern>"`` for the matching stanza, ``"main licence"`` or ``"none"``.
    """
    found = None
    for patterns, licence in copyright_info["stanzas"]:
        for pattern in patterns:
            if pattern_matches(pattern, path):
                found = (licence, f"Files: {pattern}")
                break
    if found:
        return found
    if copyright_info["main"]:
        return copyright_info["main"], "main licence"
    return "unknown", "none"


# ---------------------------------------------------------------------------------------------------------
# Measurements


def long_term_spectrum(x, rate, nperseg=WELCH_NPERSEG):
    """Long-term power spectrum: Welch (Hann, 50% overlap), averaged over channels.

    Parameters
    ----------
    x : ndarray, shape (frames, channels) or (frames,)
        Float samples.
    rate : int
        Hz.

    Returns
    -------
    freqs : ndarray, shape (min(nperseg, frames) // 2 + 1,)
        Hz, from 0 to ``rate / 2``.
    power : ndarray, same shape
        Power spectral density, full scale^2 / Hz.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    freqs, p = scipy.signal.welch(x, fs=rate, nperseg=min(nperseg, x.shape[0]), axis=0)
    return freqs, p.mean(axis=1)


def quantisation_floor(rate):
    """Power spectral density of 16-bit rounding noise, full scale^2 / Hz.

    Rounding to steps of ``q = 2**-15`` (full scale) adds white noise of power ``q**2 / 12``, spread over
    0 to ``rate / 2`` in a one-sided spectrum such as :func:`long_term_spectrum`'s.
    """
    return 2.0 ** -30 / 12.0 / (rate / 2.0)


def measure_bandwidth(x, rate, drop_db=BANDWIDTH_DB, smooth_hz=SMOOTH_HZ, floor_margin_db=FLOOR_MARGIN_DB):
    """Highest frequency with real content in the long-term spectrum.

    The spectrum (:func:`long_term_spectrum`) is smoothed with a ``smooth_hz`` moving average; the result is
    the highest frequency whose smoothed power is (a) within ``drop_db`` of the maximum smoothed power and
    (b) at least ``floor_margin_db`` above the 16-bit rounding noise (:func:`quantisation_floor`).

    (a) finds encoder lowpasses: they leave the band above the cutoff 100-160 dB below the maximum. The
    threshold must be far below the maximum because quiet orchestral music has genuine high end 60-90 dB
    below its bass peak: at 60 dB, full-band tracks read as 7-18 kHz. (b) keeps the flat noise floor of a
    quiet recording (a soft drum hit whose peak is only 60-90 dB above it) from counting as content: in a
    16-bit file that band holds nothing but rounding noise. The Hann window's leakage and the smoothing
    put the result 0.1-0.3 kHz above a brick-wall cutoff.

    Parameters
    ----------
    x : ndarray, shape (frames, channels) or (frames,)
        Float samples (full scale 1.0) at their native rate.
    rate : int
        Hz.
    drop_db, floor_margin_db : float
        dB; ``floor_margin_db=None`` turns (b) off.

    Returns
    -------
    float
        Hz, between 0 and ``rate / 2``; 0 when nothing passes (digital silence).
    """
    freqs, p = long_term_spectrum(x, rate)
    k = max(1, int(round(smooth_hz / freqs[1]))) if len(freqs) > 1 else 1
    smooth = np.convolve(p, np.ones(k) / k, mode="same")
    threshold = smooth.max() * 10.0 ** (-drop_db / 10.0)
    if floor_margin_db is not None:
        threshold = max(threshold, quantisation_floor(rate) * 10.0 ** (floor_margin_db / 10.0))
    above = np.nonzero((smooth >= threshold) & (smooth > 0))[0]
    return float(freqs[above[-1]]) if len(above) else 0.0


def fingerprint(x, rate):
    """Hash of the audio as 16-bit samples (rounded), rate and shape: equal for identically decoding files.

    Parameters
    ----------
    x : ndarray, shape (frames, channels)
        Float samples; a 16-bit PCM file read as float gives back its exact samples here.
    """
    h = hashlib.sha256(f"{rate}:{x.shape}".encode())
    h.update(to_int16(x).tobytes())
    return h.hexdigest()


def demo_songs(demo_dir):
    """The demo songs to keep out of the corpus.

    Returns
    -------
    names : dict
        Lower-case file stem -> demo file name.
    prints : dict
        ``(rate, frames, channels)`` -> {fingerprint: demo file name}, for exact-content matching.
    """
    names, prints = {}, defaultdict(dict)
    demo_dir = Path(demo_dir)
    if not demo_dir.is_dir():
        raise UserError(f"{demo_dir}: demo folder not found; pass --demo with the folder of demo songs")
    for rel in list_audio_files(demo_dir, AUDIO_EXTENSIONS):
        x, rate = sf.read(str(demo_dir / rel), dtype="float64", always_2d=True)
        names[rel.stem.lower()] = rel.name
        prints[(rate, x.shape[0], x.shape[1])][fingerprint(x, rate)] = rel.name
    return names, dict(prints)


def examine(path, demo, min_bandwidth=MIN_BANDWIDTH_HZ):
    """Measure one source file and decide whether it is kept.

    Parameters
    ----------
    path : path-like
        The audio file.
    demo : tuple
        :func:`demo_songs`'s result.
    min_bandwidth : float
        Hz.

    Returns
    -------
    dict
        ``rate`` (native, Hz), ``channels``, ``frames``, ``seconds``, and when decoded ``bandwidth_hz`` and
        ``rms_dbfs``; ``drop``: None when kept, else ``(code, reason)`` with ``code`` one of ``demo``,
        ``unreadable``, ``low_rate``, ``too_short``, ``silent``, ``lowpassed``.
    """
    path = Path(path)
    names, prints = demo
    rec = {"rate": None, "channels": None, "seconds": None, "drop": None}
    if path.stem.lower() in names:
        rec["drop"] = ("demo", f"demo song (same name as data/demo/{names[path.stem.lower()]})")
        return rec
    try:
        info = sf.info(str(path))
    except Exception as e:  # libsndfile raises several types
        rec["drop"] = ("unreadable", f"unreadable ({e})")
        return rec
    rec.update(rate=int(info.samplerate), channels=int(info.channels), frames=int(info.frames),
               seconds=round(info.frames / info.samplerate, 3))
    # Cheap checks first: they need the header only.
    if info.samplerate < TARGET_RATE:
        rec["drop"] = ("low_rate", f"native rate {info.samplerate} Hz < {TARGET_RATE} Hz")
        return rec
    if info.frames < MIN_SECONDS * info.samplerate:
        rec["drop"] = ("too_short", f"too short ({info.frames / info.samplerate:.2f} s < {MIN_SECONDS} s)")
        return rec
    try:
        x, rate = sf.read(str(path), dtype="float64", always_2d=True)
    except Exception as e:
        rec["drop"] = ("unreadable", f"could not decode ({e})")
        return rec
    # Trust the decoded length over the header's: some Vorbis headers are off by a few thousand frames.
    rec.update(frames=int(x.shape[0]), seconds=round(x.shape[0] / rate, 3))
    same_shape = prints.get((rate, x.shape[0], x.shape[1]))
    demo_name = same_shape.get(fingerprint(x, rate)) if same_shape else None
    if demo_name:
        rec["drop"] = ("demo", f"demo song (same audio as data/demo/{demo_name})")
        return rec
    rms = float(np.sqrt(np.mean(np.square(x)))) if x.size else 0.0
    rec["rms_dbfs"] = round(20 * np.log10(rms), 1) if rms > 0 else None
    if rms == 0 or rec["rms_dbfs"] < SILENCE_DBFS:
        rec["drop"] = ("silent", f"near silent ({rec['rms_dbfs']} dBFS RMS < {SILENCE_DBFS} dBFS)")
        return rec
    rec["bandwidth_hz"] = round(measure_bandwidth(x, rate), 1)
    if rec["bandwidth_hz"] < min_bandwidth:
        rec["drop"] = ("lowpassed", f"lowpassed at {rec['bandwidth_hz'] / 1000:.1f} kHz")
    return rec


def prepare(x, rate):
    """Source audio as it is written: at most two channels, :data:`TARGET_RATE`, int16.

    Parameters
    ----------
    x : ndarray, shape (frames, channels)
        Float samples at ``rate`` Hz.

    Returns
    -------
    ndarray of int16, shape (ceil(frames * TARGET_RATE / rate), min(channels, 2))
        Resampled with soxr VHQ when ``rate`` differs; rounded and clipped, never wrapped.
    """
    x = np.asarray(x, dtype=np.float64)[:, :2]
    if rate != TARGET_RATE:
        x = resample(x, rate, TARGET_RATE, quality="VHQ")
    return to_int16(x)


# ---------------------------------------------------------------------------------------------------------
# Selection


def split_of(name, fraction):
    """``"heldout"`` or ``"train"`` for a whole file, from a hash of its file name.

    The hash depends on the name alone, so a file keeps its split when other files are added or dropped, or
    when a newer package version moves it to another folder: nothing held out drifts into training.

    Parameters
    ----------
    name : str
        File name (or path; only the part after the last "/" counts).
    fraction : float
        Expected share of held-out files, 0-1.
    """
    base = name.rsplit("/", 1)[-1]
    h = int.from_bytes(hashlib.sha256(base.encode()).digest()[:8], "big") / 2.0 ** 64
    return "heldout" if h < fraction else "train"


def cap_every_kth(seconds, cap):
    """Smallest step ``k`` such that every k-th item (0, k, 2k, ...) totals at most ``cap`` seconds.

    Parameters
    ----------
    seconds : sequence of float
        Durations in a fixed (sorted) order, s.
    cap : float
        s.

    Returns
    -------
    k : int
        1 when everything fits.
    keep : list of int
        Indices kept.
    """
    seconds = list(seconds)
    for k in range(1, max(len(seconds), 1) + 1):
        if sum(seconds[::k]) <= cap:
            return k, list(range(0, len(seconds), k))
    return len(seconds) + 1, []


def output_names(paths):
    """Output names: each path relative to the deepest folder holding all of them, with ``.wav`` for its suffix.

    Parameters
    ----------
    paths : list of str
        "/"-separated paths inside one package.

    Returns
    -------
    list of str
        Same order. Where two sources would give the same name (``a.ogg`` and ``a.flac``), both keep their
        suffix (``a.ogg.wav``).
    """
    if not paths:
        return []
    root = os.path.commonpath([os.path.dirname(p) for p in paths])
    rel = [os.path.relpath(p, root) if root else p for p in paths]
    plain = [os.path.splitext(r)[0] + ".wav" for r in rel]
    count = Counter(n.lower() for n in plain)
    return [n if count[n.lower()] == 1 else r + ".wav" for n, r in zip(plain, rel)]


# ---------------------------------------------------------------------------------------------------------
# The whole build


def is_variant(src, files):
    """Whether ``src`` is a variant of another file in ``files`` (:data:`VARIANT_SUFFIXES`, same folder)."""
    stem, ext = os.path.splitext(src)
    return any(stem.endswith(sfx) and (stem[:-len(sfx)] + ext) in files for sfx in VARIANT_SUFFIXES)


def survey_package(package, tree, demo, log=print):
    """Examine every audio file of one extracted package.

    Returns
    -------
    list of dict
        One per audio file, sorted by path: :func:`examine`'s fields plus ``package``, ``source`` (path inside
        the package), ``name`` (output name), ``licence``, ``licence_basis``.
    """
    tree = Path(tree)
    cr_path = tree / "usr" / "share" / "doc" / package / "copyright"
    if not cr_path.is_file():
        raise UserError(f"{cr_path}: copyright file missing; the package's licences cannot be checked")
    cr = parse_copyright(cr_path.read_text(errors="replace"))
    files = [p.as_posix() for p in list_audio_files(tree, AUDIO_EXTENSIONS)]
    names = output_names(files)
    records = []
    for i, (src, name) in enumerate(zip(files, names)):
        if (package, src) in NOT_MUSIC:
            rec = {"rate": None, "channels": None, "seconds": None, "drop": ("not_music", NOT_MUSIC[(package, src)])}
        elif (tree / src).is_symlink():
            # drascula-music links every song into a folder per language, megaglest shares sounds: the
            # linked file is examined once, under its own name.
            rec = {"rate": None, "channels": None, "seconds": None,
                   "drop": ("symlink", f"symbolic link (to {os.readlink(tree / src)})")}
        else:
            rec = examine(tree / src, demo)
        licence, basis = licence_for(src, cr)
        if licence == "unknown" and package in LICENCE_OVERRIDES:
            licence, basis = LICENCE_OVERRIDES[package]
        if rec["drop"] is None and is_variant(src, files):
            rec["drop"] = ("variant", "re-encoded variant (sped up) of another file of the package")
        if rec["drop"] is None and licence == "unknown":
            rec["drop"] = ("no_licence", "no licence found in the copyright file")
        rec.update(package=package, source=src, name=name, licence=licence, licence_basis=basis)
        records.append(rec)
        if log and (i + 1) % 100 == 0:
            log(f"  {package}: {i + 1}/{len(files)} files examined")
    return records, cr


def select(records):
    """Assign splits to kept records and apply :data:`CAP_SECONDS`, in place.

    Returns
    -------
    dict
        package -> ``{"cap_seconds", "step", "seconds_before", "seconds_after"}`` for capped packages.
    """
    caps = {}
    for package, cap in CAP_SECONDS.items():
        kept = [r for r in records if r["package"] == package and r["drop"] is None]
        total = sum(r["seconds"] for r in kept)
        if total <= cap:
            continue
        k, keep = cap_every_kth([r["seconds"] for r in kept], cap)
        keep = set(keep)
        for i, r in enumerate(kept):
            if i not in keep:
                r["drop"] = ("cap", f"over the {cap / 60:.0f}-minute cap for {package} (every {k}th file kept)")
        caps[package] = {"cap_seconds": cap, "step": k, "seconds_before": round(total, 1),
                         "seconds_after": round(sum(kept[i]["seconds"] for i in keep), 1)}
    for r in records:
        if r["drop"] is None:
            r["split"] = split_of(r["source"], HELDOUT_FRACTION.get(r["package"], 0.0))
    return caps


def write_wav(rec, tree, out):
    """Write one kept file to ``out/<split>/<package>/<name>``; skip it if an identical-size WAV is there.

    Returns
    -------
    bool
        True when the file was (re)written.
    """
    dest = Path(out) / rec["path"]
    frames = -(-rec["frames"] * TARGET_RATE // rec["rate"])
    if dest.is_file():
        try:
            info = sf.info(str(dest))
            if (info.samplerate, info.frames, info.channels, info.subtype) == (
                    TARGET_RATE, frames, min(rec["channels"], 2), "PCM_16"):
                return False
        except Exception:  # unreadable: rewrite it
            pass
    x, rate = sf.read(str(Path(tree) / rec["source"]), dtype="float64", always_2d=True)
    write_audio(dest, prepare(x, rate), TARGET_RATE)
    return True


def remove_stale(out, keep):
    """Delete WAVs (and leftover temporary files) under ``out/train`` and ``out/heldout`` not in ``keep``.

    Returns
    -------
    int
        Number of files removed.
    """
    removed = 0
    for split in SPLITS:
        base = Path(out) / split
        if not base.is_dir():
            continue
        for p in sorted(base.rglob("*")):
            if p.is_file() and p.relative_to(out).as_posix() not in keep:
                p.unlink()
                removed += 1
        for d in sorted((d for d in base.rglob("*") if d.is_dir()), key=lambda d: -len(d.parts)):
            if not any(d.iterdir()):
                d.rmdir()
    return removed


def totals(records):
    """Counts and seconds per (package, split) for kept files, and counts per (package, drop code)."""
    kept = defaultdict(lambda: [0, 0.0])
    dropped = Counter()
    for r in records:
        if r["drop"] is None:
            kept[(r["package"], r["split"])][0] += 1
            kept[(r["package"], r["split"])][1] += r["seconds"]
        else:
            dropped[(r["package"], r["drop"][0])] += 1
    return kept, dropped


def format_summary(records, packages):
    """Plain-text table of files and minutes per package and split, then the drop counts."""
    kept, dropped = totals(records)
    lines = [f"{'package':22s} {'version':20s} {'train':>16s} {'heldout':>16s}  dropped"]
    for package in packages:
        cells = []
        for split in SPLITS:
            n, s = kept.get((package, split), (0, 0.0))
            cells.append(f"{n:4d} / {s / 60:6.1f} min")
        drops = ", ".join(f"{code} {n}" for (p, code), n in sorted(dropped.items()) if p == package) or "none"
        lines.append(f"{package:22s} {packages[package]['version']:20s} {cells[0]:>16s} {cells[1]:>16s}  {drops}")
    for split in SPLITS:
        n = sum(v[0] for (p, s), v in kept.items() if s == split)
        secs = sum(v[1] for (p, s), v in kept.items() if s == split)
        lines.append(f"{split}: {n} files, {secs / 60:.1f} min")
    return "\n".join(lines)


def sources_markdown(records, packages, caps):
    """``SOURCES.md``: packages, versions, licences, minutes per split, the criterion, the exclusions."""
    kept, dropped = totals(records)
    lic = Counter((r["package"], r["licence"]) for r in records if r["drop"] is None)
    out = ["# Music corpus sources", "",
           "Generated by `tools/build_music_set.py` (do not edit; re-run it). Per-file details, including every",
           "dropped file and why, are in `sources.json`.", "",
           "## Packages", "", "| package | version | copyright file | licences of kept files (files) |",
           "|---|---|---|---|"]
    for package, meta in packages.items():
        lics = ", ".join(f"{name} ({n})" for (p, name), n in sorted(lic.items()) if p == package) or "-"
        out.append(f"| {package} | {meta['version']} | `{meta['copyright']}` ({meta['copyright_format']}) | {lics} |")
    out += ["", "## Kept audio", "", "| package | train files | train min | heldout files | heldout min |",
            "|---|---|---|---|---|"]
    for package in packages:
        (nt, st), (nh, sh) = (kept.get((package, s), (0, 0.0)) for s in SPLITS)
        out.append(f"| {package} | {nt} | {st / 60:.1f} | {nh} | {sh / 60:.1f} |")
    out += ["", "All files are 16-bit PCM WAV at 44.1 kHz with the source's channels (at most two). `heldout/`",
            "is music no model trains on; the split is by whole file, from a hash of the file name.", "",
            "## Dropped files", "", "| package | reason | files |", "|---|---|---|"]
    for (package, code), n in sorted(dropped.items()):
        out.append(f"| {package} | {code} | {n} |")
    out += ["", "## Selection", "",
            f"- Bandwidth: the long-term power spectrum (Welch, Hann, {WELCH_NPERSEG}-sample segments, mean over "
            f"channels) is smoothed over {SMOOTH_HZ:.0f} Hz; the bandwidth is the highest frequency within "
            f"{BANDWIDTH_DB:.0f} dB of its maximum and at least {FLOOR_MARGIN_DB:.0f} dB above the density of "
            "16-bit rounding noise (so a quiet recording's noise floor is not read as content). Files below "
            f"{MIN_BANDWIDTH_HZ / 1000:.1f} kHz are dropped as lowpassed (typically by a Vorbis encoder).",
            f"- Files shorter than {MIN_SECONDS} s, with a native rate below {TARGET_RATE} Hz, or quieter than "
            f"{SILENCE_DBFS:.0f} dBFS RMS are dropped; 48 kHz (and higher) files are resampled with soxr VHQ.",
            "- The demo songs in `data/demo/` (CC0 loops from sonic-pi-samples) are excluded, by name and by "
            "identical decoded audio, so the demo evaluation never scores music the model trained on."]
    out.append("- Symbolic links are dropped (their targets are examined under their own names); re-encoded "
               f"variants of another file in the same folder (stems ending in {', '.join(VARIANT_SUFFIXES)}) are "
               "dropped, so no song is both trained on and held out.")
    for package, (licence, where) in LICENCE_OVERRIDES.items():
        out.append(f"- {package}: its copyright file is free-form; its audio is taken as {licence} ({where}).")
    not_music = "; ".join(f"{p} `{src}` ({why})" for (p, src), why in NOT_MUSIC.items())
    out.append(f"- Not music, dropped by name: {not_music}.")
    for package, cap in CAP_SECONDS.items():
        if package in caps:
            c = caps[package]
            out.append(f"- {package}: {c['seconds_before'] / 60:.1f} min of eligible files exceeded the "
                       f"{cap / 60:.0f}-minute cap; every {c['step']}th file in sorted order was kept "
                       f"({c['seconds_after'] / 60:.1f} min).")
        elif package in packages:
            n, secs = (sum(v[i] for (p, _), v in kept.items() if p == package) for i in (0, 1))
            out.append(f"- {package}: {secs / 60:.1f} min in {n} files, under the {cap / 60:.0f}-minute cap; "
                       "nothing was capped.")
    out += ["", "## Licence notes", ""]
    for package, meta in packages.items():
        mine = [r for r in records if r["package"] == package and r["drop"] is None]
        main = sum(r["licence_basis"] == "main licence" for r in mine)
        star = [r for r in mine if r["licence_basis"] == "Files: *"]
        if main:
            out.append(f"- {package}: the copyright file is {meta['copyright_format']}; {main} kept file(s) get "
                       f"the package's main licence ({meta['main_licence']}).")
        if star:
            out.append(f"- {package}: {len(star)} kept file(s) have no `Files:` stanza of their own and get the "
                       f"catch-all `Files: *` licence ({star[0]['licence']}), e.g. "
                       + ", ".join(f"`{r['name']}`" for r in star[:3]) + ".")
    return "\n".join(out) + "\n"


def build(out, cache, demo_dir, packages=PACKAGES, log=print):
    """Rebuild the corpus under ``out``; return ``(records, package metadata, caps)``.

    Parameters
    ----------
    out : path-like
        Output folder: ``train/``, ``heldout/``, ``sources.json``, ``SOURCES.md``.
    cache : path-like
        Folder for the .deb files and their extracted trees (``<cache>/<package>/``).
    demo_dir : path-like
        Folder of the demo songs to exclude.
    """
    out, cache = Path(out), Path(cache)
    demo = demo_songs(demo_dir)
    log(f"{len(demo[0])} demo songs to exclude from {demo_dir}")
    records, meta = [], {}
    for package in packages:
        deb = fetch_deb(package, cache)
        version = deb_field(deb, "Version")
        log(f"{package} {version}: {deb.name}")
        tree = extract_deb(deb, cache / package)
        recs, cr = survey_package(package, tree, demo, log=log)
        records += recs
        meta[package] = {"version": version, "deb": deb.name,
                         "copyright": f"usr/share/doc/{package}/copyright", "copyright_format": cr["format"],
                         "main_licence": cr["main"]}
    caps = select(records)
    for r in records:
        if r["drop"] is None:
            r["path"] = f"{r['split']}/{r['package']}/{r['name']}"
    written = 0
    for r in records:
        if r["drop"] is None:
            written += write_wav(r, cache / r["package"], out)
    removed = remove_stale(out, {r["path"] for r in records if r["drop"] is None})
    log(f"{written} WAV file(s) written, {removed} stale file(s) removed")
    write_json_atomic(out / "sources.json", sources_json(records, meta, caps))
    with atomic_output(out / "SOURCES.md") as tmp:
        Path(tmp).write_text(sources_markdown(records, meta, caps))
    return records, meta, caps


def sources_json(records, packages, caps):
    """The ``sources.json`` document: criterion, packages, caps, kept and dropped files."""
    kept, dropped = [], []
    for r in records:
        common = {"package": r["package"], "source": r["source"], "licence": r["licence"],
                  "licence_basis": r["licence_basis"], "rate": r["rate"], "channels": r["channels"],
                  "frames": r.get("frames"), "seconds": r["seconds"]}
        if r["drop"] is None:
            kept.append({"path": r["path"], **common, "bandwidth_hz": r["bandwidth_hz"], "split": r["split"]})
        else:
            extra = {k: r[k] for k in ("bandwidth_hz", "rms_dbfs") if r.get(k) is not None}
            dropped.append({**common, **extra, "code": r["drop"][0], "reason": r["drop"][1]})
    return {
        "generated_by": "tools/build_music_set.py",
        "target_rate": TARGET_RATE,
        "criterion": {"bandwidth": f"highest frequency whose {SMOOTH_HZ:.0f} Hz-smoothed Welch power spectrum "
                                   f"(nperseg {WELCH_NPERSEG}, mean over channels) is within {BANDWIDTH_DB:.0f} dB "
                                   f"of its maximum and at least {FLOOR_MARGIN_DB:.0f} dB above the density of "
                                   "16-bit rounding noise",
                      "min_bandwidth_hz": MIN_BANDWIDTH_HZ, "min_seconds": MIN_SECONDS,
                      "min_rate": TARGET_RATE, "silence_dbfs": SILENCE_DBFS,
                      "heldout_fraction": HELDOUT_FRACTION, "split": "sha256 of the file name"},
        "packages": packages,
        "caps": caps,
        "kept": kept,
        "dropped": dropped,
    }
