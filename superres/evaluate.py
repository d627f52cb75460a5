"""The evaluation: every method against the original, on every song, with every metric.

Methods are the baselines, computed here from the same low-rate input (the scan's: 22.05 kHz unless
``10-scan.py --rate`` chose another) in the same run --

- ``naive``: sample-and-hold on the 44.1 kHz grid (the blog's network input: each sample twice at 22.05 kHz),
- ``linear``: linear interpolation,
- ``sinc``: band-limited interpolation (soxr VHQ), the one to beat,

plus each trained model, run in-process (``models``) or read from a prediction folder (``predicted``).
The reference is the 44.1 kHz original; by default only each song's test part (the last 20%, which the
network never trained on) is scored. The band measures split the spectrum at the input's Nyquist frequency
(11.025 kHz for a 22.05 kHz scan, 7.5 kHz for a 15 kHz one).
"""

import itertools
import math
import time
from pathlib import Path

import numpy as np

from .audio import (HIGH_RATE, LOW_RATE, audio_info, exact_blocks, grid_step, linear_blocks, list_audio_files,
                    high_frames, low_frames, naive_blocks, read_blocks, resample_blocks, to_float, to_int16)
from .dataset import split_point
from .errors import UserError, check_interrupted
from .manifest import read_manifest, resolve_path
from .metrics import BLOCK, METRICS, Reference, Scores, edge_bands
from .runs import ModelFolder, default_model_dir, load_config, model_path
from .scan import load_scan, reference_path

BASELINES = ("naive", "linear", "sinc")


def baseline_blocks(name, low_blocks, channels, frames_low, rate=LOW_RATE):
    """A baseline's 44.1 kHz stream from the song's int16 blocks at ``rate``: int16 blocks,
    :func:`superres.audio.high_frames` of ``frames_low`` frames.

    ``naive`` holds each sample (the blog's network input), ``linear`` interpolates between neighbours,
    ``sinc`` is band-limited (soxr VHQ, the stream :func:`superres.audio.sinc_upsample` equals).
    """
    if name == "naive":
        return naive_blocks(low_blocks, rate)
    if name == "linear":
        return linear_blocks(low_blocks, rate)
    floats = (to_float(x) for x in low_blocks)
    return resample_blocks(floats, rate, HIGH_RATE, channels, frames_low, BLOCK)


def optional_metrics(visqol_seconds=None):
    """The optional metrics asked for: ``{"ViSQOL": (fn, unit, better)}`` with ``visqol_seconds`` (0: whole)."""
    if visqol_seconds is None:
        return {}
    from .metrics import visqol, visqol_api

    api = visqol_api()
    return {"ViSQOL": (lambda r, e, rate: visqol(r, e, rate, None, api), "MOS-LQO 1-5", "higher")}


def score(reference, estimate, rate=HIGH_RATE, extra=None):
    """Every metric of :data:`superres.metrics.METRICS` (and of ``extra``, the same form) for two whole arrays."""
    from .metrics import score_arrays

    out = score_arrays(reference, estimate, rate).result()
    for name, (fn, _, _) in (extra or {}).items():
        out[name] = fn(np.asarray(reference, np.float64), np.asarray(estimate, np.float64), rate)
    return out


