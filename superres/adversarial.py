"""Adversarial fine-tune of the ``gen`` and ``cgen`` generators: least-squares GAN with feature matching.

The generator keeps its spectral loss (:class:`superres.losses.TopBandLoss`; ``cgen``'s
:class:`~superres.losses.CutoffBandLoss`, whose targets carry each example's cutoff beside the audio) and
adds, with the weights of its config, the least-squares adversarial term of the top-band discriminator
(:func:`superres.models.discriminators.build_discriminator`) and the L1 distance of the discriminator's
feature maps between the original and the output (feature matching, as in MelGAN and HiFi-GAN). The
spectral loss is what makes the band's level and envelope right; the adversarial terms reward fine
structure that is plausible in detail rather than the average of the possible ones.

Checkpoints: the generator is saved as the model folder's ``last.keras`` / ``best.keras`` (what prediction
loads), the discriminator's weights and both optimizers' states beside it in ``last-adversarial.npz``.

The training step uses automatic differentiation of two networks with two optimizers, which Keras 3 leaves
to each backend: it is written for TensorFlow (the project's training backend) and PyTorch.
"""

import io
from pathlib import Path

import keras
import numpy as np
from keras import ops

from .errors import UserError

#: File beside ``last.keras`` with the discriminator and the optimizers' states.
ADVERSARIAL_STATE = "last-adversarial.npz"


def _replicas():
    """Replicas a step runs on under ``tf.distribute`` (1 outside it, and on other backends)."""
    if keras.backend.backend() != "tensorflow":
        return 1
    import tensorflow as tf

    return tf.distribute.get_strategy().num_replicas_in_sync


def _per_resolution(outputs, per):
    return [(outputs[i:i + per - 1], outputs[i + per - 1]) for i in range(0, len(outputs), per)]


def discriminator_loss(real, fake, per):
    """Least-squares: ``mean((1 - D(real))^2) + mean(D(fake)^2)``, summed over resolutions."""
    return sum(ops.mean((1.0 - r) ** 2) + ops.mean(f ** 2)
               for (_, r), (_, f) in zip(_per_resolution(real, per), _per_resolution(fake, per)))


def generator_adversarial_loss(fake, per):
    """Least-squares: ``mean((1 - D(fake))^2)``, summed over resolutions."""
    return sum(ops.mean((1.0 - f) ** 2) for _, f in _per_resolution(fake, per))


def feature_matching_loss(real, fake, per):
    """Mean L1 distance of the discriminator's hidden feature maps, real against generated."""
    pairs = [(r, f) for (rf, _), (ff, _) in zip(_per_resolution(real, per), _per_resolution(fake, per))
             for r, f in zip(rf, ff)]
    return sum(ops.mean(ops.abs(ops.stop_gradient(r) - f)) for r, f in pairs) / len(pairs)


