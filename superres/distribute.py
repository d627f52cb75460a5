"""Training on several GPUs of one machine, or on several machines, with ``tf.distribute``.

``--train`` picks the strategy once per process (:func:`get_strategy`):

- ``TF_CONFIG`` set: ``tf.distribute.MultiWorkerMirroredStrategy``, every local GPU of every listed machine;
- no ``TF_CONFIG``, more than one local GPU: ``tf.distribute.MirroredStrategy``;
- otherwise none: the plain single-device path (also the only one for Keras backends other than TensorFlow).

The global batch stays the config's ``batch_size``; each of the N replicas takes ``batch_size / N`` windows per
step, and each worker reads only its replicas' rows (:func:`superres.loader.make_tf_dataset`), so a run gives
the same batches, in the same order, as one process. Worker 0 is the chief: it writes the model folder; the
others write their checkpoints into ``<model>/worker-<index>/``. Every worker saves, as TensorFlow's
multi-worker guide asks, since reading a synced-on-read variable is a collective (Keras 3.15's ``.keras`` save
reads none: a save on the chief alone did not block when tried, but nothing promises that).

TensorFlow is imported only by the functions that need it: the rest of the package stays backend-agnostic.
"""

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import keras

from .errors import UserError

_HELP = "see the README section 'Training on several GPUs or machines'"

#: The per-process strategy: MultiWorkerMirroredStrategy must be created once, before any other TF op.
_strategy = None
_created = False


def parse_tf_config(text):
    """Check a ``TF_CONFIG`` value and say where this process stands in the cluster.

    Only ``worker`` tasks are accepted (the first one, index 0, is the chief): no parameter servers, no
    separate ``chief`` or ``evaluator`` task.

    Parameters
    ----------
    text : str
        The JSON, e.g. ``{"cluster": {"worker": ["10.0.0.1:12345", "10.0.0.2:12345"]},
        "task": {"type": "worker", "index": 0}}``.

    Returns
    -------
    dict
        ``workers`` (list of ``host:port``), ``index`` (int), ``is_chief`` (bool).

    Raises
    ------
    UserError
        A malformed value, with what is wrong in it.
    """
    try:
        cfg = json.loads(text)
    except ValueError as e:
        raise UserError(f"TF_CONFIG is not valid JSON ({e}); {_HELP}")
    if not isinstance(cfg, dict) or not isinstance(cfg.get("cluster"), dict) or not isinstance(cfg.get("task"),
                                                                                                dict):
        raise UserError(f'TF_CONFIG must be a JSON object with "cluster" and "task" objects; {_HELP}')
    cluster, task = cfg["cluster"], cfg["task"]
    other = sorted(set(cluster) - {"worker"})
    if other:
        raise UserError(f'TF_CONFIG: cluster has {", ".join(map(repr, other))}; only "worker" is supported '
                        f"(list every machine there, the first is the chief); {_HELP}")
    workers = cluster.get("worker")
    if not isinstance(workers, list) or not workers:
        raise UserError(f'TF_CONFIG: cluster "worker" must be a non-empty list of "host:port"; {_HELP}')
    for addr in workers:
        host, _, port = addr.rpartition(":") if isinstance(addr, str) else ("", "", "")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise UserError(f'TF_CONFIG: worker address {addr!r} is not "host:port" with a port 1-65535; {_HELP}')
    if len(set(workers)) != len(workers):
        raise UserError(f"TF_CONFIG: a worker address is listed twice; {_HELP}")
    if task.get("type") != "worker":
        raise UserError(f'TF_CONFIG: task type {task.get("type")!r} is not "worker"; {_HELP}')
    index = task.get("index")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(workers):
        raise UserError(f"TF_CONFIG: task index {index!r} is not a worker number 0..{len(workers) - 1}; {_HELP}")
    return {"workers": workers, "index": index, "is_chief": index == 0}


def cluster():
    """This process's place from ``TF_CONFIG`` (see :func:`parse_tf_config`), or ``None`` when it is unset."""
    text = os.environ.get("TF_CONFIG", "")
    return parse_tf_config(text) if text.strip() else None