class Song:
    """One song to score: where its 44.1 kHz reference and its low-rate input are, and the part to score.

    Nothing is read until the evaluation streams it (:meth:`reference`, :meth:`low`).

    Attributes
    ----------
    name : str
    frames : int
        The reference's length, 44.1 kHz frames.
    channels : int
    start, stop : int
        The scored part, in 44.1 kHz frames.
    low_rel : str
        The low-rate file's name inside the scan (as a prediction folder names its output).
    rate : int
        The input's rate, Hz (the scan's).
    edge : float
        The input's Nyquist frequency, Hz: the band measures' edge.
    """

    def __init__(self, name, reference_path, frames, channels, start, stop, low_rel, low_path=None, rate=LOW_RATE):
        self.name, self.reference_path, self.frames, self.channels = name, Path(reference_path), frames, channels
        self.start, self.stop, self.low_rel, self.low_path = start, stop, low_rel, low_path
        self.rate, self.edge = int(rate), rate / 2
        self.frames_low = low_frames(frames, rate)

    def reference(self):
        """The scored part of the reference: int16 blocks of :data:`BLOCK` frames."""
        return exact_blocks(read_blocks(self.reference_path, HIGH_RATE, BLOCK), self.start, self.stop - self.start,
                            BLOCK)

    def low(self, from_frame=0):
        """The low-rate input from frame ``from_frame`` on: int16 blocks (the scan's file, or for a reference
        without one, its soxr downsample)."""
        path = self.low_path if self.low_path is not None else self.reference_path
        return exact_blocks(read_blocks(path, self.rate, BLOCK), from_frame, self.frames_low - from_frame, BLOCK)


def songs_from_scan(scan_dir, train_fraction=0.8, whole=False, only=None, originals=None):
    """The songs of a stage-10 folder; the scored part is the test part unless ``whole``.

    ``only``: names (paths inside the folder, as the tables show them) of the songs to keep; ``originals``: the
    originals' folder, for a scan folder moved without them (:func:`superres.scan.reference_path`).
    """
    scan_dir = Path(scan_dir)
    scan = load_scan(scan_dir)
    entries = scan["files"]
    if only:
        known = {e["source"] for e in entries} | {e["output"] for e in entries}
        missing = [n for n in only if n not in known]
        if missing:
            raise UserError(f"{scan_dir}: no song named {missing[0]!r} (--songs takes names as the tables show "
                            "them)")
        entries = [e for e in entries if e["source"] in only or e["output"] in only]
    out = []
    for e in entries:
        ref = reference_path(scan, e, scan_dir, originals)
        audio_info(ref)  # a missing or unreadable original is named before any scoring starts
        n = e["frames_high"]
        out.append(Song(e["source"], ref, n, e["channels"], 0 if whole else split_point(n, train_fraction), n,
                        e["output"], scan_dir / e["output"], scan["low_rate"]))
    return out


def songs_from_pairs(reference_dir):
    """Songs from any folder of 44.1 kHz references, scored whole; the input is their soxr downsample."""
    out = []
    for rel in list_audio_files(reference_dir):
        info = audio_info(Path(reference_dir) / rel)
        if info.samplerate != HIGH_RATE:
            raise UserError(f"{Path(reference_dir) / rel}: {info.samplerate} Hz; references must be {HIGH_RATE} Hz")
        out.append(Song(rel.as_posix(), Path(reference_dir) / rel, info.frames, info.channels, 0, info.frames,
                        rel.with_suffix(".wav").as_posix()))
    if not out:
        raise UserError(f"{reference_dir}: no .wav or .flac references found")
    return out


#: 44.1 kHz frames before the scored part that a sinc-input model's stream starts early, so that the
#: resampler's filter (a few ms for soxr VHQ) has the same input as in a whole-file run.
_SINC_REACH = 8192


