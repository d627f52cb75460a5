"""Audio super-resolution: restore the 11-22 kHz band of 22.05 kHz music with a neural network.

One module per concern:

- :mod:`superres.audio` -- reading, writing (atomically), resampling, naive upsampling.
- :mod:`superres.encoding` -- 16-bit binary encoding of samples, windowing and unwindowing.
- :mod:`superres.manifest` -- the small JSON manifests each stage writes and the next one checks.
- :mod:`superres.scan` -- stage 10: 44.1 kHz originals to 22.05 kHz copies.
- :mod:`superres.dataset` -- stage 20: windowed train/test arrays on disk, and their loader.
- :mod:`superres.models` -- network architectures (backend-agnostic Keras 3).
- :mod:`superres.train` -- training with resumable checkpoints.
- :mod:`superres.predict` -- chunked, bounded-memory prediction of whole files.
- :mod:`superres.metrics` -- error measures.
- :mod:`superres.evaluate` -- the evaluation table.
"""

__version__ = "0.1.0"