class AdversarialTrainer(keras.Model):
    """Trains ``generator`` against ``discriminator``; ``fit`` / ``evaluate`` logs ``loss`` (the generator's
    spectral loss, comparable with a run without the adversarial terms), ``g_adv``, ``fm``, ``d_loss``, ``mae``.

    Parameters
    ----------
    generator, discriminator : keras.Model
    spectral_loss : keras.losses.Loss
    adv_weight, fm_weight : float
    per_resolution : int
        Discriminator outputs per resolution (:data:`superres.models.discriminators.LAYERS_PER_RESOLUTION`).
    segment : int, optional
        Samples of each example the discriminator judges (None: all of them): the same ``segment`` samples of
        the original and of the output, from an offset that moves with every step (:meth:`_view`).
        The spectral loss sees the whole example.
    """

    def __init__(self, generator, discriminator, spectral_loss, adv_weight, fm_weight, per_resolution, segment=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.generator, self.discriminator = generator, discriminator
        self.spectral_loss, self.adv_weight, self.fm_weight = spectral_loss, adv_weight, fm_weight
        self.per, self.segment = per_resolution, segment
        self.trackers = {k: keras.metrics.Mean(name=k) for k in ("loss", "g_adv", "fm", "d_loss", "mae")}

    def compile(self, g_optimizer, d_optimizer):
        super().compile(optimizer=g_optimizer)  # ``optimizer``: the generator's, as the checkpointer logs it
        self.d_optimizer = d_optimizer

    @property
    def metrics(self):
        return list(self.trackers.values())

    def call(self, x, training=False):
        return self.generator(x, training=training)

    def build(self, input_shape):
        if not self.generator.built:
            self.generator.build(input_shape)
        self.built = True

    #: Step between two successive offsets of the discriminator's segment, samples: a prime, so that the
    #: offsets of successive steps spread over every position of the window.
    SEGMENT_STRIDE = 4099

    def _view(self, audio, step):
        """What the discriminator judges of (batch, samples) ``audio`` in the generator's step ``step``: the
        ``segment`` samples from ``step * SEGMENT_STRIDE`` modulo the positions there are. Derived from the
        optimizer's step count, the offset needs no random state of its own, is the same on every replica and
        for the original and the output, and a resumed run goes on where it stopped."""
        if self.segment is None:
            return audio
        start = ops.cast(ops.mod(ops.cast(step, "int64") * self.SEGMENT_STRIDE, audio.shape[1] - self.segment + 1),
                         "int32")
        return ops.take(audio, start + ops.arange(self.segment, dtype="int32"), axis=1)

    def _generator_losses(self, x, y, step):
        """Generator's total loss and its parts; discriminator's loss on the same output."""
        fake = self.generator(x, training=True)
        target = self._view(y[..., 0], step)
        real_out = self.discriminator(target, training=True)
        fake_out = self.discriminator(self._view(ops.squeeze(fake, -1), step), training=True)
        spectral = ops.mean(self.spectral_loss(y, fake))
        adv = generator_adversarial_loss(fake_out, self.per)
        fm = feature_matching_loss(real_out, fake_out, self.per)
        return fake, spectral, adv, fm

    def _track(self, y, fake, spectral, adv, fm, d_loss):
        for k, v in (("loss", spectral), ("g_adv", adv), ("fm", fm), ("d_loss", d_loss),
                     ("mae", ops.mean(ops.abs(y[..., :1] - fake)))):
            self.trackers[k].update_state(v)
        return {k: t.result() for k, t in self.trackers.items()}

    def train_step(self, data):
        backend = keras.backend.backend()
        if backend == "tensorflow":
            return self._train_step_tf(data)
        if backend == "torch":
            return self._train_step_torch(data)
        raise UserError(f"the adversarial fine-tune runs on the tensorflow or torch backend, not {backend}")

    def _d_loss(self, y, fake, step):
        real_out = self.discriminator(self._view(y[..., 0], step), training=True)
        fake_out = self.discriminator(self._view(ops.squeeze(ops.stop_gradient(fake), -1), step), training=True)
        return discriminator_loss(real_out, fake_out, self.per)

    def _train_step_tf(self, data):
        import tensorflow as tf  # the training step only: the networks themselves are backend-agnostic

        x, y = data
        # Under tf.distribute the optimizers sum the replicas' gradients: each replica's losses count 1 / R. A
        # Keras loss (the spectral one) scales itself so; the adversarial terms are scaled here, and the tracked
        # figures are the unscaled ones, as one process reports them.
        replicas = _replicas()
        g_vars, d_vars = self.generator.trainable_variables, self.discriminator.trainable_variables
        step = self.optimizer.iterations + 0  # a copy, read before the generator's step counts this one
        with tf.GradientTape() as tape:
            fake, spectral, adv, fm = self._generator_losses(x, y, step)
            total = spectral + (self.adv_weight * adv + self.fm_weight * fm) / replicas
        self.optimizer.apply(tape.gradient(total, g_vars), g_vars)
        with tf.GradientTape() as tape:
            d_loss = self._d_loss(y, fake, step)
            scaled = d_loss / replicas
        self.d_optimizer.apply(tape.gradient(scaled, d_vars), d_vars)
        return self._track(y, fake, spectral * replicas, adv, fm, d_loss)

    def _train_step_torch(self, data):
        import torch

        x, y = data
        g_vars, d_vars = self.generator.trainable_variables, self.discriminator.trainable_variables
        step = self.optimizer.iterations + 0
        self.zero_grad()
        fake, spectral, adv, fm = self._generator_losses(x, y, step)
        total = spectral + self.adv_weight * adv + self.fm_weight * fm
        total.backward()
        with torch.no_grad():
            self.optimizer.apply([v.value.grad for v in g_vars], g_vars)
        self.zero_grad()
        d_loss = self._d_loss(y, fake, step)
        d_loss.backward()
        with torch.no_grad():
            self.d_optimizer.apply([v.value.grad for v in d_vars], d_vars)
        return self._track(y, fake, spectral, adv, fm, d_loss)

    def test_step(self, data):
        x, y = data
        fake = self.generator(x, training=False)
        spectral = ops.mean(self.spectral_loss(y, fake)) * _replicas()  # a Keras loss scales itself by 1 / R
        self.trackers["loss"].update_state(spectral)
        self.trackers["mae"].update_state(ops.mean(ops.abs(y[..., :1] - fake)))
        return {"loss": self.trackers["loss"].result(), "mae": self.trackers["mae"].result()}

    # ---------------------------------------------------------------------------------------- checkpoints

    def save(self, path, **kwargs):
        """Save the generator (what prediction loads) to ``path``; :meth:`save_state` keeps the rest."""
        self.generator.save(path, **kwargs)

    def _state_arrays(self):
        arrays = {f"d{i}": np.asarray(keras.ops.convert_to_numpy(w)) for i, w in enumerate(self.discriminator.weights)}
        for name, opt in (("g_opt", self.optimizer), ("d_opt", self.d_optimizer)):
            for i, v in enumerate(opt.variables):
                arrays[f"{name}{i}"] = np.asarray(keras.ops.convert_to_numpy(v))
        return arrays

    def save_state(self, path):
        """Write the discriminator's weights and both optimizers' states to ``path`` (.npz), atomically."""
        from .audio import atomic_output

        buf = io.BytesIO()
        np.savez(buf, **self._state_arrays())
        with atomic_output(path) as tmp:
            Path(tmp).write_bytes(buf.getvalue())

    def build_optimizers(self):
        """Create the optimizers' variables (before :meth:`restore_state`)."""
        self.optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)

    def restore_state(self, path):
        """Read what :meth:`save_state` wrote; refuse a file of another network."""
        with np.load(path) as f:
            saved = dict(f)
        mine = self._state_arrays()
        if set(saved) != set(mine) or any(saved[k].shape != mine[k].shape for k in mine):
            odd = sorted(set(saved) ^ set(mine)) or [k for k in mine if saved[k].shape != mine[k].shape]
            raise UserError(f"{path}: does not fit this run's discriminator and optimizers ({len(saved)} arrays "
                            f"saved, {len(mine)} here; first mismatch: {odd[0]}); delete the run folder to start over")
        for i, w in enumerate(self.discriminator.weights):
            w.assign(saved[f"d{i}"])
        for name, opt in (("g_opt", self.optimizer), ("d_opt", self.d_optimizer)):
            for i, v in enumerate(opt.variables):
                v.assign(saved[f"{name}{i}"])