def get_strategy():
    """The process's ``tf.distribute`` strategy, created on the first call; ``None`` for a single device.

    Call it before any other TensorFlow op: ``MultiWorkerMirroredStrategy`` configures the runtime's
    collectives, which is refused once the runtime has started.
    """
    global _strategy, _created
    if _created:
        return _strategy
    where = cluster()
    if keras.backend.backend() != "tensorflow":
        if where is not None:
            raise UserError(f"TF_CONFIG is set, but training on several machines needs the tensorflow Keras "
                            f"backend, not {keras.backend.backend()}; unset KERAS_BACKEND or TF_CONFIG")
    else:
        import tensorflow as tf

        if where is not None:
            _strategy = tf.distribute.MultiWorkerMirroredStrategy()
        elif len(tf.config.list_physical_devices("GPU")) > 1:
            _strategy = tf.distribute.MirroredStrategy()
    _created = True
    return _strategy


def num_replicas():
    """Replicas that take part in each step, over all workers (1 without a strategy)."""
    strategy = get_strategy()
    return strategy.num_replicas_in_sync if strategy is not None else 1


def is_chief():
    """Whether this process writes the model folder (worker 0, or the only process)."""
    where = cluster()
    return where is None or where["is_chief"]


def checkpoint_dir(run_dir):
    """Where this process saves its checkpoints: the model folder for the chief, ``worker-<index>/`` in it else."""
    run_dir = Path(run_dir)
    return run_dir if is_chief() else run_dir / f"worker-{cluster()['index']}"


@contextlib.contextmanager
def _worker_errors():
    """Turn a lost worker (collectives aborted, unreachable) into a :class:`UserError` saying how to go on."""
    import tensorflow as tf

    try:
        yield
    except (tf.errors.UnavailableError, tf.errors.CancelledError, tf.errors.DeadlineExceededError) as e:
        lines = [line for line in str(e).splitlines() if line.strip()]
        reason = next((line for line in lines if "aborted" in line or "unhealthy" in line), lines[0] if lines else "")
        raise UserError(f"training stopped: a worker is gone or cannot be reached ({reason.strip()}); start the "
                        "same command again on every machine to resume after the last finished epoch")


#: Default of ``--worker-timeout``: how long a worker waits for all the others to start, in seconds.
WORKER_TIMEOUT_S = 600.0


#: The watchdog of :func:`_startup_deadline`, run as ``python -c`` with the parent's pid, the seconds and the
#: message: it waits on its stdin, which the parent closes (or loses by dying) once the block is over.
_WATCHDOG = """
import os, select, signal, sys
parent, seconds, message = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
if not select.select([sys.stdin], [], [], seconds)[0]:
    print(message, file=sys.stderr, flush=True)
    os.kill(parent, signal.SIGKILL)
"""


@contextlib.contextmanager
def _startup_deadline(seconds):
    """End the process with a clear message if the block has not finished within ``seconds``.

    A worker waits for the others inside the TensorFlow runtime, holding the interpreter lock and with
    SIGTERM caught, without a time limit: one whose peers never start (a typo in TF_CONFIG, a machine not
    started, a closed port) would wait forever, and no Python thread or signal handler could run meanwhile.
    So a small watchdog process prints the message and kills this one (exit status 137, SIGKILL).
    """
    if not seconds:
        yield
        return
    where = cluster()
    others = [w for i, w in enumerate(where["workers"]) if i != where["index"]]
    message = (f"error: not every worker joined within {seconds:g} s (this is worker {where['index']}, waiting "
               f"for {', '.join(others)}); start the same command on every machine of TF_CONFIG, check that "
               f"their ports are reachable from here, or allow more time with --worker-timeout; {_HELP}")
    watchdog = subprocess.Popen([sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(seconds), message],
                                stdin=subprocess.PIPE)
    try:
        yield
    finally:
        watchdog.stdin.close()
        watchdog.wait()


