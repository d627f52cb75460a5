"""Model folders: the config that built a network, its weights, training state and history (no Keras needed).

A model folder (``models/<run>/``) holds ``config.json`` (the model manifest), ``last.keras``,
``best.keras`` with its ONNX export ``best.onnx``, ``history.csv`` and ``state.json``; see
:mod:`superres.train`. Prediction and evaluation read a folder once, into a :class:`ModelFolder`.
"""

import csv
import io
import math
import os
from pathlib import Path

from . import __version__
from .archs import ARCHITECTURES, architecture, check_fits
from .audio import LOW_RATE
from .errors import UserError
from .manifest import FORMAT_VERSION, permission_denied, read_manifest, relative_path, resolve_path, resolved

#: Architecture names accepted by ``--arch`` (see :mod:`superres.archs`).
ARCHS = tuple(ARCHITECTURES)

CONFIG_NAME = "config.json"
STATE_NAME = "state.json"
HISTORY_NAME = "history.csv"
#: The last three: the held-out probe's figures (:mod:`superres.probe`), empty in runs without it.
HISTORY_FIELDS = ("epoch", "loss", "val_loss", "val_mae_16bit", "learning_rate", "seconds", "samples_per_s",
                  "steps", "probe_lsd_ratio", "probe_hf_db", "probe_visqol_gain")

#: Per architecture: the network's settings and the optimizer's, with their defaults (the blog's for
#: ``bilstm``).
ARCH_DEFAULTS = {name: a.defaults for name, a in ARCHITECTURES.items()}
#: The dataset each architecture needs, beyond the common fields: input, encoding.
ARCH_DATASET = {name: a.dataset for name, a in ARCHITECTURES.items()}
#: Training settings of every architecture: the random seed, and the training windows per epoch (0: one pass
#: over the split; :func:`superres.loader.epoch_order`). Configs from before ``epoch_windows`` get its 0.
COMMON_DEFAULTS = {"seed": 0, "epoch_windows": 0}
#: Defaults of the blog's network and optimizer.
DEFAULTS = {"arch": "bilstm", **ARCH_DEFAULTS["bilstm"], **COMMON_DEFAULTS}
#: Every setting ``train`` accepts.
SETTINGS = ("arch", *COMMON_DEFAULTS, *sorted({k for d in ARCH_DEFAULTS.values() for k in d}))
#: What ``--select`` may rank a run's epochs by, as the messages name it.
SELECT = {"val_loss": "validation loss", "probe": "probe score"}
#: Model folders shipped with superres (in the source checkout's ``models/``): read-only, never trained into.
SHIPPED_MODELS = ("default", "sbr", "bilstm-full")
#: Where training puts a run when no ``--model`` is given; ``rnn-super-resolution.py --predict`` uses it too
#: (relative to the working folder, as the blog's ``data/`` folders are).
TRAINED_MODEL = "models/trained"

#: Dataset fields the model depends on; prediction and evaluation check them.
DATASET_KEYS = ("format_version", "high_rate", "low_rate", "factor", "input", "window", "bits", "encoding")


def default_model_dir():
    """The pretrained model used when no ``--model`` is given.

    In a source checkout (or an editable install) it is the repository's ``models/default``; an installed
    package carries a copy as ``superres/pretrained``.
    """
    here = Path(__file__).resolve().parent
    checkout = here.parent / "models" / "default"
    return checkout if (checkout / CONFIG_NAME).is_file() else here / "pretrained"


def shipped_model_dirs():
    """The folders of the models shipped with superres: the checkout's and the installed package's copy."""
    here = Path(__file__).resolve().parent
    return [here.parent / "models" / name for name in SHIPPED_MODELS] + [here / "pretrained"]


def check_not_shipped(run_dir):
    """Refuse to train into a shipped model's folder: it is everyone's pretrained model, not a run of the user's.

    The folder is compared after resolving links, so a link to a shipped folder is refused too.
    """
    run_dir = Path(run_dir)
    target = resolved(run_dir)
    if any(target == d.resolve() for d in shipped_model_dirs()):
        raise UserError(f"{run_dir}: a model shipped with superres, read-only; train into a folder of your own "
                        f"(--model {TRAINED_MODEL}, the default), and add --init-from {run_dir} to start from its "
                        "weights (fine-tuning)")


def arch_keys(arch):
    """Settings that define a network of ``arch``; a resumed run must not change them."""
    return ("arch", *ARCH_DEFAULTS[arch], *COMMON_DEFAULTS)