def model_estimate(predictor, song, reading=None):
    """Run a model on the part of a song to score, as a whole-file prediction would give it.

    The stream starts at a window-grid point at least one window before ``song.start`` (plus the sinc
    resampler's reach, for sinc-input models), so every window covering the scored part is computed with
    exactly the input a whole-file run gives it. ``reading`` (a one-item list) gets the seconds spent reading
    the input added to it.

    Returns
    -------
    blocks : iterator of ndarray of int16, shape (<= BLOCK, channels)
        The scored part, ``song.stop - song.start`` frames.
    start : int
        The 44.1 kHz frame the stream starts at (the frames computed, for the speed figure, run from there).
    """
    window, hop = predictor.window, predictor.hop
    if predictor.any_cutoff:
        return _cutoff_estimate(predictor, song, reading)
    if predictor.rate != song.rate:
        raise UserError(f"{song.name}: a {song.rate} Hz input, and the model takes {predictor.rate} Hz ones (the rate "
                        "of the scan it was trained on); score it on songs of such a scan (--scan)")
    grid = int(np.lcm(hop, grid_step(song.rate)))  # window starts that also fall on whole input frames
    margin = 0 if predictor.input_kind == "naive" else _SINC_REACH
    a = max(0, (song.start - window - margin) // grid * grid)
    low = song.low(a * song.rate // HIGH_RATE)
    out = (to_int16(y) for y in predictor.blocks(_Timed(low, reading) if reading is not None else low,
                                                   song.channels))
    return exact_blocks(out, song.start - a, song.stop - song.start, BLOCK), a


def _cutoff_estimate(predictor, song, reading=None):
    """:func:`model_estimate` of a network told the cutoff (``cgen``), as ``superres predict`` writes the song's
    low-rate file: its bandwidth measured over the whole file first, then the band below that cutoff the file's
    own (sinc-interpolated) and the generated band above it, spliced (:func:`superres.splice.splice_parts`).

    The stream starts at a frame-grid point before ``song.start`` with the reach of the splice's filter and the
    network's context (``--whole``: at the first frame, exactly the prediction of the file)."""
    from .bandwidth import detect_bandwidth
    from .splice import CEILING, splice_parts

    channels = song.channels

    def floats(blocks, timed=False):
        blocks = _Timed(blocks, reading) if timed and reading is not None else blocks
        return (to_float(x) for x in blocks)

    bw = detect_bandwidth(floats(song.low()), song.rate, channels)
    grid = int(np.lcm(predictor.hop, grid_step(song.rate)))
    a = max(0, (song.start - 2 * _SINC_REACH) // grid * grid)
    a_low = a * song.rate // HIGH_RATE  # whole input frames: a is on the grid
    if bw.full_band:  # nothing missing: the file as it is (at 44.1 kHz, written unchanged)
        out = baseline_blocks("sinc", song.low(a_low), channels, song.frames_low - a_low, song.rate)
    else:
        parts = predictor.blocks(floats(song.low(a_low), timed=True), channels, song.rate, bw.cutoff, parts=True)
        out = (to_int16(y) for y in splice_parts(parts, HIGH_RATE, bw.cutoff, channels, song.frames - a, CEILING))
    return exact_blocks(out, song.start - a, song.stop - song.start, BLOCK), a


class PredictionFolder:
    """A folder written by ``--predict``, its model and songs resolved even when it was moved on its own.

    The model folder is looked for where the manifest says (relative to the folder) and, for the pretrained
    default, where this installation keeps it; it is needed only for what the manifest does not record (the
    scan folder of songs named on the command line, the training history of a plot), and a missing one is an
    error only then.
    """

    def __init__(self, folder):
        self.folder = Path(folder)
        self.manifest = m = read_manifest(self.folder, "predict", "prediction manifest")
        candidates = [resolve_path(m["model_dir"], self.folder)] if m.get("model_dir") else []
        candidates += [default_model_dir()] if m.get("pretrained") else []
        self.model_dir = next((d for d in candidates if (d / "config.json").is_file()), None)
        self.name = m.get("model_name") or Path(m.get("model_dir", self.folder.name)).name
        self.wanted = candidates[0] if candidates else self.folder
        self._config = None

    def config(self, why):
        """The model's config; a UserError naming ``why`` it is needed and the option that stands in for it."""
        if self.model_dir is None:
            raise UserError(f"{self.wanted}: model folder not found (the model that wrote {self.folder}); it is "
                            f"needed for {why}")
        if self._config is None:
            self._config = load_config(self.model_dir)
        return self._config

    def train_fraction(self):
        if "train_fraction" in self.manifest:
            return self.manifest["train_fraction"]
        return self.config("the test part's start: give --train-fraction")["train_fraction"]

    def scan_dir(self):
        if self.manifest.get("scan_dir"):
            d = resolve_path(self.manifest["scan_dir"], self.folder)
            if d.is_dir():
                return d
        return model_path(self.model_dir, self.config("the songs it upsampled: give --scan"), "scan_dir")

    def estimate(self, song):
        """The folder's output for a song: int16 blocks of its scored part (see :func:`folder_estimate`)."""
        entry = {f["output"]: f for f in self.manifest["files"]}.get(song.low_rel)
        if entry is None:
            raise UserError(f"{self.folder}: has no prediction for {song.low_rel}; run --predict on it first")
        return folder_estimate(self.folder / entry["output"], song, f"run --predict on {song.low_rel}")


def prediction_model_dir(folder):
    """The model folder that wrote a prediction folder (None when it is not on this machine)."""
    return PredictionFolder(folder).model_dir


def folder_estimate(path, song, fix="add it"):
    """An estimate file for a song: int16 blocks of its scored part.

    An estimate whose length is not the reference's (beyond the one frame an odd-length original rounds to),
    rate or channels differ, is refused, not scored: a score of a misaligned file means nothing. NaN or
    infinite samples are refused as they are read.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: missing; {fix}")
    info = audio_info(path)
    n = song.frames
    if info.samplerate != HIGH_RATE or info.channels != song.channels:
        raise UserError(f"{path}: {info.samplerate} Hz, {info.channels} channels; expected {HIGH_RATE} Hz, "
                        f"{song.channels} channels")
    # A prediction's length is the input's on the 44.1 kHz grid (high_frames): up to 2 frames past the original's
    # at 15 kHz, 1 at 22.05 kHz.
    if abs(info.frames - n) > max(1, high_frames(song.frames_low, song.rate) - n):
        raise UserError(f"{path}: {info.frames} frames where the reference has {n} ({info.frames / n:.2f} times "
                        "as long); it is not an upsample of this song at 44.1 kHz, so it is not scored")
    return exact_blocks(read_blocks(path, HIGH_RATE, BLOCK), song.start, song.stop - song.start, BLOCK)


class _Timed:
    """An iterator that adds the seconds spent producing its items to ``spent[0]``."""

    def __init__(self, it, spent):
        self.it, self.spent = iter(it), spent

    def __iter__(self):
        return self

    def __next__(self):
        t = time.perf_counter()
        try:
            return next(self.it)
        finally:
            self.spent[0] += time.perf_counter() - t


def evaluate(predicted=(), models=(), scan_dir=None, train_fraction=None, whole=False, pairs=None,
             keep_audio=False, log=print, runtimes=("auto",), visqol_seconds=None, only=None, keep_seconds=30.0,
             originals=None):
    """Score the baselines and every model on every song, streaming: memory does not grow with a song's length.

    Parameters
    ----------
    predicted : list of path-like
        Folders written by ``--predict``; each becomes a method named after its model folder.
    models : list of path-like or ModelFolder
        Model folders (:class:`superres.runs.ModelFolder`, or their paths), run here on each song.
    scan_dir : path-like, optional
        Stage-10 folder; default: the songs of the first prediction folder, else the first model's scan.
    train_fraction : float, optional
        Where each song's test part starts; default: the first prediction folder's or model's dataset
        setting (else 0.8).
    whole : bool
        Score whole songs instead of their test parts.
    pairs : (path-like, path-like), optional
        A folder of 44.1 kHz references and a folder of estimates with the same relative names (as
        ``.wav``), instead of the scan folder and prediction folders; scored whole.
    keep_audio : bool
        Keep the first ``keep_seconds`` of every method's scored audio in the result (for the report).
    runtimes : sequence of str
        Runtimes (:data:`superres.runtime.RUNTIMES`) to run each of ``models`` on, one row each, named
        ``<model> [<runtime>]`` other than for ``keras``; those a model's architecture lacks are skipped.
    visqol_seconds : float, optional
        Add ViSQOL on that many seconds from the middle of each song (0: the whole song, which is then held in
        memory).
    originals : path-like, optional
        The originals the scan read, for a scan folder moved without them.

    Returns
    -------
    dict
        ``methods`` (names in table order), ``metrics`` (name -> unit, better), ``part``, ``songs`` (each
        ``name``, ``seconds``, ``scores`` {method: {metric: value}}), ``mean``, ``weighted_mean`` (by
        duration) and ``median`` {method: {metric: value}} over songs, ``x_real_time`` {method: x}; with
        ``keep_audio`` also ``audio`` per song {"original", "input", method...: int16 arrays}.
    """
    from .predictor import open_predictor
    from .runtime import runs_on

    # (method name, callable(song, reading) -> (int16 blocks of the scored part, first frame computed or None))
    sources = []
    folders = [PredictionFolder(f) for f in predicted]
    for f in folders:
        sources.append((f.name, lambda s, reading, f=f: (f.estimate(s), None)))
    opened = [ModelFolder.of(m) for m in models]
    for model in opened:
        for runtime in runtimes:
            if not runs_on(model.config, runtime):
                log(f"{model.path}: does not run on {runtime} ({model.config['arch']} network); no {runtime} row")
                continue
            predictor = open_predictor(model, runtime=runtime, log=log)
            name = model.path.name + ("" if runtime in ("keras", "auto") else f" [{runtime}]")
            sources.append((name, lambda s, reading, p=predictor: model_estimate(p, s, reading)))
    if pairs:
        ref_dir, est_dir = pairs
        songs = songs_from_pairs(ref_dir)
        sources.append((Path(est_dir).name,
                        lambda s, reading: (folder_estimate(Path(est_dir) / s.low_rel, s), None)))
        part = "whole files"
    else:
        if scan_dir is None:
            if folders:
                scan_dir = folders[0].scan_dir()
            elif opened:
                scan_dir = opened[0].folder("scan_dir")
            else:
                raise UserError("nothing to evaluate: give --models, --predicted or --pairs")
        if train_fraction is None:
            train_fraction = (folders[0].train_fraction() if folders else
                              opened[0].config["train_fraction"] if opened else 0.8)
        songs = songs_from_scan(scan_dir, train_fraction, whole, only, originals)
        part = "whole songs" if whole else f"test part: last {1 - train_fraction:.0%} of each song"
    names = [n for n, _ in sources]
    if len(set(names)) != len(names):
        names = [f"{n}#{i + 1}" for i, n in enumerate(names)]
    methods = list(BASELINES) + names

    extra = optional_metrics(visqol_seconds)
    metrics = {**METRICS, **extra}
    result = {"methods": methods, "metrics": {k: {"unit": u, "better": b} for k, (_, u, b) in metrics.items()},
              "part": part, "rate": HIGH_RATE, "input_rate": songs[0].rate if songs else LOW_RATE, "songs": []}
    if keep_audio:
        result["audio"] = {}
    timing = {}  # method -> [compute seconds, 44.1 kHz frames]
    for song in songs:
        result["songs"].append(_score_song(song, methods, sources, extra, visqol_seconds, timing, result,
                                           keep_audio, keep_seconds))
        log(f"scored {song.name}")
    for key, fn in (("mean", _mean), ("weighted_mean", _weighted_mean), ("median", _median)):
        result[key] = {m: {k: fn([(s["scores"][m][k], s["seconds"]) for s in result["songs"]]) for k in metrics}
                       for m in methods}
    # Seconds of 44.1 kHz audio (all its channels) produced per second of compute, in this process.
    result["x_real_time"] = {m: frames / HIGH_RATE / seconds for m, (seconds, frames) in timing.items() if seconds}
    return result


def _score_song(song, methods, sources, extra, visqol_seconds, timing, result, keep_audio, keep_seconds):
    """Stream one song's reference and every method's estimate through their :class:`Scores`, block by block."""
    n = song.stop - song.start
    keep = None
    if extra:  # ViSQOL's excerpt: the middle ``visqol_seconds`` (0: all) of the scored part
        length = n if not visqol_seconds else min(n, int(visqol_seconds * HIGH_RATE))
        keep = ((n - length) // 2, (n - length) // 2 + length)
    reference = Reference(song.channels, n)
    streams, scores, computed = {}, {}, {}
    # The speed figure is of the upsampling alone: the seconds spent reading (or, for --pairs, making) the
    # input are taken off (``reading``). The baselines share one read of the input, in step: whichever pulls a
    # block first reads it, and is the one it is taken off.
    reading = {}
    for name, low in zip(BASELINES, itertools.tee(song.low(), len(BASELINES))):
        low = _Timed(low, reading.setdefault(name, [0.0]))
        blocks = baseline_blocks(name, low, song.channels, song.frames_low, song.rate)
        streams[name] = _Timed(exact_blocks(blocks, song.start, n, BLOCK), timing.setdefault(name, [0.0, 0]))
        computed[name] = song.frames
    for name, (_, fn) in zip(methods[len(BASELINES):], sources):
        blocks, first = fn(song, reading.setdefault(name, [0.0]))
        if first is None:
            streams[name] = iter(blocks)
        else:
            streams[name] = _Timed(blocks, timing.setdefault(name, [0.0, 0]))
            computed[name] = song.stop - first
    for name in methods:
        scores[name] = Scores(reference, HIGH_RATE, edge=song.edge, keep=keep)
    clip = int(keep_seconds * HIGH_RATE) if keep_audio else 0
    audio = {m: [] for m in ("original", *methods)}
    done = 0
    for r in song.reference():
        check_interrupted()
        reference.push(r)
        if done < clip:
            audio["original"].append(r[:clip - done])
        for name in methods:
            e = next(streams[name])
            scores[name].push(e)
            if done < clip:
                audio[name].append(e[:clip - done])
        done += r.shape[0]
    for name, frames in computed.items():
        timing[name][1] += frames
        timing[name][0] -= reading[name][0]
    out = {}
    for name in methods:
        out[name] = scores[name].result()
        for metric, (fn, _, _) in extra.items():
            kept = [np.concatenate(k) if k else np.zeros((0, song.channels)) for k in scores[name].kept]
            out[name][metric] = fn(kept[0], kept[1], HIGH_RATE)
    if keep_audio:
        a0 = song.start * song.rate // HIGH_RATE
        low = np.concatenate(list(exact_blocks(song.low(a0), 0, min(clip, n) * song.rate // HIGH_RATE, BLOCK)) or
                             [np.zeros((0, song.channels), np.int16)])
        result["audio"][song.name] = {"input": low, **{m: np.concatenate(v) if v else
                                                      np.zeros((0, song.channels), np.int16)
                                                      for m, v in audio.items()}}
    return {"name": song.name, "seconds": n / HIGH_RATE, "channels": int(song.channels), "scores": out}


def _finite(pairs):
    return [(v, w) for v, w in pairs if math.isfinite(v)]


def _mean(pairs):
    """The plain mean over songs of their (value, seconds) pairs, leaving out what is not a finite number."""
    values = [v for v, _ in _finite(pairs)]
    return float(np.mean(values)) if values else float("nan")


def _weighted_mean(pairs):
    """The mean over songs weighted by their scored seconds (a 3-minute song counts 18 times a 10 s clip)."""
    pairs = _finite(pairs)
    weights = sum(w for _, w in pairs)
    return float(sum(v * w for v, w in pairs) / weights) if pairs and weights > 0 else float("nan")


def _median(pairs):
    values = [v for v, _ in _finite(pairs)]
    return float(np.median(values)) if values else float("nan")


def _fmt(v):
    return "n/a" if not math.isfinite(v) else f"{v:.2f}" if abs(v) < 1000 else f"{v:.0f}"


def format_table(rows, methods, metrics, markdown=False, speed=None):
    """One table: a row per method, a column per metric; with ``speed`` ({method: x real time}) one more."""
    head = ["method"] + [f"{k} ({METRICS_UNITS[k]})" if markdown and METRICS_UNITS.get(k) else k for k in metrics]
    body = [[m] + [_fmt(rows[m][k]) for k in metrics] for m in methods]
    if speed:
        head.append("x real time")
        for r, m in zip(body, methods):
            r.append(f"{speed[m]:.1f}" if m in speed else "")
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in body])
    widths = [max(len(r[i]) for r in [head] + body) for i in range(len(head))]
    fmt = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    return "\n".join([fmt(head), "-" * len(fmt(head))] + [fmt(r) for r in body])


METRICS_UNITS = {"MAE": "16-bit", "SNR": "dB", "LSD": "", "LSD-HF": "", "HF energy": "dB", "SNR-LF": "dB",
                 "band error": "dB", "edge step": "dB", "ViSQOL": "MOS"}

#: The summaries over songs after the per-song tables: result key -> title.
SUMMARIES = {"mean": "Mean over {n} songs", "weighted_mean": "Duration-weighted mean over {n} songs",
             "median": "Median over {n} songs"}


def format_result(result, markdown=False, per_song=True):
    """The whole evaluation as text (or markdown): a table per song, then the mean, duration-weighted mean and
    median over songs."""
    metrics = list(result["metrics"])
    out = []
    if per_song:
        for s in result["songs"]:
            title = f"{s['name']} ({s['seconds']:.2f} s, {s['channels']} ch, {result['part']})"
            out += [f"**{title}**" if markdown else title, "",
                    format_table(s["scores"], result["methods"], metrics, markdown), ""]
    for key, title in SUMMARIES.items():
        if key not in result:
            continue
        title = f"{title.format(n=len(result['songs']))} ({result['part']})"
        speed = result.get("x_real_time") if key == "mean" else None
        out += [f"**{title}**" if markdown else title, "",
                format_table(result[key], result["methods"], metrics, markdown, speed), ""]
    edge = result.get("input_rate", LOW_RATE) / 2
    khz = lambda f: f"{f / 1000:g}"  # noqa: E731
    bands = edge_bands(edge)
    legend = ("MAE in 16-bit units (lower is better); SNR in dB (higher is better); LSD and LSD-HF: "
              f"log-spectral distance over the whole band and over {khz(edge)}-22.05 kHz (lower is better); "
              f"HF energy: energy above {khz(edge)} kHz relative to the original, dB (0 is right); SNR-LF: SNR "
              f"below {khz(edge)} kHz, dB (what sinc already gets right; higher is better); band error: the largest "
              f"difference of the long-term spectra in 500 Hz bands from {khz(bands[0][0])} to 20 kHz, dB, leaving "
              "out bands the original has more than 40 dB below its loudest there (lower is better); edge step: the "
              f"level step from {khz(edge - 1025)}-{khz(edge - 525)} to {khz(edge - 25)}-{khz(edge + 475)} kHz "
              "against the original's, dB (0 is right; negative: a dip where "
              "the restored band begins); ViSQOL (when asked for): MOS-LQO of ViSQOL's audio mode at 48 kHz, "
              "mean over channels (1-5, higher is better); x real time: "
              "seconds of 44.1 kHz audio produced per second of compute in this run (one process, this "
              "machine; blank for prediction folders computed elsewhere). Means leave out songs where a figure "
              "is not a number; the duration-weighted mean weighs each song by its scored seconds.")
    return "\n".join(out + [legend])
