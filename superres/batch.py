"""Upsample files and folders with a model, into an output folder with its manifest: :func:`predict_paths`.

Every output path is planned before anything is written (:func:`plan_outputs`); the folder's ``manifest.json``
records the model (by its weights' stamp) and, per file, what was done, so that a re-run skips what this model
wrote already and evaluation finds the model and the songs again (:class:`superres.evaluate.PredictionFolder`).
"""

from pathlib import Path

from .audio import READ_EXTENSIONS, audio_info, check_writable_dir, list_audio_files
from .errors import UserError, check_interrupted, to_stderr
from .manifest import (FORMAT_VERSION, MANIFEST_NAME, previous_manifest, relative_path, resolve_path, resolved,
                       write_json_atomic)
from .predict import predict_file
from .predictor import open_predictor
from .runs import ModelFolder, arch_keys
from .scan import DEFAULT_SCAN_DIR, load_scan


def songs_scan_dir(folder):
    """The scan folder whose songs a prediction with ``folder``'s model and no inputs upsamples (see
    :func:`resolve_inputs`)."""
    own = folder.folder("scan_dir")
    scan_dir = next((d for d in (own, Path(DEFAULT_SCAN_DIR)) if (d / MANIFEST_NAME).is_file()), None)
    if scan_dir is None:
        raise UserError(f"no songs to upsample: the songs {folder.path} was trained on ({own}) are not on this "
                        f"machine, and {DEFAULT_SCAN_DIR} holds no scan (run 10-scan.py); name the files or "
                        "folders to upsample")
    return scan_dir


def resolve_inputs(inputs, out_dir=None, problems=None, scan_dir=None):
    """Turn the user's file and folder arguments into (input path, relative output path) pairs.

    With no inputs, the 22.05 kHz songs of the scan folder ``scan_dir`` are used (:func:`songs_scan_dir`: the
    model's own songs if they are on this machine, else ``data/22k``). Files inside ``out_dir`` are skipped when
    a folder is searched, so a re-run never takes its own earlier outputs as input. Broken symbolic links found
    in a folder are added to ``problems``.
    """
    pairs = []
    skip = resolved(out_dir) if out_dir else None
    if not inputs:
        return [(scan_dir / e["output"], Path(e["output"])) for e in load_scan(scan_dir)["files"]]
    for item in map(Path, inputs):
        if item.is_dir() and skip is not None and resolved(item) == skip:
            raise UserError(f"{item}: the output folder is the input folder; choose another --output")
        if item.is_dir():
            pairs += [(item / rel, rel.with_suffix(".wav")) for rel in list_audio_files(item, READ_EXTENSIONS,
                                                                                          problems)
                      if skip is None or skip not in (item / rel).resolve().parents]
        else:
            pairs.append((item, Path(item.name).with_suffix(".wav")))
    return pairs


def plan_outputs(pairs, out_dir, previous, overwrite):
    """Decide, before anything is written, what happens to every output path.

    Two inputs that would write the same output are refused (nothing is written). An output that exists
    already is replaced only with ``overwrite``; without it, it is skipped: as done, when the folder's manifest
    says that this model wrote it from this input, or as someone else's file.

    Returns
    -------
    todo : list of (input path, relative output path)
    skipped : list of str
        One line per skipped file, saying why.
    failures : list of (path, message)
        Inputs that would be written over themselves.
    """
    seen = {}
    for src, rel in pairs:
        key = rel.as_posix()
        if key in seen:
            raise UserError(f"{seen[key]} and {src} would both be written to {Path(out_dir) / rel}; upsample them "
                            "in separate runs with different --output folders, or rename one")
        seen[key] = src
    todo, skipped, failures = [], [], []
    for src, rel in pairs:
        dst = Path(out_dir) / rel
        try:
            same = resolved(dst) == resolved(src)
        except UserError as e:  # a symbolic link loop: this input fails, the others go on
            failures.append((src, str(e)))
            continue
        if same:
            failures.append((src, f"{dst}: output path equals the input path; choose another output folder"))
            continue
        if not (dst.exists() or dst.is_symlink()) or overwrite:
            todo.append((src, rel))
            continue
        entry = previous.get(rel.as_posix())
        if entry and resolve_path(entry["input"], out_dir).resolve() == Path(src).resolve():
            skipped.append(f"skip  {dst} (done earlier by this model; --overwrite to redo it)")
        elif entry:
            skipped.append(f"skip  {dst} (exists, made from another input; --overwrite to replace it)")
        else:
            skipped.append(f"skip  {dst} (exists and was not written by superres; left as it is, --overwrite "
                           "to replace it)")
    return todo, skipped, failures


