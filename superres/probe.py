"""A held-out probe of a generator while it trains: what a user would hear from it, scored every epoch.

A spectral validation loss says how close the band is on average; it does not say whether the output sounds
better than its input, and an adversarial fine-tune trades some of it for exactly that. So a ``gen`` or ``cgen``
run may also score, after every epoch, a few songs' validation parts made into the inputs users have
(:data:`PROBE_KINDS`, made as the per-kind table makes them: :mod:`superres.kinds`), restored as ``superres
predict`` restores a file (:func:`superres.predict.predict_file`, the network as it is at that epoch) and
scored against the originals: LSD above the cutoff as a share of the input's, the restored band's energy
against the original's, and ViSQOL's gain over the input where ViSQOL is installed. The figures go into
``history.csv`` and, per kind, ``probe.json``.

The songs are the validation part (the last ``1 - train_fraction``) of the training scan's songs: never
trained on, and not the held-out songs the final tables are made of, so choosing a checkpoint by the probe does
not choose it by the test. They are songs whose validation part holds the whole excerpt, and a resumed run
scores the songs it scored before (:meth:`HeldoutProbe._songs`).
"""

import json
import tempfile
from pathlib import Path

import numpy as np

from .audio import HIGH_RATE

#: The input kinds the probe makes of each song: the generator's own case, a cutoff far below it, a codec.
PROBE_KINDS = ("22.05 kHz", "16 kHz", "MP3 128 kbps")
#: The columns the probe adds to ``history.csv`` (see :meth:`HeldoutProbe.__call__`).
PROBE_FIELDS = ("probe_lsd_ratio", "probe_hf_db", "probe_visqol_gain")
#: Shortest excerpt ViSQOL scores: its audio mode needs about a second and a half of patches.
VISQOL_MIN_SECONDS = 2.0


def visqol_installed():
    """Whether the optional ViSQOL package (``make visqol``) can be imported."""
    try:
        import visqol as _  # noqa: F401
    except ImportError:
        return False
    return True


def probe_score(figures):
    """What ``--select probe`` ranks a run's epochs by (higher is better): ViSQOL's gain over the input minus
    LSD above the cutoff as a share of the input's, from the figures of :meth:`HeldoutProbe.__call__`.

    Neither alone will do: LSD rewards a band of the right average level whatever it sounds like, and a
    perceptual score alone would let the band drift from the original. Equal weights, because a tenth of a MOS
    point and a tenth of the input's LSD are each about what separated ``gen`` from its targets (ViSQOL 3.96
    against 4.1, LSD-HF 0.43 against 0.35 x sinc's). NaN where ViSQOL was not scored.
    """
    return float(figures["probe_visqol_gain"]) - float(figures["probe_lsd_ratio"])


