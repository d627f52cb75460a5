"""Batches for Keras from the memory-mapped dataset arrays, never loading a split whole.

:class:`WindowBatches` (a ``keras.utils.PyDataset``) works with every Keras backend; :func:`make_tf_dataset`
is the ``tf.data`` pipeline used with the TensorFlow backend, with prefetching and sharding across the workers of
a :mod:`tf.distribute <superres.distribute>` strategy. Both take the window order of each epoch from
:func:`epoch_order`, so they give the same batches.
"""

import math
import threading

import numpy as np
import keras


def epoch_order(n, seed, epoch, shuffle=True, size=None):
    """The window order of one epoch, which depends only on ``seed``, ``epoch`` and ``size``.

    A resumed run therefore sees the same batches as an uninterrupted one, whatever the loader. The windows
    are drawn in passes, each a permutation of the split seeded by ``(seed, pass)``; an epoch is the next
    ``size`` windows of that stream. With the default ``size`` (one pass), epoch ``e`` is pass ``e``. A shorter
    epoch (``--epoch-windows``: a long run checkpoints and is scored more often) takes part of a pass, and the
    next epoch goes on where it stopped.

    Parameters
    ----------
    n : int
        Windows in the split.
    seed, epoch : int
        ``epoch`` is 0-based.
    shuffle : bool
        ``False``: every pass is ``0, 1, ..., n - 1``.
    size : int, optional
        Windows per epoch (default ``n``); may exceed ``n``.

    Returns
    -------
    ndarray of int64, shape (size,)
    """
    size = n if size is None else int(size)
    if n < 1 or size < 1:
        raise ValueError(f"{n} windows, {size} per epoch: both must be at least 1")
    p, offset = divmod(epoch * size, n)
    parts = []
    while size > 0:
        order = np.random.default_rng([seed, p]).permutation(n) if shuffle else np.arange(n)
        parts.append(order[offset:offset + size])
        size -= len(parts[-1])
        p, offset = p + 1, 0
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def read_rows(x, y, idx):
    """One batch from the memmaps: the inputs in their stored dtype, the targets as float32 in [-1, 1).

    Parameters
    ----------
    x, y : array-like
        As :class:`WindowBatches` takes them.
    idx : ndarray of int
        Windows of the batch, in any order.

    Returns
    -------
    xb : ndarray, shape (len(idx), ...) -- ``x``'s rows in ascending window order
    yb : ndarray of float32, shape (len(idx), window, 1)
    """
    # Sorted indices read the memmap front to back within a batch.
    idx = np.sort(idx)
    return np.asarray(x[idx]), np.asarray(y[idx], dtype=np.float32)[..., None] / 32768.0