def predict_paths(model, inputs, out_dir, batch_size=None, chunk_seconds=10.0, subtype=None,
                  which="best", log=print, show_progress=True, overlap=None, runtime="auto", overwrite=False,
                  before_keras=None, gain_db=0.0, warn=to_stderr, cutoff="auto", rate=None):
    """Upsample files and folders with a trained model; write ``out_dir/manifest.json``.

    Every output path is planned before anything is written (:func:`plan_outputs`): a file that exists is
    never replaced without ``overwrite``, and two inputs never write the same output.

    Parameters
    ----------
    model : ModelFolder, path-like or None
        The model folder, read already, or its path (None: the pretrained default,
        :func:`superres.runs.default_model_dir`).
    batch_size, overlap : int, optional
    runtime : str
        See :class:`superres.predictor.Predictor`.
    overwrite : bool
        Replace outputs that exist already.
    subtype, gain_db, cutoff, rate
        See :func:`superres.predict.predict_file`.
    log, warn : callable
        Receive the progress lines, and the ``error:`` line of each file that fails (default: stderr).

    Returns
    -------
    list of (path, message)
        The inputs that failed, with the reason; the other files are written (or skipped, and said so).
    """
    from tqdm import tqdm

    folder = ModelFolder.of(model, which)
    model_dir, config = folder.path, folder.config
    out_dir = Path(out_dir)
    failures = []
    # The scan whose songs a run without inputs upsamples: found once, for the inputs and the manifest.
    songs_from = None if inputs else songs_scan_dir(folder)
    pairs = resolve_inputs(inputs, out_dir, failures, songs_from)
    if not pairs:
        raise UserError(f"no audio files found in {', '.join(map(str, inputs))}")
    check_writable_dir(out_dir)
    manifest_path = out_dir / MANIFEST_NAME
    old = previous_manifest(out_dir, "predict")
    stamp = folder.stamp
    same_model = bool(old) and resolve_path(old.get("model_dir", ""), out_dir).resolve() == model_dir.resolve() \
        and old.get("weights") == folder.which and old.get("weights_stamp") == stamp
    if old and not same_model and not overwrite:
        raise UserError(f"{out_dir}: holds the outputs of another model, or of this one before it was trained "
                        f"further ({resolve_path(old.get('model_dir', '?'), out_dir)}, {old.get('weights')} "
                        "weights); choose another --output, or --overwrite to replace them")
    files = {e["output"]: e for e in old["files"]} if same_model else {}
    todo, skipped, refused = plan_outputs(pairs, out_dir, files, overwrite)
    for line in skipped:
        log(line)
    for _, msg in refused:
        warn(f"error: {msg}")
    failures += refused
    if not todo:
        log(f"nothing to do: every output exists in {out_dir}")
        return failures

    predictor = open_predictor(folder, runtime=runtime, overlap=overlap, batch_size=batch_size, log=log,
                               before_keras=before_keras)
    runtime = predictor.runtime
    log(f"model {model_dir} ({config['arch']}, {folder.checkpoint.name}, {runtime})")
    written = 0
    for src, rel in todo:
        dst = out_dir / rel
        try:
            # The container's estimate for a file PyAV decodes: prediction counts its frames as it decodes it.
            seconds = audio_info(src, count=False).duration
            with tqdm(total=seconds, unit="s", desc=str(rel), disable=not show_progress,
                      bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} s audio [{elapsed}]") as bar:
                entry = predict_file(predictor, src, dst, chunk_seconds, subtype, progress=bar.update, log=log,
                                     gain_db=gain_db, cutoff=cutoff, rate=rate)
            entry["input"] = relative_path(src, out_dir)
            entry["output"] = rel.as_posix()
            entry["runtime"] = runtime  # per file: a folder may be filled by runs on different runtimes
            files[entry["output"]] = entry
            written += 1
            log(f"wrote {dst}")
        except UserError as e:
            check_interrupted()  # a signal inside a C call may surface as a decoding error
            failures.append((src, str(e)))
            warn(f"error: {e}")
    if not written:
        return failures  # nothing written: leave the output folder as it was
    write_json_atomic(manifest_path, {
        "stage": "predict",
        "format_version": FORMAT_VERSION,
        "model_dir": relative_path(model_dir, out_dir),
        # What evaluation needs when this folder is moved apart from the model (superres.evaluate.PredictionFolder):
        # the model's name, whether it is the pretrained default, its test split, the scan whose songs it upsampled.
        "model_name": folder.name,
        "pretrained": folder.pretrained,
        "train_fraction": config["train_fraction"],
        "scan_dir": (relative_path(songs_from, out_dir) if songs_from is not None
                     else (old or {}).get("scan_dir") if same_model else None),
        "weights": folder.which,
        "weights_stamp": stamp,
        "runtime": runtime,
        "model": {k: config[k] for k in (*arch_keys(config["arch"]), "window")},
        "files": [files[k] for k in sorted(files)],
    })
    return failures