@contextlib.contextmanager
def training_scope(batch_size, epochs_done, worker_timeout=None):
    """The strategy's scope for building, compiling or loading the model (a no-op without a strategy).

    Creates the strategy if needed, then checks, before any variable exists, that the batch splits evenly over
    the replicas and that every worker starts after the same epoch (a worker that cannot see the chief's
    model folder would otherwise start over while the chief resumes, and the two would wait for each other).

    Parameters
    ----------
    batch_size : int
        Global batch of the run.
    epochs_done : int
        Epochs this process's model folder says are done.
    worker_timeout : float, optional
        With ``TF_CONFIG``: seconds to wait for every worker to join (the first collective) before giving up
        with a message (default :data:`WORKER_TIMEOUT_S`); 0 waits forever.
    """
    multi = cluster() is not None
    if worker_timeout is None:
        worker_timeout = WORKER_TIMEOUT_S
    # A worker waits for the others in the strategy's start-up and its first collective: both under a deadline.
    with _startup_deadline(worker_timeout if multi else 0):
        strategy = get_strategy()
        if strategy is None:
            yield
            return
        n = strategy.num_replicas_in_sync
        if batch_size % n:
            raise UserError(f"--batch-size {batch_size} does not split over the {n} replicas (one per GPU, or per "
                            f"machine without one); the global batch must be a multiple of {n}, e.g. "
                            f"{-(-batch_size // n) * n}")
        if multi:
            done = _epochs_done_everywhere(strategy, epochs_done)
    if not multi:
        with strategy.scope():
            yield
        return
    if len(set(done)) > 1:
        raise UserError(f"the workers would start after different epochs ({done} done); every worker "
                        "must see the chief's model folder: use a shared --model path, or copy the chief's "
                        f"folder to the other machines before resuming; {_HELP}")
    # Building the model broadcasts the chief's initial values to the others: a collective too.
    with _worker_errors(), strategy.scope():
        yield


def _epochs_done_everywhere(strategy, epochs_done):
    """Every worker's ``epochs_done``, gathered (the first collective of a run: it waits for all workers)."""
    import tensorflow as tf

    @tf.function  # collectives run eagerly are slow and warn about it
    def gather():
        return strategy.gather(strategy.run(lambda: tf.constant([epochs_done], tf.int64)), axis=0)

    with _worker_errors():
        return gather().numpy().tolist()


