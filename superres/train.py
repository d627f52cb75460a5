"""Training with resumable, atomically written checkpoints.

A model folder (``models/<run>/``) holds:

- ``config.json`` -- everything needed to rebuild the network and check its input (the model manifest);
- ``last.keras`` -- weights and optimizer state after the latest finished epoch (for resuming);
- ``best.keras`` -- the weights of the best epoch so far (the lowest validation loss, or with ``--select probe``
  the highest probe score), without the optimizer's state (used by ``--predict`` and ``--init-from``);
- ``history.csv`` -- one row per epoch: losses, learning rate, time, throughput;
- ``state.json`` -- epochs done, the best epoch's figures and the dataset's window counts, written after the
  checkpoints.

Re-running the same command after an interruption resumes after the last finished epoch.
"""

import time
from pathlib import Path

import keras
import numpy as np

from .audio import atomic_output, check_writable_dir
from . import distribute
from .dataset import load_meta, open_split
from .errors import UserError, check_interrupted
from .loader import RemadeBatches, WindowBatches
from .manifest import read_json, relative_path, write_json_atomic
from .losses import make_loss, make_metric
from .archs import architecture
from .models import build_model, make_optimizer
from .runs import (ARCH_DATASET, ARCH_DEFAULTS, COMMON_DEFAULTS, CONFIG_NAME, DATASET_KEYS, DEFAULTS, HISTORY_NAME,
                   SELECT, SETTINGS, STATE_NAME, check_not_shipped, load_config, make_config, read_history,
                   write_history)


def _check_settings(arch, given, meta, dataset_dir):
    """Refuse settings of another architecture and a dataset the architecture cannot use."""
    foreign = sorted(set(given) - {"arch", *COMMON_DEFAULTS, *ARCH_DEFAULTS[arch]})
    if foreign:
        raise UserError(f"--{foreign[0].replace('_', '-')} is not a setting of --arch {arch} (its settings: "
                        f"{', '.join(ARCH_DEFAULTS[arch])})")
    for k, v in ARCH_DATASET[arch].items():
        if k == "low_rate" and meta[k] != v:
            raise UserError(f"{dataset_dir}: made from a {meta[k]} Hz scan; --arch {arch} restores the band above "
                            f"{v / 2000:g} kHz from {v / 1000:g} kHz inputs (its band plan is fixed): train --arch "
                            "bilstm on this scan (it follows any rate), or scan at the default 22050 Hz")
        if meta[k] != v:
            flag = {"input": "--upsample"}.get(k, f"--{k}")
            raise UserError(f"{dataset_dir}: built with {k} {meta[k]!r}; --arch {arch} needs a dataset built by "
                            f"20-make-dataset.py {flag} {v} (see README)")
    multiple = architecture(arch).window_multiple
    if meta["window"] % multiple:
        raise UserError(f"{dataset_dir}: window {meta['window']} is not a multiple of {multiple}, as --arch {arch} "
                        f"needs; rebuild it with --window {multiple * max(1, meta['window'] // multiple)}")

def _without_optimizer(model):
    """An uncompiled twin of a compiled functional ``model`` holding its weights (else ``model`` itself).

    ``best.keras`` only feeds prediction and ``--init-from``, which load it uncompiled; RMSprop's or Adam's
    slots are as large again as the weights (the full-size BiLSTM: 26 MB instead of 13), and ``Model.save``
    to ``.keras`` has no switch to leave them out. The adversarial trainer saves its generator alone anyway.
    """
    if getattr(model, "optimizer", None) is None or hasattr(model, "save_state"):
        return model
    # From the config alone: clone_model would compile the twin like the original, optimizer included.
    twin = model.__class__.from_config(model.get_config())
    twin.set_weights(model.get_weights())
    return twin


def _save_atomic(model, path):
    if path.name == "best.keras":
        model = _without_optimizer(model)
    with atomic_output(path) as tmp:  # the temporary name ends in .keras, as Model.save requires
        model.save(tmp)
    if hasattr(model, "save_state") and path.name == "last.keras":
        from .adversarial import ADVERSARIAL_STATE

        model.save_state(path.with_name(ADVERSARIAL_STATE))


