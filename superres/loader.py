"""Batches for Keras from the memory-mapped dataset arrays, never loading a split whole."""

import math

import numpy as np
import keras


class WindowBatches(keras.utils.PyDataset):
    """Batches of (bits as float32, samples as float32 in [-1, 1)) from memmapped arrays.

    Parameters
    ----------
    x : array-like of uint8, shape (windows, window, 16)
    y : array-like of int16, shape (windows, window)
    batch_size : int
    shuffle : bool
        Reshuffle window order every epoch (seeded; the order for epoch ``e`` depends only on ``seed`` and
        ``e``, so a resumed run sees the same batches as an uninterrupted one).
    seed : int
    """

    def __init__(self, x, y, batch_size=64, shuffle=False, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y = x, y
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = seed
        self.set_epoch(0)

    def set_epoch(self, epoch):
        """Choose the window order of epoch ``epoch`` (0-based); Keras moves on by one after each epoch."""
        self.epoch = epoch
        n = len(self.x)
        self.order = (np.random.default_rng([self.seed, epoch]).permutation(n) if self.shuffle
                      else np.arange(n))

    def on_epoch_end(self):
        self.set_epoch(self.epoch + 1)

    def __len__(self):
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, i):
        # Sorted indices read the memmap front to back within a batch.
        idx = np.sort(self.order[i * self.batch_size:(i + 1) * self.batch_size])
        xb = np.asarray(self.x[idx], dtype=np.float32)
        yb = np.asarray(self.y[idx], dtype=np.float32)[..., None] / 32768.0
        return xb, yb
