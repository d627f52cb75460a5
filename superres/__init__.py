"""Audio super-resolution: restore the band a resampler or a codec took from music, with a neural network.

In Python::

    import superres
    audio_44k, rate = superres.upsample(audio_22k, 22050)          # numpy in, numpy out
    superres.upsample_file("song.flac", "song_44k.wav")            # file in, file out

One module per concern. The inference core (numpy, soundfile, soxr, PyAV, ONNX Runtime):

- :mod:`superres.audio` -- reading, writing (atomically), resampling, naive upsampling.
- :mod:`superres.decode` -- M4A/AAC, ALAC, Opus, WMA and video soundtracks through PyAV; encoding them.
- :mod:`superres.bandwidth` -- each file's real bandwidth (the wall of a resampler's or a codec's lowpass).
- :mod:`superres.dsp` -- the one STFT and overlap-add, FIR filters, running minima (numpy).
- :mod:`superres.bandplan` -- the generators' STFT bins and phase-coherent copy-up.
- :mod:`superres.splice` -- the input's band below the cutoff and the generated band above, joined.
- :mod:`superres.manifest` -- the small JSON manifests each stage writes and the next one checks.
- :mod:`superres.archs` -- what each architecture is (settings, dataset, prediction window).
- :mod:`superres.runs` -- model folders: configs, checkpoints, history; :class:`~superres.runs.ModelFolder`.
- :mod:`superres.runtime` -- the networks on ONNX Runtime, and their export from Keras.
- :mod:`superres.genstream`, :mod:`superres.sbrcore`, :mod:`superres.windows` -- each architecture's stream.
- :mod:`superres.predictor` -- a model folder's network ready to upsample.
- :mod:`superres.predict` -- one file, in chunks, in bounded memory; :mod:`superres.batch` -- files, folders.
- :mod:`superres.api` -- :func:`upsample` and :func:`upsample_file` for notebooks and programs.
- :mod:`superres.scan`, :mod:`superres.dataset`, :mod:`superres.encoding` -- stages 10 and 20, the bits.
- :mod:`superres.metrics`, :mod:`superres.evaluate` -- error measures, the evaluation table.
- :mod:`superres.commands` -- the command line (``superres``, and the numbered scripts).

The training layer (``pip install "superres[train]"``: Keras and the rest), imported only to train:

- :mod:`superres.models` -- network architectures (backend-agnostic Keras 3), one module each.
- :mod:`superres.losses`, :mod:`superres.adversarial` -- training losses; the GAN fine-tune.
- :mod:`superres.loader`, :mod:`superres.distribute` -- batches; several GPUs or machines.
- :mod:`superres.train` -- training with resumable checkpoints; :mod:`superres.degrade` -- random inputs.
- :mod:`superres.report`, :mod:`superres.bench` -- plots and the listening report; the speed benchmark.
"""

__version__ = "0.2.0"

from .api import upsample, upsample_file  # noqa: E402,F401