def fit(model, train, test, batch_size, test_batch_size, seed, epochs, initial_epoch, callbacks, verbose,
        remade=None, epoch_windows=None):
    """Train with ``tf.data`` inputs, over every replica of the strategy if there is one.

    Without a strategy or with ``MirroredStrategy`` this is ``model.fit``. Under ``MultiWorkerMirroredStrategy``
    Keras 3.15's ``fit`` fails twice (keras-team/keras#20585): it reduces the first batch, a tuple, with
    ``strategy.reduce``, which collective ops refuse, and it averages each step's scalar metrics with
    ``strategy.reduce(MEAN, axis=0)``, which needs an axis. So there the loop is ours (:func:`_fit_multi_worker`),
    with the model's own ``train_step`` and ``test_step``, and the callbacks called as ``fit`` calls them.

    Parameters
    ----------
    model : keras.Model
        Built, compiled (or loaded) inside :func:`training_scope`.
    train, test : tuple of memmap
        ``(x, y)`` of each split (:func:`superres.dataset.open_split`).
    batch_size : int
        Global training batch.
    test_batch_size : int
        Global validation batch, rounded up to a multiple of the replicas.
    seed : int
        Shuffle seed.
    epochs, initial_epoch : int
        Train epochs ``initial_epoch .. epochs - 1`` (0-based), as ``Model.fit``.
    callbacks : list of keras.callbacks.Callback
    verbose : int
    remade : {None, "resampler", "cutoff"}
        Inputs remade from the targets for every batch (``gen``, ``cgen``; :func:`superres.loader.make_tf_dataset`).
    epoch_windows : int, optional
        Training windows per epoch (:func:`superres.loader.epoch_order`); default: the whole split.
    """
    from .loader import make_tf_dataset, steps_per_epoch

    strategy = get_strategy()
    n = num_replicas()
    test_batch_size = -(-test_batch_size // n) * n

    # Both streams are endless: the training one runs on from epoch to epoch (each batch's index holds its
    # epoch), the validation one repeats its single pass. Given the steps, fit keeps each iterator across
    # epochs instead of starting it over, and reads exactly one epoch or one validation pass at a time.
    def train_data(num_workers=1, worker_index=0):
        return make_tf_dataset(*train, batch_size, shuffle=True, seed=seed, first_epoch=initial_epoch, repeat=True,
                               num_replicas=n, num_workers=num_workers, worker_index=worker_index, remade=remade,
                               epoch_windows=epoch_windows)

    def test_data(num_workers=1, worker_index=0):
        return make_tf_dataset(*test, test_batch_size, seed=seed, repeat=True, num_replicas=n,
                               num_workers=num_workers, worker_index=worker_index, remade=remade)

    steps = steps_per_epoch(epoch_windows or len(train[0]), batch_size, n)
    val_steps = steps_per_epoch(len(test[0]), test_batch_size, n)
    if strategy is None:
        train_ds, test_ds = train_data(), test_data()
    else:
        # Called once per worker with its place (input_pipeline_id); they give per-replica batches.
        train_ds = strategy.distribute_datasets_from_function(
            lambda ctx: train_data(ctx.num_input_pipelines, ctx.input_pipeline_id))
        test_ds = strategy.distribute_datasets_from_function(
            lambda ctx: test_data(ctx.num_input_pipelines, ctx.input_pipeline_id))
    if cluster() is None:
        model.fit(train_ds, validation_data=test_ds, epochs=epochs, initial_epoch=initial_epoch,
                  steps_per_epoch=steps, validation_steps=val_steps, shuffle=False, callbacks=callbacks,
                  verbose=verbose)
    else:
        with _worker_errors():
            _fit_multi_worker(model, strategy, train_ds, test_ds, test_data().element_spec, epochs, initial_epoch,
                              steps, val_steps, callbacks, verbose)


def _fit_multi_worker(model, strategy, train, test, spec, epochs, initial_epoch, steps, val_steps, callbacks,
                      verbose):
    """``Model.fit`` for ``MultiWorkerMirroredStrategy``: the same steps, metrics and callbacks.

    Each step runs ``model.train_step`` on every replica (its optimizer sums the gradients over all replicas;
    the loss is already scaled by 1 / replicas). The metrics are read once per epoch outside the replicas,
    which sums their totals and counts over all workers: the logged loss is the mean over every window.
    """
    import tensorflow as tf

    with strategy.scope():
        # What fit does first: create the optimizer's and the compiled metrics' variables, mirrored, before a
        # step is traced (creating them inside a replica's step is not allowed). Keras has no public call for it.
        model._symbolic_build(data_batch=spec)

    @tf.function
    def train_step(iterator):
        strategy.run(model.train_step, args=(next(iterator),))

    @tf.function
    def test_step(iterator):
        strategy.run(model.test_step, args=(next(iterator),))

    @tf.function
    def results():
        return model.get_metrics_result()

    def read():
        return {k: float(v) for k, v in results().items()}

    callbacks = keras.callbacks.CallbackList(callbacks, add_history=True, add_progbar=verbose != 0, model=model,
                                             verbose=verbose, epochs=epochs, steps=steps)
    train_it, test_it = iter(train), iter(test)
    logs = {}
    callbacks.on_train_begin()
    for epoch in range(initial_epoch, epochs):
        model.reset_metrics()
        callbacks.on_epoch_begin(epoch)
        for step in range(steps):
            callbacks.on_train_batch_begin(step)
            train_step(train_it)
            callbacks.on_train_batch_end(step)
        logs = read()
        model.reset_metrics()
        for _ in range(val_steps):
            test_step(test_it)
        logs.update({f"val_{k}": v for k, v in read().items()})
        callbacks.on_epoch_end(epoch, logs)
        if model.stop_training:  # a diverged loss, the same on every worker: all stop after this epoch
            break
    model.optimizer.finalize_variable_values(model.trainable_weights)
    callbacks.on_train_end(logs)
