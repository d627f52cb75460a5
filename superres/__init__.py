"""Audio super-resolution: restore the band a resampler or a codec took from music, with a neural network.

In Python::

    import superres
    audio_44k, rate = superres.upsample(audio_22k, 22050)          # numpy in, numpy out
    superres.upsample_file("song.flac", "song_44k.wav")            # file in, file out

One module per concern:

- :mod:`superres.audio` -- reading, writing (atomically), resampling, naive upsampling.
- :mod:`superres.decode` -- M4A/AAC, ALAC, Opus, WMA and video soundtracks through PyAV; encoding them.
- :mod:`superres.bandwidth` -- each file's real bandwidth (the wall of a resampler's or a codec's lowpass).
- :mod:`superres.splice` -- the input's band below the cutoff and the generated band above, joined.
- :mod:`superres.encoding` -- 16-bit binary encoding of samples, windowing and unwindowing.
- :mod:`superres.manifest` -- the small JSON manifests each stage writes and the next one checks.
- :mod:`superres.scan` -- stage 10: 44.1 kHz originals to 22.05 kHz copies.
- :mod:`superres.dataset` -- stage 20: windowed train/test arrays on disk.
- :mod:`superres.loader` -- batches from the memory-mapped arrays (``PyDataset`` and ``tf.data``).
- :mod:`superres.distribute` -- several GPUs or machines (``tf.distribute`` strategies, per-worker shards).
- :mod:`superres.archs` -- what each architecture is (settings, dataset, prediction window), without Keras.
- :mod:`superres.models` -- network architectures (backend-agnostic Keras 3), one module each: ``bilstm``, ``sbr``;
  ``models.spectral``, the spectral operations they share.
- :mod:`superres.losses` -- training losses (MAE; multi-resolution STFT plus waveform).
- :mod:`superres.runs` -- model folders: configs, settings per architecture, history.
- :mod:`superres.train` -- training with resumable checkpoints.
- :mod:`superres.predict` -- chunked, bounded-memory prediction of whole files.
- :mod:`superres.metrics` -- error measures.
- :mod:`superres.evaluate` -- the evaluation table.
- :mod:`superres.report` -- spectrogram and history plots, the HTML listening report.
- :mod:`superres.bench` -- the speed benchmark.
- :mod:`superres.api` -- :func:`upsample` and :func:`upsample_file` for notebooks and programs.
- :mod:`superres.commands` -- the command line (``superres``, and the numbered scripts).
"""

__version__ = "0.2.0"

from .api import upsample, upsample_file  # noqa: E402,F401