def make_config(meta, dataset_dir, settings, run_dir):
    """The model config: architecture settings plus the dataset fields the network depends on (a common setting
    missing from ``settings`` takes its default, :data:`COMMON_DEFAULTS`).

    The dataset and scan folders are recorded relative to the model folder ``run_dir``
    (:func:`superres.manifest.relative_path`); :func:`model_path` reads them back. A network too large to
    train in this machine's memory is refused here, before it is built (:func:`superres.archs.check_fits`).
    """
    config = {
        "stage": "model",
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        **{k: {**COMMON_DEFAULTS, **settings}[k] for k in arch_keys(settings["arch"])},
        "window": meta["window"],
        "bits": meta["bits"],
        "dataset_dir": relative_path(dataset_dir, run_dir),
        "scan_dir": relative_path(resolve_path(meta["scan_dir"], dataset_dir), run_dir),
        "train_fraction": meta["train_fraction"],
        "dataset": {k: meta[k] for k in DATASET_KEYS},
    }
    check_fits(config, meta["counts"])
    return config


def input_rate(config):
    """The rate of the inputs a model was trained on, Hz: its dataset's scan rate (22050 unless the scan chose
    another with ``--rate``)."""
    return int(config["dataset"].get("low_rate") or LOW_RATE)


def model_path(model_dir, config, key):
    """The folder a model config names under ``key`` (``scan_dir``, ``dataset_dir``), as a path from here."""
    return resolve_path(config[key], model_dir)