def _patience_spent(state, patience):
    """Whether a run's best epoch is ``patience`` or more epochs old (never when None)."""
    return bool(patience) and state["epochs_done"] - state.get("best_epoch", state["epochs_done"]) >= patience


def _selected(state):
    """What a run's best epoch was chosen by: ``state["select"]``, absent (``val_loss``) in runs before it."""
    return state.get("select", "val_loss")


class _Checkpointer(keras.callbacks.Callback):
    """After every epoch: ``last.keras``, maybe ``best.keras``, ``history.csv``, then ``state.json``."""

    def __init__(self, run_dir, state, rows, samples_per_epoch, log, config, patience=None, probe=None):
        super().__init__()
        self.patience, self.probe = patience, probe
        self.select = _selected(state)
        self.run_dir, self.state, self.rows, self.model_config = run_dir, state, rows, config
        self.samples_per_epoch = samples_per_epoch
        self.log = log

    #: Set when the loss stopped being a finite number: nothing more is saved.
    diverged = None

    def on_epoch_begin(self, epoch, logs=None):
        self.t0 = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        check_interrupted()
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(float(loss)):
            self.diverged = self.diverged or (self.state["epochs_done"] + 1, batch + 1)
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self.t0
        logs = logs or {}
        weights_finite = all(np.isfinite(keras.ops.convert_to_numpy(w)).all() for w in self.model.weights)
        if self.diverged or not np.isfinite(float(logs.get("loss", np.nan))) or not weights_finite:
            # Never write NaN weights over a good checkpoint: the run stops at the last finite epoch.
            self.diverged = self.diverged or (epoch + 1, None)
            self.model.stop_training = True
            return
        opt = self.model.optimizer
        lr = float(keras.ops.convert_to_numpy(opt.learning_rate))
        val = float(logs.get("val_loss", np.nan))
        val_mae = float(logs.get("val_mae", np.nan)) * 32768.0
        self.rows.append({"epoch": epoch + 1, "loss": float(logs.get("loss", np.nan)), "val_loss": val,
                          "val_mae_16bit": val_mae, "learning_rate": lr, "seconds": round(seconds, 3),
                          "samples_per_s": round(self.samples_per_epoch / seconds, 1),
                          # Optimizer steps since the run began (the generator's, in an adversarial run).
                          "steps": int(keras.ops.convert_to_numpy(opt.iterations))})
        if self.probe is not None:
            t0 = time.perf_counter()
            figures = self.probe(getattr(self.model, "generator", self.model), epoch + 1)
            self.rows[-1].update(figures)
            self.log(f"epoch {epoch + 1} probe: LSD above the cutoff {figures['probe_lsd_ratio']:.3f} x the input's, "
                     f"band energy {figures['probe_hf_db']:+.2f} dB, ViSQOL {figures['probe_visqol_gain']:+.3f} over "
                     f"the input ({time.perf_counter() - t0:.0f} s)")
        _save_atomic(self.model, self.run_dir / "last.keras")
        if self.select == "probe":
            from .probe import probe_score

            score = probe_score(self.rows[-1])
            better = np.isfinite(score) and score > self.state.get("best_probe_score", -np.inf)
        else:
            better = not np.isnan(val) and val < self.state.get("best_val_loss", np.inf)
        if better:
            _save_atomic(self.model, self.run_dir / "best.keras")
            # Prediction runs the exported graph on ONNX Runtime, without Keras (superres.predictor.open_predictor).
            from .runtime import write_onnx

            write_onnx(getattr(self.model, "generator", self.model), self.model_config, self.run_dir / "best.keras")
            self.state.update(best_val_loss=val, best_val_mae_16bit=val_mae, best_epoch=epoch + 1)
            if self.select == "probe":
                self.state["best_probe_score"] = score
        write_history(self.run_dir / HISTORY_NAME, self.rows)
        self.state["epochs_done"] = epoch + 1
        stop = _patience_spent(self.state, self.patience)
        if stop:
            self.state["stopped_early"] = epoch + 1
        write_json_atomic(self.run_dir / STATE_NAME, self.state)
        self.log(f"epoch {epoch + 1}: loss {self.rows[-1]['loss']:.5g}, val loss {val:.5g}, val MAE {val_mae:.1f} "
                 f"(16-bit units), {seconds:.1f} s")
        if stop:
            self.log(f"stopping: no better {SELECT[self.select]} for {self.patience} epoch(s), since epoch "
                     f"{self.state['best_epoch']} (--patience)")
            self.model.stop_training = True


