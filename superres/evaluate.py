"""The evaluation: every method against the original, on every song, with every metric.

Methods are the baselines, computed here from the same 22.05 kHz input in the same run --

- ``naive``: each sample repeated (the blog's network input),
- ``linear``: linear interpolation,
- ``sinc``: band-limited interpolation (soxr VHQ), the one to beat,

plus each trained model, run in-process (``models``) or read from a prediction folder (``predicted``).
The reference is the 44.1 kHz original; by default only each song's test part (the last 20%, which the
network never trained on) is scored.
"""

import math
import time
from pathlib import Path

import numpy as np

from .audio import (HIGH_RATE, LOW_RATE, fit_length, linear_upsample, list_audio_files, naive_upsample, read_audio,
                    resample, sinc_upsample)
from .dataset import split_point
from .errors import UserError, check_interrupted
from .manifest import read_manifest, resolve_path
from .metrics import METRICS, spectrogram_cache
from .runs import load_config, model_path
from .scan import load_scan, reference_path

BASELINES = ("naive", "linear", "sinc")


def baseline(name, low, n):
    """Upsample int16 22.05 kHz audio (frames, channels) to ``n`` 44.1 kHz frames with a baseline method."""
    fn = {"naive": naive_upsample, "linear": linear_upsample, "sinc": sinc_upsample}[name]
    return fit_length(fn(low), n)


def score(reference, estimate, rate=HIGH_RATE, extra=None):
    """Every metric of :data:`superres.metrics.METRICS` (and of ``extra``, the same form) for one estimate."""
    # float64 once, so that every metric sees the same two arrays (and the cache recognises them).
    reference, estimate = np.asarray(reference, np.float64), np.asarray(estimate, np.float64)
    with spectrogram_cache():  # the reference's and the estimate's STFTs, shared by the metrics
        return {name: fn(reference, estimate, rate) for name, (fn, _, _) in {**METRICS, **(extra or {})}.items()}


def optional_metrics(visqol_seconds=None):
    """The optional metrics asked for: ``{"ViSQOL": (fn, unit, better)}`` with ``visqol_seconds`` (0: whole)."""
    if visqol_seconds is None:
        return {}
    from .metrics import visqol, visqol_api

    api = visqol_api()
    seconds = visqol_seconds or None
    return {"ViSQOL": (lambda r, e, rate: visqol(r, e, rate, seconds, api), "MOS-LQO 1-5", "higher")}


class Song:
    """One song to score: its 44.1 kHz reference, its 22.05 kHz input and the part to score.

    Attributes
    ----------
    name : str
    reference : ndarray of int16, shape (n, channels)
    low : ndarray of int16, shape (ceil(n / 2), channels)
    start, stop : int
        The scored part, in 44.1 kHz frames.
    low_path : Path or None
        The 22.05 kHz file, for finding a prediction folder's output.
    """

    def __init__(self, name, reference, low, start, stop, low_rel=None):
        self.name, self.reference, self.low = name, reference, low
        self.start, self.stop, self.low_rel = start, stop, low_rel