def make_trainer(generator, config):
    """An :class:`AdversarialTrainer` for a ``gen`` or ``cgen`` config with ``adv_weight`` > 0, compiled.

    ``cgen``'s discriminator sees the band from its lowest cutoff's merge zone up: below each example's own
    cutoff the output is the input, which differs from the original only in the filter's roll-off.
    """
    backend = keras.backend.backend()
    if backend not in ("tensorflow", "torch"):  # refused before anything is written
        raise UserError(f"--adv-weight: the adversarial fine-tune runs on the tensorflow or torch backend, not "
                        f"{backend} (KERAS_BACKEND)")
    from .archs import architecture, disc_view
    from .losses import make_loss
    from .models import make_optimizer
    from .models.discriminators import DISC_LOW_HZ, LAYERS_PER_RESOLUTION, build_discriminator

    low_hz = DISC_LOW_HZ
    if architecture(config).any_cutoff:
        from . import bandplan

        low_hz = bandplan.ANY_LO * bandplan.BIN_HZ
    view = disc_view(config, config["window"])
    disc = build_discriminator(config["disc_channels"], window=view, low_hz=low_hz)
    trainer = AdversarialTrainer(generator, disc, make_loss(config), config["adv_weight"], config["fm_weight"],
                                 LAYERS_PER_RESOLUTION, segment=view if view < config["window"] else None,
                                 name="adversarial")
    trainer.compile(make_optimizer(config["lr"], config["decay"], "adam"),
                    make_optimizer(config["lr"], config["decay"], "adam"))
    # Now, each on its own network: left to fit, PyTorch's backend builds the first one on every trainable
    # variable of the trainer, the discriminator's too, and the saved state would not fit a resumed run.
    trainer.build_optimizers()
    return trainer
