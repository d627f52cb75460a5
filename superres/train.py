"""Training with resumable, atomically written checkpoints.

A model folder (``models/<run>/``) holds:

- ``config.json`` -- everything needed to rebuild the network and check its input (the model manifest);
- ``last.keras`` -- weights and optimizer state after the latest finished epoch (for resuming);
- ``best.keras`` -- the weights with the lowest validation loss so far (used by ``--predict``);
- ``history.csv`` -- one row per epoch: losses, learning rate, time, throughput;
- ``state.json`` -- epochs done and the best validation loss, written after the checkpoints.

Re-running the same command after an interruption resumes after the last finished epoch.
"""

import time
from pathlib import Path

import keras
import numpy as np

from .audio import atomic_output
from .dataset import load_meta, open_split
from .errors import UserError
from .loader import WindowBatches
from .manifest import read_json, write_json_atomic
from .models import build_model, make_optimizer
from .runs import (ARCHS, CONFIG_NAME, DATASET_KEYS, DEFAULTS, HISTORY_NAME, STATE_NAME, load_config, make_config,
                   read_history, write_history)

def _save_atomic(model, path):
    with atomic_output(path) as tmp:  # the temporary name ends in .keras, as Model.save requires
        model.save(tmp)


class _Checkpointer(keras.callbacks.Callback):
    """After every epoch: ``last.keras``, maybe ``best.keras``, ``history.csv``, then ``state.json``."""

    def __init__(self, run_dir, state, rows, samples_per_epoch, log):
        super().__init__()
        self.run_dir, self.state, self.rows = run_dir, state, rows
        self.samples_per_epoch = samples_per_epoch
        self.log = log

    def on_epoch_begin(self, epoch, logs=None):
        self.t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self.t0
        logs = logs or {}
        opt = self.model.optimizer
        lr = float(keras.ops.convert_to_numpy(opt.learning_rate))
        val = float(logs.get("val_loss", np.nan))
        self.rows.append({"epoch": epoch + 1, "loss": float(logs.get("loss", np.nan)), "val_loss": val,
                          "val_mae_16bit": val * 32768.0, "learning_rate": lr, "seconds": round(seconds, 3),
                          "samples_per_s": round(self.samples_per_epoch / seconds, 1)})
        _save_atomic(self.model, self.run_dir / "last.keras")
        if not np.isnan(val) and val < self.state.get("best_val_loss", np.inf):
            _save_atomic(self.model, self.run_dir / "best.keras")
            self.state.update(best_val_loss=val, best_epoch=epoch + 1)
        write_history(self.run_dir / HISTORY_NAME, self.rows)
        self.state["epochs_done"] = epoch + 1
        write_json_atomic(self.run_dir / STATE_NAME, self.state)
        self.log(f"epoch {epoch + 1}: loss {self.rows[-1]['loss'] * 32768:.1f}, "
                 f"val {val * 32768:.1f} (MAE, 16-bit units), {seconds:.1f} s")


def train(dataset_dir, run_dir, epochs=10, log=print, verbose=1, **settings):
    """Train a model on a dataset folder, or resume the run in ``run_dir``.

    Parameters
    ----------
    dataset_dir : path-like
        Output of stage 20.
    run_dir : path-like
        Model folder. If it already holds a run, training resumes after its last finished epoch.
    epochs : int
        Total number of epochs the run should have when this call returns.
    verbose : int
        Keras progress display (1 = bar, 2 = one line per epoch, 0 = none).
    **settings
        ``arch, units, dense, dense2, lr, decay, batch_size, seed``; ``None`` or missing means the default
        for a new run, or the stored value when resuming (a different value is refused).

    Returns
    -------
    dict
        The run's ``state.json``.
    """
    dataset_dir, run_dir = Path(dataset_dir), Path(run_dir)
    meta = load_meta(dataset_dir)
    given = {k: v for k, v in settings.items() if v is not None}
    unknown = set(given) - set(DEFAULTS)
    if unknown:
        raise TypeError(f"unknown settings {sorted(unknown)}")

    config_path = run_dir / CONFIG_NAME
    resuming = config_path.is_file() and (run_dir / "last.keras").is_file() and (run_dir / STATE_NAME).is_file()
    if resuming:
        config = load_config(run_dir)
        for k, v in given.items():
            if config[k] != v:
                raise UserError(f"{run_dir}: this run was started with {k}={config[k]!r}, not {v!r}; resume "
                                "with the same settings or train into a new --run folder")
        if config["dataset"] != {k: meta[k] for k in DATASET_KEYS}:
            raise UserError(f"{dataset_dir}: built with other settings than the model in {run_dir} was trained "
                            "on; rebuild the dataset with the model's settings or train a new --run")
        state = read_json(run_dir / STATE_NAME, "training state")
        try:
            model = keras.models.load_model(run_dir / "last.keras", safe_mode=True)
        except Exception as e:
            raise UserError(f"{run_dir / 'last.keras'}: cannot be loaded ({e}); delete the run folder to start over")
        log(f"resuming {run_dir} after epoch {state['epochs_done']}")
    else:
        s = {**DEFAULTS, **given}
        if s["arch"] not in ARCHS:
            raise UserError(f"unknown architecture {s['arch']!r}; choose from {', '.join(ARCHS)}")
        config = make_config(meta, dataset_dir, s)
        keras.utils.set_random_seed(config["seed"])
        model = build_model(config)
        model.compile(optimizer=make_optimizer(config["lr"], config["decay"]), loss="mae")
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(config_path, config)
        state = {"epochs_done": 0}
    rows = read_history(run_dir)[:state["epochs_done"]]
    if state["epochs_done"] >= epochs:
        log(f"{run_dir}: already trained for {state['epochs_done']} epochs (asked for {epochs}); nothing to do")
        return state

    train_x, train_y = open_split(dataset_dir, "train")
    test_x, test_y = open_split(dataset_dir, "test")
    train_batches = WindowBatches(train_x, train_y, config["batch_size"], shuffle=True, seed=config["seed"])
    train_batches.set_epoch(state["epochs_done"])
    test_batches = WindowBatches(test_x, test_y, max(config["batch_size"], 256))
    cb = _Checkpointer(run_dir, state, rows, train_x.shape[0] * train_x.shape[1], log)
    model.fit(train_batches, validation_data=test_batches, epochs=epochs, initial_epoch=state["epochs_done"],
              callbacks=[cb], verbose=verbose)
    return state