class HeldoutProbe:
    """The inputs of the probe, made once when training starts; calling it scores a network.

    Parameters
    ----------
    config : dict
        The run's model config (its ``scan_dir`` and ``train_fraction`` name the songs).
    run_dir : path-like
        The model folder (``scan_dir`` is relative to it); ``probe.json`` is written there.
    songs : int
        How many songs, spread evenly over the scan's sorted list of those long enough (:meth:`_songs`).
    seconds : float
        The excerpt of each song's validation part scored, from its middle.
    kinds : sequence of str
        Names of :data:`superres.kinds.KINDS`.
    visqol : float or None
        Seconds of each excerpt ViSQOL scores (None: no ViSQOL; ``auto``: the whole excerpt where the optional
        package is installed, else none). Excerpts under :data:`VISQOL_MIN_SECONDS` get none.
    """

    def __init__(self, config, run_dir, songs=4, seconds=8.0, kinds=PROBE_KINDS, visqol="auto"):
        import soundfile as sf

        from .evaluate import songs_from_scan
        from .kinds import KINDS, make_input
        from .runs import model_path

        self.config, self.run_dir, self.kinds = config, Path(run_dir), tuple(kinds)
        if visqol == "auto":
            visqol = 0.0 if visqol_installed() else None
        self.visqol = visqol
        found = songs_from_scan(model_path(run_dir, config, "scan_dir"), config["train_fraction"])
        picked = self._songs(found, songs, seconds)
        self._tmp = tempfile.TemporaryDirectory(prefix="superres-probe-")
        self.inputs = []  # (kind, song name, original float (frames, channels), input path, ViSQOL seconds)
        for i, song in enumerate(picked):
            n = min(int(seconds * HIGH_RATE), song.stop - song.start)
            start = song.start + (song.stop - song.start - n) // 2
            x, _ = sf.read(str(song.reference_path), start=start, stop=start + n, always_2d=True)
            for kind in self.kinds:
                how, ext = KINDS[kind]
                path = Path(self._tmp.name) / f"{i}-{kind.replace(' ', '_')}{ext}"
                make_input(x, path, how)
                scored = self.visqol if n >= VISQOL_MIN_SECONDS * HIGH_RATE else None
                self.inputs.append((kind, song.name, x, path, scored))

    def _songs(self, found, songs, seconds):
        """The songs to score, of the scan's ``found``: those a resumed run scored before (``probe.json``), so
        that its epochs stay comparable, where there are ``songs`` of them; else ``songs`` spread evenly over
        those whose validation part holds the whole excerpt (a sound effect's fraction of a second says little
        of music, and ViSQOL scores none under :data:`VISQOL_MIN_SECONDS`), or, where there are too few such,
        over the ``songs`` longest, in the scan's order."""
        try:
            before = json.loads((self.run_dir / "probe.json").read_text()).get("songs") or []
        except (OSError, ValueError, AttributeError):
            before = []
        kept = [s for s in found if s.name in before]
        if len(before) == songs and len(kept) == songs:
            return kept
        long = [s for s in found if s.stop - s.start >= seconds * HIGH_RATE]
        if len(long) < songs:
            longest = sorted(found, key=lambda s: s.stop - s.start, reverse=True)[:songs]
            long = [s for s in found if s in longest]
        pick = np.unique(np.linspace(0, len(long) - 1, min(songs, len(long))).round().astype(int)) if long else []
        return [long[i] for i in pick]

    def __call__(self, model, epoch):
        """Score the Keras generator ``model`` as it is; return the figures of :data:`PROBE_FIELDS`.

        ``probe_lsd_ratio``: the mean over songs and kinds of LSD above the cutoff, the output's over the input's
        (1: no better than doing nothing; lower is better). ``probe_hf_db``: the mean of the restored band's
        energy against the original's, dB (0 is right; the mean of its absolute values is in ``probe.json``).
        ``probe_visqol_gain``: the mean of ViSQOL of the output minus that of the input (nan without ViSQOL).
        """
        from .audio import read_audio
        from .kinds import score_kind
        from .predict import predict_file
        from .predictor import Predictor

        predictor = Predictor(model, self.config, runtime="keras")
        rows = []
        with tempfile.TemporaryDirectory(prefix="superres-probe-out-") as out:
            for i, (kind, name, x, path, visqol) in enumerate(self.inputs):
                dst = Path(out) / f"{i}.wav"
                entry = predict_file(predictor, path, dst, subtype="FLOAT")
                inp, rate_in = read_audio(path)
                y, rate_out = read_audio(dst)
                row = score_kind(x, inp, y, rate_in, rate_out, entry["cutoff_hz"], visqol)
                rows.append({"kind": kind, "song": name, "done": entry["done"], **row})
        restored = [r for r in rows if r["done"] != "unchanged"]

        def mean(values):
            values = [v for v in values if np.isfinite(v)]
            return float(np.mean(values)) if values else float("nan")

        figures = {"probe_lsd_ratio": mean([r["lsd"] / r["lsd_input"] for r in restored]),
                   "probe_hf_db": mean([r["energy"] for r in restored]),
                   "probe_visqol_gain": mean([r["visqol"] - r["visqol_input"] for r in rows if "visqol" in r])}
        per_kind = {}
        for kind in self.kinds:
            rs = [r for r in restored if r["kind"] == kind]
            per_kind[kind] = {"restored": len(rs), "lsd_ratio": mean([r["lsd"] / r["lsd_input"] for r in rs]),
                              "hf_db": mean([r["energy"] for r in rs]),
                              "hf_abs_db": mean([abs(r["energy"]) for r in rs]),
                              "visqol": mean([r["visqol"] for r in rs if "visqol" in r]),
                              "visqol_input": mean([r["visqol_input"] for r in rs if "visqol" in r])}
        self._record(epoch, figures, per_kind)
        return figures

    def _record(self, epoch, figures, per_kind):
        """Add this epoch's figures to ``probe.json`` (one entry per epoch, replacing a resumed epoch's)."""
        from .manifest import write_json_atomic

        path = self.run_dir / "probe.json"
        try:
            saved = json.loads(path.read_text())
        except (OSError, ValueError):
            saved = {"epochs": []}
        saved["songs"] = sorted({name for _, name, *_ in self.inputs})
        saved["epochs"] = [e for e in saved.get("epochs", []) if e.get("epoch") != epoch]
        saved["epochs"].append({"epoch": epoch, **figures, "kinds": per_kind})
        saved["epochs"].sort(key=lambda e: e["epoch"])
        write_json_atomic(path, _finite(saved))


def _finite(v):
    """``v`` with every float that is not finite as None (JSON has no NaN)."""
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    if isinstance(v, (float, np.floating)):
        return float(v) if np.isfinite(v) else None
    return v
