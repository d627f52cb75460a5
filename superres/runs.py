"""Model folders: the config that built a network, its training state and history (no Keras needed).

A model folder (``models/<run>/``) holds ``config.json`` (the model manifest), ``last.keras``,
``best.keras``, ``history.csv`` and ``state.json``; see :mod:`superres.train`.
"""

import csv
import io
import os
from pathlib import Path

from . import __version__
from .errors import UserError
from .manifest import FORMAT_VERSION, read_manifest

#: Architecture names accepted by ``--arch``.
ARCHS = ("bilstm", "sbr")

CONFIG_NAME = "config.json"
STATE_NAME = "state.json"
HISTORY_NAME = "history.csv"
HISTORY_FIELDS = ("epoch", "loss", "val_loss", "val_mae_16bit", "learning_rate", "seconds", "samples_per_s")

#: Per architecture: the network's settings and the optimizer's, with their defaults (the blog's for
#: ``bilstm``).
ARCH_DEFAULTS = {
    "bilstm": {"units": 300, "dense": 500, "dense2": 20, "lr": 1e-4, "decay": 0.03, "batch_size": 64},
    "sbr": {"channels": 64, "bands": 32, "kernel": 5, "wave_weight": 100.0, "lr": 1e-3, "decay": 0.0,
            "batch_size": 16},
}
#: The dataset each architecture needs, beyond the common fields: input, encoding, window rule.
ARCH_DATASET = {"bilstm": {}, "sbr": {"input": "sinc", "encoding": "pcm"}}
#: Defaults of the blog's network and optimizer.
DEFAULTS = {"arch": "bilstm", **ARCH_DEFAULTS["bilstm"], "seed": 0}
#: Every setting ``train`` accepts.
SETTINGS = ("arch", "seed", *sorted({k for d in ARCH_DEFAULTS.values() for k in d}))
#: Dataset fields the model depends on; prediction and evaluation check them.
DATASET_KEYS = ("format_version", "high_rate", "low_rate", "factor", "input", "window", "bits", "encoding")


def arch_keys(arch):
    """Settings that define a network of ``arch``; a resumed run must not change them."""
    return ("arch", *ARCH_DEFAULTS[arch], "seed")


def make_config(meta, dataset_dir, settings):
    """The model config: architecture settings plus the dataset fields the network depends on."""
    return {
        "stage": "model",
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        **{k: settings[k] for k in arch_keys(settings["arch"])},
        "window": meta["window"],
        "bits": meta["bits"],
        "dataset_dir": str(Path(dataset_dir).resolve()),
        "scan_dir": meta["scan_dir"],
        "train_fraction": meta["train_fraction"],
        "dataset": {k: meta[k] for k in DATASET_KEYS},
    }


def load_config(model_dir):
    """Read and check a model folder's ``config.json``."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise UserError(f"{model_dir}: model folder not found; train one with rnn-super-resolution.py --train")
    cfg = read_manifest(model_dir / CONFIG_NAME, "model", "model config.json",
                        fix="retrain it (into a new --model folder, or delete this one first)")
    if cfg.get("arch") not in ARCHS:
        raise UserError(f"{model_dir}: unknown architecture {cfg.get('arch')!r}; update the tool or retrain")
    return cfg


def write_history(path, rows):
    buf = io.StringIO()
    w = csv.DictWriter(buf, HISTORY_FIELDS)
    w.writeheader()
    w.writerows(rows)
    tmp = Path(path).with_name(f".{Path(path).name}.tmp")
    tmp.write_text(buf.getvalue())
    os.replace(tmp, path)


def read_history(model_dir):
    """The rows of a model folder's ``history.csv``: dicts of floats, ``epoch`` an int (empty if none yet)."""
    path = Path(model_dir) / HISTORY_NAME
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return [{k: int(v) if k == "epoch" else float(v) for k, v in row.items()} for row in csv.DictReader(f)]