def load_config(model_dir):
    """Read and check a model folder's ``config.json``."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise UserError(f"{model_dir}: model folder not found; train one with rnn-super-resolution.py --train")
    cfg = read_manifest(model_dir / CONFIG_NAME, "model", "model config.json",
                        fix="retrain it (into a new --model folder, or delete this one first)")
    if cfg.get("arch") not in ARCHS:
        raise UserError(f"{model_dir}: unknown architecture {cfg.get('arch')!r}; update the tool or retrain")
    added = {"epoch_windows": COMMON_DEFAULTS["epoch_windows"], **(ARCHITECTURES[cfg["arch"]].added or {})}
    for k, v in added.items():
        cfg.setdefault(k, v)  # a model from before the setting existed
    _check_config(cfg, model_dir)
    return cfg


#: Fields of every model config besides its architecture's settings, and those of its ``dataset``.
_CONFIG_KEYS = ("window", "bits", "scan_dir", "train_fraction", "dataset")
_CONFIG_DATASET_KEYS = ("encoding", "input")


#: Settings for which 0 is a valid value.
_MAY_BE_ZERO = ("seed", "epoch_windows", "decay", "wave_weight", "band_weight", "adv_weight", "fm_weight",
                "disc_segment")


def weights_file(model_dir, which="best"):
    """The checkpoint ``which`` of a model folder (``best`` falls back to ``last``); UserError if none.

    A ``bilstm`` folder may ship its best weights as their ONNX export alone (``best.onnx``: models/bilstm-full,
    whose float32 weights are 13 MB, would be twice that with both): then that file is the checkpoint.
    """
    path = Path(model_dir) / f"{which}.keras"
    if which == "best" and not path.is_file():
        exported = Path(model_dir) / "best.onnx"
        path = exported if exported.is_file() and not (Path(model_dir) / "last.keras").is_file() \
            else Path(model_dir) / "last.keras"
    if not path.is_file():
        raise UserError(f"{model_dir}: holds no trained weights ({which}.keras); train it first")
    return path


def weights_stamp(path):
    """Size and modification time of a checkpoint: a retrained model gets a new one."""
    st = Path(path).stat()
    return f"{st.st_size}-{st.st_mtime_ns}"


class ModelFolder:
    """A model folder read once, for prediction and evaluation: what every stage after training hands down.

    The config is read and checked here, and only here (:func:`load_config`); the network is opened on first
    use (:meth:`onnx_network`, or :func:`superres.models.loading.load_model` for Keras) and kept.

    Parameters
    ----------
    path : path-like, optional
        Default: the pretrained model (:func:`default_model_dir`).
    which : {"best", "last"}
        The checkpoint (:func:`weights_file`: ``best`` falls back to ``last``).

    Attributes
    ----------
    path : Path
    config : dict
        The checked ``config.json``, with the defaults of settings newer than the model filled in.
    arch : superres.archs.Architecture
    which : str
    checkpoint : Path
        The weights file (``best.keras``, ``last.keras``, or ``best.onnx`` where a folder ships its export alone).
    stamp : str
        :func:`weights_stamp` of the checkpoint: a prediction folder records it, to tell a retrained model.
    """

    def __init__(self, path=None, which="best"):
        self.path = Path(path) if path is not None else default_model_dir()
        self.config = load_config(self.path)
        self.arch = architecture(self.config)
        self.which = which
        self.checkpoint = weights_file(self.path, which)
        self.stamp = weights_stamp(self.checkpoint)
        self._onnx = None

    @classmethod
    def of(cls, model, which="best"):
        """``model`` itself if it is a ModelFolder of checkpoint ``which``, else the folder at that path (None: the
        pretrained one) read for ``which``."""
        if isinstance(model, cls):
            return model if model.which == which else cls(model.path, which)
        return cls(model, which)

    @property
    def name(self):
        return self.path.resolve().name

    @property
    def pretrained(self):
        """Whether this is the default model shipped with superres."""
        return self.path.resolve() == default_model_dir().resolve()

    def folder(self, key):
        """The folder the config names under ``key`` (``scan_dir``, ``dataset_dir``), as a path from here."""
        return model_path(self.path, self.config, key)

    def onnx_network(self):
        """The checkpoint's current ONNX export on ONNX Runtime (:func:`superres.runtime.current_network`), opened
        once; None if the folder has none of these weights (a stale or missing ``best.onnx``)."""
        if self._onnx is None:
            from .runtime import current_network

            self._onnx = current_network(self.checkpoint, self.config) or False
        return self._onnx or None

    def __repr__(self):
        return f"ModelFolder({str(self.path)!r}, {self.config['arch']}, {self.checkpoint.name})"


def _check_config(cfg, model_dir):
    """Refuse a config.json with missing fields or values of the wrong kind (a hand-edited file)."""
    fix = "restore it (or retrain the model)"
    dataset = cfg.get("dataset")
    missing = [k for k in (*arch_keys(cfg["arch"]), *_CONFIG_KEYS) if k not in cfg]
    if isinstance(dataset, dict):
        missing += [f"dataset.{k}" for k in _CONFIG_DATASET_KEYS if k not in dataset]
    elif "dataset" not in missing:
        missing.append("dataset")
    if missing:
        raise UserError(f"{model_dir}: config.json is incomplete or edited (missing {', '.join(missing)}); {fix}")
    for k, default in {**ARCH_DEFAULTS[cfg["arch"]], "window": 1, "bits": 1, **COMMON_DEFAULTS}.items():
        v = cfg[k]
        whole = isinstance(default, int) and not isinstance(v, bool) and isinstance(v, int)
        number = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        if not (whole if isinstance(default, int) else number) or v < (0 if k in _MAY_BE_ZERO else 1e-12):
            raise UserError(f"{model_dir}: config.json has {k} = {v!r}, which no network can have; {fix}")


def write_history(path, rows):
    """Write the rows of ``history.csv`` atomically; a figure not measured (nan, or missing) is an empty cell, as
    :func:`read_history` reads it back."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, HISTORY_FIELDS)
    w.writeheader()
    w.writerows({k: "" if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()} for row in rows)
    tmp = Path(path).with_name(f".{Path(path).name}.tmp")
    tmp.write_text(buf.getvalue())
    os.replace(tmp, path)


#: Columns of history.csv that are counts.
_COUNTS = ("epoch", "steps")


def _cell(key, text):
    x = float("nan") if text in ("", None) else float(text)
    return int(x) if key in _COUNTS and math.isfinite(x) else x


def read_history(model_dir):
    """The rows of a model folder's ``history.csv``: dicts of floats, ``epoch`` and ``steps`` ints (empty if none
    yet)."""
    path = Path(model_dir) / HISTORY_NAME
    try:
        if not path.is_file():
            return []
        with open(path, newline="") as f:
            # A column added after a run began is empty in its earlier rows: nan there. Counts stay whole
            # numbers, so that a resumed run writes its earlier rows back as they were.
            return [{k: _cell(k, v) for k, v in row.items()} for row in csv.DictReader(f)]
    except PermissionError:
        raise permission_denied(path)
    except (OSError, ValueError, TypeError) as e:  # TypeError: a row with more fields than the header
        raise UserError(f"{path}: unreadable ({e}); restore it, or delete the model folder to start over")