def songs_from_scan(scan_dir, train_fraction=0.8, whole=False, only=None):
    """The songs of a stage-10 folder; the scored part is the test part unless ``whole``.

    ``only``: names (paths inside the folder, as the tables show them) of the songs to keep.
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
        ref, _ = read_audio(reference_path(scan, e, scan_dir), "int16")
        low, _ = read_audio(scan_dir / e["output"], "int16")
        n = e["frames_high"]
        ref = fit_length(ref, n)
        out.append(Song(e["source"], ref, low, 0 if whole else split_point(n, train_fraction), n, e["output"]))
    return out


def songs_from_pairs(reference_dir):
    """Songs from any folder of 44.1 kHz references, scored whole; the input is their soxr downsample."""
    out = []
    for rel in list_audio_files(reference_dir):
        ref, rate = read_audio(Path(reference_dir) / rel, "int16")
        if rate != HIGH_RATE:
            raise UserError(f"{Path(reference_dir) / rel}: {rate} Hz; references must be {HIGH_RATE} Hz")
        out.append(Song(rel.as_posix(), ref, resample(ref, HIGH_RATE, LOW_RATE), 0, ref.shape[0],
                        rel.with_suffix(".wav").as_posix()))
    if not out:
        raise UserError(f"{reference_dir}: no .wav or .flac references found")
    return out


#: 44.1 kHz frames before the scored part that a sinc-input model's stream starts early, so that the
#: resampler's filter (a few ms for soxr VHQ) has the same input as in a whole-file run.
_SINC_REACH = 8192


def model_estimate(predictor, song):
    """Run a model on the part of a song to score, as a whole-file prediction would give it.

    The stream starts at a window-grid point at least one window before ``song.start`` (plus the sinc
    resampler's reach, for sinc-input models), so every window covering the scored part is computed with
    exactly the input a whole-file run gives it.

    Returns
    -------
    estimate : ndarray of int16, shape (n, channels)
        Zero before the predicted span; the scored part is filled.
    frames : int
        44.1 kHz frames computed (for the speed figure).
    """
    window, hop = predictor.window, predictor.hop
    grid = 2 * hop  # window starts that also fall on whole 22.05 kHz frames
    margin = 0 if predictor.input_kind == "naive" else _SINC_REACH
    a = max(0, (song.start - window - margin) // grid * grid)
    y = predictor.array(song.low[a // 2:])
    est = np.zeros_like(song.reference)
    m = min(y.shape[0], est.shape[0] - a)
    est[a:a + m] = y[:m]
    return est, y.shape[0]


def prediction_model_dir(folder):
    """The model folder that wrote a prediction folder, from its manifest."""
    m = read_manifest(folder, "predict", "prediction manifest")
    return resolve_path(m["model_dir"], folder)


def folder_estimate(folder, manifest, song):
    """A prediction folder's output for a song, as long as the reference.

    ``manifest`` None: any folder of estimates named as the songs (``--pairs``). An estimate whose length is
    not the reference's (beyond the one frame an odd-length original rounds to) or that holds NaN or
    infinite samples is refused, not scored: a score of a misaligned or broken file means nothing.
    """
    if manifest is None:
        path = Path(folder) / str(song.low_rel)
    else:
        entry = {f["output"]: f for f in manifest["files"]}.get(song.low_rel)
        if entry is None:
            raise UserError(f"{folder}: has no prediction for {song.low_rel}; run --predict on it first")
        path = Path(folder) / entry["output"]
    if not path.is_file():
        raise UserError(f"{path}: missing; {'run --predict on ' + str(song.low_rel) if manifest else 'add it'}")
    est, rate = read_audio(path, "int16")
    n = song.reference.shape[0]
    if rate != HIGH_RATE or est.shape[1] != song.reference.shape[1]:
        raise UserError(f"{path}: {rate} Hz, {est.shape[1]} channels; expected {HIGH_RATE} Hz, "
                        f"{song.reference.shape[1]} channels")
    if abs(est.shape[0] - n) > 1:
        raise UserError(f"{path}: {est.shape[0]} frames where the reference has {n} ({est.shape[0] / n:.2f} times "
                        "as long); it is not an upsample of this song at 44.1 kHz, so it is not scored")
    return fit_length(est, n)


def evaluate(predicted=(), models=(), scan_dir=None, train_fraction=None, whole=False, pairs=None,
             keep_audio=False, log=print, runtimes=("auto",), visqol_seconds=None, only=None):
    """Score the baselines and every model on every song.

    Parameters
    ----------
    predicted : list of path-like
        Folders written by ``--predict``; each becomes a method named after its model folder.
    models : list of path-like
        Model folders, run here on each song.
    scan_dir : path-like, optional
        Stage-10 folder; default: the one the first model was trained from.
    train_fraction : float, optional
        Where each song's test part starts; default: the first model's dataset setting (else 0.8).
    whole : bool
        Score whole songs instead of their test parts.
    pairs : (path-like, path-like), optional
        A folder of 44.1 kHz references and a folder of estimates with the same relative names (as
        ``.wav``), instead of the scan folder and prediction folders; scored whole.
    keep_audio : bool
        Keep every method's scored audio in the result (for the report).
    runtimes : sequence of str
        Runtimes (:data:`superres.runtime.RUNTIMES`) to run each of ``models`` on, one row each, named
        ``<model> [<runtime>]`` other than for ``keras``; those a model's architecture lacks are skipped.

    Returns
    -------
    dict
        ``methods`` (names in table order), ``metrics`` (name -> unit, better), ``part``, ``songs`` (each
        ``name``, ``seconds``, ``scores`` {method: {metric: value}}), ``mean`` {method: {metric: value}}
        over songs; with ``keep_audio`` also ``audio`` per song {"input", method...: int16 arrays}.
    """
    from .predict import open_predictor
    from .runtime import runs_on

    sources = []  # (method name, callable(song) -> estimate)
    configs = []
    for folder in predicted:
        m = read_manifest(folder, "predict", "prediction manifest")
        mdir = prediction_model_dir(folder)
        configs.append((mdir, load_config(mdir)))
        sources.append((mdir.resolve().name, lambda s, f=folder, m=m: (folder_estimate(f, m, s), None)))
    for mdir in models:
        cfg = load_config(mdir)
        configs.append((Path(mdir), cfg))
        for runtime in runtimes:
            if not runs_on(cfg, runtime):
                log(f"{mdir}: does not run on {runtime} ({cfg['arch']} network); no {runtime} row")
                continue
            predictor = open_predictor(mdir, runtime=runtime, log=log)
            name = Path(mdir).name + ("" if runtime in ("keras", "auto") else f" [{runtime}]")
            sources.append((name, lambda s, p=predictor: model_estimate(p, s)))
    if pairs:
        ref_dir, est_dir = pairs
        songs = songs_from_pairs(ref_dir)
        sources.append((Path(est_dir).name, lambda s: (folder_estimate(est_dir, None, s), None)))
        part = "whole files"
    else:
        if scan_dir is None:
            if not configs:
                raise UserError("nothing to evaluate: give --models, --predicted or --pairs")
            scan_dir = model_path(*configs[0], "scan_dir")
        if train_fraction is None:
            train_fraction = configs[0][1]["train_fraction"] if configs else 0.8
        songs = songs_from_scan(scan_dir, train_fraction, whole, only)
        part = "whole songs" if whole else f"test part: last {1 - train_fraction:.0%} of each song"
    names = [n for n, _ in sources]
    if len(set(names)) != len(names):
        names = [f"{n}#{i + 1}" for i, n in enumerate(names)]
    methods = list(BASELINES) + names

    extra = optional_metrics(visqol_seconds)
    metrics = {**METRICS, **extra}
    result = {"methods": methods, "metrics": {k: {"unit": u, "better": b} for k, (_, u, b) in metrics.items()},
              "part": part, "rate": HIGH_RATE, "songs": []}
    if keep_audio:
        result["audio"] = {}
    timing = {}  # method -> [compute seconds, 44.1 kHz frames]
    calls = [(b, lambda s, b=b: (baseline(b, s.low, s.reference.shape[0]), s.reference.shape[0]))
             for b in BASELINES] + [(name, fn) for name, (_, fn) in zip(names, sources)]
    for song in songs:
        ref = song.reference[song.start:song.stop]
        estimates = {}
        for name, fn in calls:
            check_interrupted()
            t = time.perf_counter()
            estimates[name], frames = fn(song)
            if frames is not None:
                spent = timing.setdefault(name, [0.0, 0])
                spent[0] += time.perf_counter() - t
                spent[1] += frames
        with spectrogram_cache():  # the reference's spectrograms, computed once for every method
            ref64 = np.asarray(ref, np.float64)
            scores = {m: score(ref64, est[song.start:song.stop], extra=extra) for m, est in estimates.items()}
        result["songs"].append({"name": song.name, "seconds": (song.stop - song.start) / HIGH_RATE,
                                "channels": int(ref.shape[1]), "scores": scores})
        if keep_audio:
            a0 = song.start // 2
            result["audio"][song.name] = {"original": ref, "input": song.low[a0:a0 + (song.stop - song.start) // 2],
                                          **{m: est[song.start:song.stop] for m, est in estimates.items()}}
        log(f"scored {song.name}")
    result["mean"] = {m: {k: _mean([s["scores"][m][k] for s in result["songs"]]) for k in metrics}
                      for m in methods}
    # Seconds of 44.1 kHz audio (all its channels) produced per second of compute, in this process.
    result["x_real_time"] = {m: frames / HIGH_RATE / seconds for m, (seconds, frames) in timing.items() if seconds}
    return result


def _mean(values):
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


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
                 "seam": "dB", "ViSQOL": "MOS"}


def format_result(result, markdown=False, per_song=True):
    """The whole evaluation as text (or markdown): a table per song, then the mean over songs."""
    metrics = list(result["metrics"])
    out = []
    if per_song:
        for s in result["songs"]:
            title = f"{s['name']} ({s['seconds']:.2f} s, {s['channels']} ch, {result['part']})"
            out += [f"**{title}**" if markdown else title, "",
                    format_table(s["scores"], result["methods"], metrics, markdown), ""]
    title = f"Mean over {len(result['songs'])} songs ({result['part']})"
    out += [f"**{title}**" if markdown else title, "",
            format_table(result["mean"], result["methods"], metrics, markdown, result.get("x_real_time"))]
    legend = ("MAE in 16-bit units (lower is better); SNR in dB (higher is better); LSD and LSD-HF: "
              "log-spectral distance over the whole band and over 11.025-22.05 kHz (lower is better); "
              "HF energy: energy above 11.025 kHz relative to the original, dB (0 is right); SNR-LF: SNR "
              "below 11.025 kHz, dB (what sinc already gets right; higher is better); seam: largest difference "
              "of the long-term spectra in 500 Hz bands from 9 to 20 kHz, dB (lower is better); ViSQOL (when asked "
              "for): MOS-LQO of ViSQOL's audio mode at 48 kHz, mean over channels (1-5, higher is better); "
              "x real time: "
              "seconds of 44.1 kHz audio produced per second of compute in this run (one process, this "
              "machine; blank for prediction folders computed elsewhere).")
    return "\n".join(out + ["", legend])
