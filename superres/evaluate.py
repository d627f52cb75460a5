"""The evaluation table: error of each method against the original on each song's test part."""

from pathlib import Path


from .audio import HIGH_RATE, fit_length, naive_upsample, read_audio
from .dataset import split_point
from .errors import UserError
from .manifest import read_manifest
from .metrics import mae
from .scan import load_scan, reference_path
from .runs import load_config


def load_predictions(predicted_dir):
    """Read a prediction folder's manifest and its model's config.

    Returns
    -------
    name : str
        The model folder's name, used as the table column.
    manifest, config : dict
    """
    predicted_dir = Path(predicted_dir)
    m = read_manifest(predicted_dir, "predict", "prediction manifest")
    config = load_config(m["model_dir"])
    return Path(m["model_dir"]).name, m, config


def evaluate(predicted_dirs, scan_dir=None, train_fraction=None, log=print):
    """MAE (16-bit units) of the original, the naive upsample and each model, on each song's test part.

    Parameters
    ----------
    predicted_dirs : list of path-like
        Folders written by ``--predict``; each names the model that made it.
    scan_dir : path-like, optional
        Stage-10 folder with the songs; default: the one the first model was trained from.
    train_fraction : float, optional
        The test part is the song from ``floor(frames * train_fraction)`` on; default: the model's.

    Returns
    -------
    dict
        ``{"methods": [...], "songs": [{"song", "frames", "mae": {method: value}}], "overall": {method: value}}``;
        ``overall`` weighs every test sample equally.
    """
    preds = [load_predictions(d) for d in predicted_dirs]
    if not preds:
        raise UserError("no prediction folders given")
    config0 = preds[0][2]
    scan_dir = Path(scan_dir or config0["scan_dir"])
    train_fraction = train_fraction if train_fraction is not None else config0["train_fraction"]
    scan = load_scan(scan_dir)
    names = [p[0] for p in preds]
    if len(set(names)) != len(names):
        names = [f"{n}@{Path(d).name}" for n, d in zip(names, predicted_dirs)]
    methods = ["original", "naive"] + names

    songs, sums, total = [], {m: 0.0 for m in methods}, 0
    for e in scan["files"]:
        ref, _ = read_audio(reference_path(scan, e, scan_dir), "int16")
        low, _ = read_audio(scan_dir / e["output"], "int16")
        n = e["frames_high"]
        s = split_point(n, train_fraction)
        estimates = {"original": ref, "naive": fit_length(naive_upsample(low), n)}
        for name, (_, m, _), d in zip(names, preds, predicted_dirs):
            out = {f["output"]: f for f in m["files"]}.get(e["output"])
            if out is None:
                raise UserError(f"{d}: has no prediction for {e['output']}; run --predict on it first")
            est, rate = read_audio(Path(d) / out["output"], "int16")
            if rate != HIGH_RATE or est.shape[1] != ref.shape[1]:
                raise UserError(f"{Path(d) / out['output']}: {rate} Hz, {est.shape[1]} channels; expected "
                                f"{HIGH_RATE} Hz, {ref.shape[1]} channels")
            estimates[name] = fit_length(est, n)
        row = {"song": e["source"], "frames": int((n - s) * ref.shape[1]), "mae": {}}
        for mth, est in estimates.items():
            row["mae"][mth] = mae(ref[s:], est[s:])
            sums[mth] += row["mae"][mth] * row["frames"]
        total += row["frames"]
        songs.append(row)
    overall = {m: sums[m] / total for m in methods} if total else {m: float("nan") for m in methods}
    return {"methods": methods, "scan_dir": str(scan_dir), "train_fraction": train_fraction,
            "songs": songs, "overall": overall}


def format_table(result):
    """The evaluation as a fixed-width text table, one row per song and the overall mean."""
    methods = result["methods"]
    width = max([len("overall")] + [len(s["song"]) for s in result["songs"]])
    head = f"{'song':<{width}}  {'test s':>7}  " + "  ".join(f"{m:>10}" for m in methods)
    lines = ["MAE against the original, 16-bit units, test part (last "
             f"{round((1 - result['train_fraction']) * 100)}%) of each song", head, "-" * len(head)]
    for s in result["songs"]:
        secs = s["frames"] / HIGH_RATE
        lines.append(f"{s['song']:<{width}}  {secs:7.2f}  " + "  ".join(f"{s['mae'][m]:10.2f}" for m in methods))
    lines.append("-" * len(head))
    total = sum(s["frames"] for s in result["songs"]) / HIGH_RATE
    lines.append(f"{'overall':<{width}}  {total:7.2f}  " + "  ".join(f"{result['overall'][m]:10.2f}"
                                                                        for m in methods))
    lines.append("(test s counts every channel; overall weighs every test sample equally)")
    return "\n".join(lines)