class WindowBatches(keras.utils.PyDataset):
    """Batches of (inputs in their stored dtype, samples as float32 in [-1, 1)) from memmapped arrays.

    The inputs are not converted: the models cast them in their first layer (:func:`superres.models.input_layers`).

    Parameters
    ----------
    x : array-like of uint8, shape (windows, window, 16), or of int16, shape (windows, window)
    y : array-like of int16, shape (windows, window)
    batch_size : int
    shuffle : bool
        Reshuffle window order every epoch (seeded; the order for epoch ``e`` depends only on ``seed`` and
        ``e``, so a resumed run sees the same batches as an uninterrupted one).
    seed : int
    epoch_windows : int, optional
        Windows per epoch (:func:`epoch_order`'s ``size``); default: the whole split.
    """

    def __init__(self, x, y, batch_size=64, shuffle=False, seed=0, epoch_windows=None, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y = x, y
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = seed
        self.size = int(epoch_windows or len(x))
        self.set_epoch(0)

    def set_epoch(self, epoch):
        """Choose the window order of epoch ``epoch`` (0-based), the next epoch Keras begins; each one after it
        moves on by one."""
        self._use(epoch)
        self.upcoming = epoch

    def _use(self, epoch):
        self.epoch = epoch
        self.order = epoch_order(len(self.x), self.seed, epoch, self.shuffle, self.size)

    def on_epoch_begin(self):
        # At the start of each epoch, not at the end of the one before: Keras's fit also calls on_epoch_end once
        # before the first epoch (EpochIterator.reset), which would start every run one epoch ahead -- ahead of
        # the tf.data stream of several workers (superres.loader.make_tf_dataset), which numbers its epochs.
        self._use(self.upcoming)
        self.upcoming += 1

    def __len__(self):
        return math.ceil(self.size / self.batch_size)

    def __getitem__(self, i):
        return read_rows(self.x, self.y, self.order[i * self.batch_size:(i + 1) * self.batch_size])


def steps_per_epoch(n, batch_size, num_replicas=1):
    """Global batches per epoch of :func:`make_tf_dataset`.

    The last, partial batch is split among the replicas in parts that differ by at most one window (whose
    gradients are then averaged with equal weights: a negligible difference from one process). If it has fewer
    windows than there are replicas it is left out (at most ``num_replicas - 1`` windows of an epoch) rather
    than give a replica an empty batch, which not every kernel accepts.
    """
    steps = math.ceil(n / batch_size)
    if num_replicas > 1 and 0 < n % batch_size < num_replicas:
        steps -= 1
    return steps


class _ReplicaRows:
    """Reads one replica's part of one global batch: ``k`` numbers (epoch, step, replica) in that order.

    Global batch ``i`` of epoch ``e`` is ``epoch_order(...)[i * batch_size:(i + 1) * batch_size]``, exactly the
    batch :class:`WindowBatches` gives, split into ``num_replicas`` consecutive parts as ``np.array_split``
    would (equal parts for a full batch).
    """

    def __init__(self, x, y, batch_size, num_replicas, shuffle, seed, size=None):
        self.x, self.y = x, y
        self.batch_size, self.num_replicas = batch_size, num_replicas
        self.size = int(size or len(x))
        self.steps = steps_per_epoch(self.size, batch_size, num_replicas)
        self.shuffle, self.seed = shuffle, seed
        self._orders = {}
        # tf.data may call us from several threads; compute each epoch's permutation once.
        self._lock = threading.Lock()

    def order(self, epoch):
        with self._lock:
            if epoch not in self._orders:
                # Keep this epoch's and the previous one's: prefetching runs ahead across the boundary.
                for old in [e for e in self._orders if e < epoch - 1]:
                    del self._orders[old]
                self._orders[epoch] = epoch_order(len(self.x), self.seed, epoch, self.shuffle, self.size)
            return self._orders[epoch]

    def rows(self, k):
        """The epoch and the window indices of part ``k``."""
        epoch, rest = divmod(int(k), self.steps * self.num_replicas)
        step, replica = divmod(rest, self.num_replicas)
        lo = step * self.batch_size
        q, r = divmod(min(self.batch_size, self.size - lo), self.num_replicas)
        lo += replica * q + min(replica, r)
        hi = lo + q + (replica < r)
        return epoch, self.order(epoch)[lo:hi]

    def __call__(self, k):
        return read_rows(self.x, self.y, self.rows(k)[1])


class _RemadeReplicaRows(_ReplicaRows):
    """:class:`_ReplicaRows` whose inputs are remade from the targets (:func:`remade_rows`): flat outputs for
    ``tf.numpy_function`` (x, [cutoff,] y)."""

    def __init__(self, y, batch_size, num_replicas, shuffle, seed, fixed, any_cutoff, size=None):
        super().__init__(y, y, batch_size, num_replicas, shuffle, seed, size)
        self.fixed, self.any_cutoff = fixed, any_cutoff

    def __call__(self, k):
        epoch, idx = self.rows(k)
        x, y = remade_rows(self.y, idx, self.seed, 0 if self.fixed else epoch + 1, self.any_cutoff)
        return (*x, y) if self.any_cutoff else (x, y)


def make_tf_dataset(x, y, batch_size, shuffle=False, seed=0, first_epoch=0, repeat=False, num_replicas=1,
                    num_workers=1, worker_index=0, remade=None, epoch_windows=None):
    """A ``tf.data`` pipeline of the same batches as :class:`WindowBatches`, read from the memmaps as needed.

    An index dataset numbers the (epoch, step, replica) parts of the global batches; it is sharded by worker
    first, so a worker reads only the rows of its own replicas, and each part is gathered from the memmaps
    (sorted indices) in a ``tf.numpy_function``, then prefetched. Nothing loads a split whole.

    Parameters
    ----------
    x : array-like of uint8, shape (windows, window, 16), or of int16, shape (windows, window)
    y : array-like of int16, shape (windows, window)
    batch_size : int
        Global batch: windows per step over all replicas; each replica gets ``batch_size / num_replicas``.
    shuffle : bool
        Window order of epoch ``e`` from :func:`epoch_order` (``seed``, ``e``), as :meth:`WindowBatches.set_epoch`.
    seed : int
    first_epoch : int
        The epoch the stream starts at (0-based; a resumed run starts after its last finished epoch).
    repeat : bool
        ``True``: an endless stream of epochs ``first_epoch, first_epoch + 1, ...`` (pass
        :func:`steps_per_epoch` to ``Model.fit``; the iterator then carries on across epochs instead of
        restarting). ``False``: epoch ``first_epoch`` once.
    num_replicas : int
        Replicas in sync over all workers (``strategy.num_replicas_in_sync``); must divide ``batch_size``.
    num_workers, worker_index : int
        This process's place among the workers (``tf.distribute.InputContext``).
    remade : {None, "resampler", "cutoff"}
        Remake the inputs from the targets as :class:`RemadeBatches` does (``gen``: a random resampler;
        ``cgen``: a random cutoff, the elements then ``((x, cutoff), y)``); ``x`` is not read. Validation
        streams (``shuffle`` False) remake the same inputs every epoch.
    epoch_windows : int, optional
        Windows per epoch, as :class:`WindowBatches` takes them (pass the same to :func:`steps_per_epoch`).

    Returns
    -------
    tf.data.Dataset
        Elements ``(x, y)``: ``x`` in its stored dtype, ``y`` float32 of shape (batch, window, 1) in [-1, 1);
        one element per local replica and step, in the order ``tf.distribute`` hands them to the replicas.
    """
    import tensorflow as tf  # only here: the rest of the package stays backend-agnostic

    if batch_size % num_replicas or num_replicas % num_workers or not 0 <= worker_index < num_workers:
        raise ValueError(f"batch {batch_size}, {num_replicas} replicas, worker {worker_index} of {num_workers}: "
                         "the batch must split evenly over the replicas, and the replicas over the workers")
    if remade:
        rows = _RemadeReplicaRows(y, int(batch_size), num_replicas, shuffle, seed, not shuffle, remade == "cutoff",
                                  epoch_windows)
    else:
        rows = _ReplicaRows(x, y, int(batch_size), num_replicas, shuffle, seed, epoch_windows)
    if rows.steps == 0:
        raise ValueError(f"{rows.size} windows per epoch are too few for {num_replicas} replicas")
    start = first_epoch * rows.steps * num_replicas
    stop = start + rows.steps * num_replicas
    index = tf.data.Dataset.counter(start) if repeat else tf.data.Dataset.range(start, stop)
    # num_replicas is a multiple of num_workers, so worker w gets the parts w, w + W, ... of every step.
    index = index.shard(num_workers, worker_index)

    def read(k):
        if remade == "cutoff":
            xb, cb, yb = tf.numpy_function(rows, [k], (tf.float32, tf.float32, tf.float32), stateful=False)
            xb.set_shape((None, y.shape[1]))
            cb.set_shape((None, 1))
            yb.set_shape((None, y.shape[1], 2))
            return (xb, cb), yb
        xb, yb = tf.numpy_function(rows, [k], (tf.float32 if remade else tf.as_dtype(x.dtype), tf.float32),
                                   stateful=False)
        xb.set_shape((None, *(y.shape[1:] if remade else x.shape[1:])))
        yb.set_shape((None, y.shape[1], 1))
        return xb, yb

    ds = index.map(read, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    # Sharded by hand above; tf.distribute must not shard (or copy) it again.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return ds.with_options(options)


class RemadeBatches(WindowBatches):
    """Batches whose inputs are remade from the targets by a random resampler (:mod:`superres.degrade`).

    The dataset's stored inputs come from one resampler; these come from a different, randomly chosen one for
    every window and epoch, so the network learns the top octave whatever made the user's 22.05 kHz file.
    Window order per epoch as :class:`WindowBatches`.

    Parameters
    ----------
    y : array-like of int16, shape (windows, window)
        The original 44.1 kHz windows.
    batch_size : int
    shuffle : bool
    seed : int
    fixed : bool
        The same inputs every epoch (validation): window ``i``'s resampler depends on ``seed`` and ``i`` only.

    any_cutoff : bool
        Cut every window's band at a random cutoff instead (:func:`superres.degrade.remade_any`, ``cgen``).
    epoch_windows : int, optional
        Windows per epoch, as :class:`WindowBatches`.

    Items: ``x`` float32 (batch, window), the remade input; ``y`` float32 (batch, window, 1) in [-1, 1). With
    ``any_cutoff``: ``x`` is (input, cutoff (batch, 1) Hz) and ``y`` (batch, window, 2), the cutoff beside each
    sample.
    """

    def __init__(self, y, batch_size=16, shuffle=False, seed=0, fixed=False, any_cutoff=False, epoch_windows=None,
                 **kwargs):
        self.fixed, self.any_cutoff = fixed, any_cutoff
        super().__init__(y, y, batch_size, shuffle, seed, epoch_windows, **kwargs)

    def __getitem__(self, i):
        return remade_rows(self.y, self.order[i * self.batch_size:(i + 1) * self.batch_size], self.seed,
                           0 if self.fixed else self.epoch + 1, self.any_cutoff)


def remade_rows(y, idx, seed, draw, any_cutoff=False):
    """One batch of remade inputs and their targets, as :class:`RemadeBatches` gives it.

    Window ``j``'s input is drawn with the generator seeded by ``(seed, draw, j)``: ``draw`` is the epoch + 1
    for training and 0 for validation (the same inputs every epoch), so one process and several workers remake
    exactly the same batches.

    Returns
    -------
    ``(x, y)`` or, with ``any_cutoff``, ``((x, cutoff), y)``: x float32 (n, window), cutoff float32 (n, 1) Hz,
    y float32 (n, window, 1), or (n, window, 2) with the cutoff beside each sample.
    """
    from .degrade import remade_any, remade_input

    idx = np.sort(idx)
    yb = np.asarray(y[idx], dtype=np.float32) / 32768.0
    rngs = [np.random.default_rng([seed, draw, int(j)]) for j in idx]
    if not any_cutoff:
        return np.stack([remade_input(row, r) for row, r in zip(yb.astype(np.float64), rngs)]), yb[..., None]
    made = [remade_any(row, r) for row, r in zip(yb.astype(np.float64), rngs)]
    x = np.stack([m[0] for m in made])
    cutoff = np.array([[m[1]] for m in made], np.float32)
    # The cutoff rides with the targets too: the loss scores the band above each example's own.
    return (x, cutoff), np.stack([yb, np.broadcast_to(cutoff, yb.shape)], -1)