def _adversarial(config):
    return config.get("adv_weight", 0) > 0


def _init_weights(model, config, source_dir):
    """Start a new run from another model folder's best weights (same architecture and sizes)."""
    from .models.loading import load_model
    from .runs import ModelFolder

    folder = ModelFolder(source_dir)
    source, cfg = load_model(folder), folder.config
    keys = [k for k in ("arch", "dim", "blocks", "expand", "kernel", "units", "dense", "dense2", "channels",
                        "bands") if k in config or k in cfg]
    if any(cfg.get(k) != config.get(k) for k in keys):
        raise UserError(f"--init-from {source_dir}: its network ({', '.join(f'{k} {cfg.get(k)}' for k in keys)}) "
                        "is not the one asked for; give the same --arch and sizes")
    model.set_weights(source.get_weights())


def train(dataset_dir, run_dir, epochs=10, log=print, verbose=1, worker_timeout=None, init_from=None, patience=None,
          probe=0, select="val_loss", **settings):
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
    worker_timeout : float, optional
        With ``TF_CONFIG``: seconds to wait for every worker to start (default
        :data:`superres.distribute.WORKER_TIMEOUT_S`; 0 waits forever).
    init_from : path-like, optional
        A new run starts from this model folder's best weights (the adversarial fine-tune of a ``gen`` model
        trained with the spectral loss alone); recorded in the config.
    patience : int, optional
        Stop when no epoch has been better than the best (by ``select``) for this many epochs (then
        ``state["stopped_early"]`` is the epoch it stopped after); a resumed run counts from its best epoch.
        None trains every epoch.
    probe : int
        ``gen``/``cgen``: after every epoch, score this many songs' validation parts as users' inputs
        (:class:`superres.probe.HeldoutProbe`), into ``history.csv`` and ``probe.json``; 0: none.
    select : {"val_loss", "probe"}
        What makes an epoch the best (``best.keras``, ``best.onnx``, ``--patience``): the lowest validation
        loss, or the highest :func:`superres.probe.probe_score` (ViSQOL's gain minus the LSD ratio; needs
        ``probe`` and ViSQOL), for an adversarial fine-tune, which trades some of the spectral loss for how the
        band sounds. Kept in ``state.json``: a run resumes only with the criterion it started with.
    **settings
        ``arch, units, dense, dense2, lr, decay, batch_size, seed``; ``None`` or missing means the default
        for a new run, or the stored value when resuming (a different value is refused).

    Returns
    -------
    dict
        The run's ``state.json``.
    """
    dataset_dir, run_dir = Path(dataset_dir), Path(run_dir)
    check_not_shipped(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"{run_dir}: is a file, not a model folder; choose another --model")
    meta = load_meta(dataset_dir)
    given = {k: v for k, v in settings.items() if v is not None}
    unknown = set(given) - set(SETTINGS)
    if unknown:
        raise TypeError(f"unknown settings {sorted(unknown)}")
    if select not in SELECT:
        raise ValueError(f"select={select!r}: one of {sorted(SELECT)}")
    if select == "probe":
        from .probe import visqol_installed

        if not probe:
            raise UserError("--select probe ranks the epochs by the probe's figures: give --probe SONGS too")
        if not visqol_installed():
            raise UserError("--select probe ranks the epochs by ViSQOL's gain, among others, and ViSQOL is not "
                            "installed: make visqol")

    config_path = run_dir / CONFIG_NAME
    resuming = config_path.is_file() and (run_dir / "last.keras").is_file() and (run_dir / STATE_NAME).is_file()
    shipped = all((run_dir / name).is_file() for name in (CONFIG_NAME, "best.keras", STATE_NAME))
    if shipped and not resuming:
        # A finished model shipped without last.keras (models/bilstm-full: its optimizer state alone is 13 MB).
        # Training it again from scratch would overwrite it, and it cannot resume: leave it as it is.
        state = read_json(run_dir / STATE_NAME, "training state")
        log(f"{run_dir}: a trained model without last.keras (the optimizer state resuming needs); nothing to "
            "train. Train into another --model to run the training again.")
        return state
    if resuming:
        config = load_config(run_dir)
        for k, v in given.items():
            if config[k] != v:
                raise UserError(f"{run_dir}: this run was started with {k}={config[k]!r}, not {v!r}; resume "
                                "with the same settings, or train into a new --model folder")
        if config["dataset"] != {k: meta[k] for k in DATASET_KEYS}:
            raise UserError(f"{dataset_dir}: built with other settings than the model in {run_dir} was trained "
                            "on; rebuild the dataset with the model's settings, or train into a new --model folder")
        check_writable_dir(run_dir)
        state = read_json(run_dir / STATE_NAME, "training state")
        if not isinstance(state, dict) or not isinstance(state.get("epochs_done"), int):
            raise UserError(f"{run_dir / STATE_NAME}: incomplete or edited (no epochs_done); delete the run folder "
                            "to start over")
        if _selected(state) != select:
            raise UserError(f"{run_dir}: this run chooses its best epoch by its {SELECT[_selected(state)]}, not its "
                            f"{SELECT[select]}; resume with --select {_selected(state)}, or train into a new --model "
                            "folder")
        with distribute.training_scope(config["batch_size"], state["epochs_done"], worker_timeout):
            try:
                model = keras.models.load_model(run_dir / "last.keras", safe_mode=True,
                                                compile=not _adversarial(config))
            except Exception as e:
                raise UserError(f"{run_dir / 'last.keras'}: cannot be loaded ({e}); delete the run folder to start "
                                "over")
            if _adversarial(config):
                from .adversarial import ADVERSARIAL_STATE, make_trainer

                model = make_trainer(model, config)
                if not (run_dir / ADVERSARIAL_STATE).is_file():
                    raise UserError(f"{run_dir / ADVERSARIAL_STATE}: missing (the discriminator and the optimizers' "
                                    "state); delete the run folder to start over")
                model.restore_state(run_dir / ADVERSARIAL_STATE)
        log(f"resuming {run_dir} after epoch {state['epochs_done']}")
    else:
        arch = architecture(given.get("arch", DEFAULTS["arch"])).name  # refuses an unknown name
        _check_settings(arch, given, meta, dataset_dir)
        s = {"arch": arch, **ARCH_DEFAULTS[arch], **given}  # make_config adds the common defaults
        config = make_config(meta, dataset_dir, s, run_dir)
        # Seeded, built and compiled inside the strategy's scope, so its variables are mirrored.
        with distribute.training_scope(config["batch_size"], 0, worker_timeout):
            keras.utils.set_random_seed(config["seed"])
            model = build_model(config)
            if init_from is not None:
                _init_weights(model, config, init_from)
                config["init_from"] = relative_path(init_from, run_dir)
            if _adversarial(config):
                from .adversarial import make_trainer

                model = make_trainer(model, config)
            else:
                # MAE as a metric too: the figure every architecture reports, whatever its loss.
                model.compile(optimizer=make_optimizer(config["lr"], config["decay"], architecture(config).optimizer),
                              loss=make_loss(config), metrics=[make_metric(config)])
        check_writable_dir(run_dir)
        write_json_atomic(config_path, config)
        state = {"epochs_done": 0, "select": select}
        log(f"new run in {run_dir} ({config['arch']}, dataset {dataset_dir})")
    rows = read_history(run_dir)[:state["epochs_done"]]
    windows = [meta["counts"]["train"], meta["counts"]["test"]]
    if state.get("dataset_windows", windows) != windows:
        # The corpus grew, or the dataset was remade from other songs: a validation loss of the new test windows
        # cannot be compared with the best of the old ones, so the best is measured anew from the next epoch
        # (best.keras stays until then), and --patience counts from here.
        was = state["dataset_windows"]
        anew = select == "val_loss" and "best_epoch" in state
        log(f"{dataset_dir}: {windows[0]} training and {windows[1]} validation windows, where this run trained on "
            f"{was[0]} and {was[1]} until now; "
            + (f"its best validation loss is measured anew from epoch {state['epochs_done'] + 1}" if anew else
               "its best epoch stays the probe's"))
        if anew:
            state.pop("best_val_loss", None)
            state["best_epoch"] = state["epochs_done"]
    state["dataset_windows"] = windows
    if state["epochs_done"] >= epochs:
        log(f"{run_dir}: already trained for {state['epochs_done']} epochs (asked for {epochs}); nothing to do")
        return state
    if _patience_spent(state, patience):
        log(f"{run_dir}: no better {SELECT[select]} since epoch {state['best_epoch']} ({state['epochs_done']} "
            f"epochs done, --patience {patience}); nothing to do")
        return state
    state.pop("stopped_early", None)  # this call trains on: an earlier stop no longer describes the run

    train_x, train_y = open_split(dataset_dir, "train")
    test_x, test_y = open_split(dataset_dir, "test")
    # Every worker saves (saving may read variables collectively); only the chief into the model folder.
    held_out = None
    if probe:
        if not architecture(config).frame_stream:
            raise UserError(f"--probe scores the generators (gen, cgen); --arch {config['arch']} has its "
                            "validation loss")
        if distribute.is_chief():  # the chief alone writes the folder's history
            from .probe import HeldoutProbe

            held_out = HeldoutProbe(config, run_dir, songs=probe)
            if held_out.visqol is None:
                # Checked once, here: a ViSQOL installed while the run goes on is used after a restart only.
                log("note  the probe scores no ViSQOL: it is not installed (make visqol, then re-run to resume)")
    # 0: an epoch is one pass over the training windows.
    epoch_windows = config["epoch_windows"] or None
    cb = _Checkpointer(distribute.checkpoint_dir(run_dir), state, rows,
                       (epoch_windows or train_x.shape[0]) * train_x.shape[1], log, config, patience, held_out)
    remade = ("cutoff" if architecture(config).any_cutoff else "resampler") if architecture(config).remade_inputs \
        else None
    if remade and distribute.get_strategy() is not None:
        # Several workers or GPUs: the same remade batches as one process, from tf.data (superres.loader).
        distribute.fit(model, (train_y, train_y), (test_y, test_y), config["batch_size"], config["batch_size"],
                       seed=config["seed"], epochs=epochs, initial_epoch=state["epochs_done"], callbacks=[cb],
                       verbose=verbose, remade=remade, epoch_windows=epoch_windows)
    elif remade:
        # Workers in threads: resampling releases the GIL while the backend runs the previous step.
        any_cutoff = architecture(config).any_cutoff
        train_batches = RemadeBatches(train_y, config["batch_size"], shuffle=True, seed=config["seed"], workers=2,
                                      any_cutoff=any_cutoff, epoch_windows=epoch_windows)
        train_batches.set_epoch(state["epochs_done"])
        test_batches = RemadeBatches(test_y, config["batch_size"], seed=config["seed"], fixed=True, workers=2,
                                     any_cutoff=any_cutoff)
        model.fit(train_batches, validation_data=test_batches, epochs=epochs, initial_epoch=state["epochs_done"],
                  callbacks=[cb], verbose=verbose)
    elif keras.backend.backend() == "tensorflow":
        # tf.data with prefetching, sharded over the workers and replicas of the strategy, if any.
        distribute.fit(model, (train_x, train_y), (test_x, test_y), config["batch_size"],
                       max(config["batch_size"], 256), seed=config["seed"], epochs=epochs,
                       initial_epoch=state["epochs_done"], callbacks=[cb], verbose=verbose,
                       epoch_windows=epoch_windows)
    else:
        train_batches = WindowBatches(train_x, train_y, config["batch_size"], shuffle=True, seed=config["seed"],
                                      epoch_windows=epoch_windows)
        train_batches.set_epoch(state["epochs_done"])
        test_batches = WindowBatches(test_x, test_y, max(config["batch_size"], 256))
        model.fit(train_batches, validation_data=test_batches, epochs=epochs, initial_epoch=state["epochs_done"],
                  callbacks=[cb], verbose=verbose)
    if cb.diverged:
        epoch, batch = cb.diverged
        where = f"epoch {epoch}" + (f", batch {batch}" if batch else "")
        kept = f"the checkpoints are from epoch {state['epochs_done']}" if state["epochs_done"] else \
            "no checkpoint was written"
        raise UserError(f"{run_dir}: training diverged (the loss became NaN or infinite at {where}); {kept}. "
                        "Train again with a lower --lr")
    return state

