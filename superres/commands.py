"""The command line: one parser and one function per stage, behind both the numbered scripts and ``superres``.

``superres scan | dataset | train | predict | eval`` is the installed command (``pip install .``);
``10-scan.py``, ``20-make-dataset.py``, ``rnn-super-resolution.py --train | --predict`` and ``eval.py`` are the
same commands under the pipeline's original names. Every option is checked when it is parsed (see the types
in :mod:`superres.cli`); the work itself is in the package's modules.
"""

import argparse
import json
import sys
from pathlib import Path

from .cli import (HelpFormatter, _option_type, even_int, exit_process, fraction, nonnegative_float, nonnegative_int,
                  nonnegative_seconds, positive_float, positive_int, positive_seconds, quiet_backend, run, seed,
                  wait_seconds)
from .runs import SELECT


def cutoff_hz(text):
    """``--cutoff``: ``auto`` or a frequency in Hz from 1 kHz to 192 kHz."""
    if text == "auto":
        return text
    return _option_type(float, lambda v: 1000 <= v <= 192000, "auto or a frequency in Hz from 1000 to 192000",
                        "")(text)


#: ``--rate``: an output rate the writer takes, Hz.
rate_hz = _option_type(int, lambda v: 8000 <= v <= 384000, "a sample rate in Hz from 8000 to 384000",
                       "A sample rate, Hz.")

#: ``10-scan.py --rate``: the copies' rate, Hz.
low_rate_hz = _option_type(int, lambda v: 8000 <= v <= 44099, "a sample rate in Hz from 8000 to 44099 (below the "
                           "originals' 44100)", "A sample rate, Hz.")

#: ``--gain``: dB within what a 24-bit output can hold either way.
gain_db = _option_type(float, lambda v: -144 <= v <= 144, "a gain in dB between -144 and 144", "A gain in dB.")


def _sbr_bands():
    """``--bands``: equal bands of the sbr band plan's top-octave bins, so a divisor of their number."""
    from .archs import SBR_TOP_BINS

    return _option_type(int, lambda v: 1 <= v <= SBR_TOP_BINS and SBR_TOP_BINS % v == 0,
                        f"a divisor of {SBR_TOP_BINS}, the sbr top octave's STFT bins (1, 2, 4, ..., {SBR_TOP_BINS})",
                        f"A divisor of {SBR_TOP_BINS}.")

SCAN_HELP = ("Stage 10: downsample the 44.1 kHz originals to 22.05 kHz, or to --rate (band-limited, soxr VHQ, "
             "16-bit).")
DATASET_HELP = ("Stage 20: encode the songs as 16-bit binary vectors in windows; first 80% of each song to train, "
                "the rest to test.")
TRAIN_HELP = "Train the super-resolution network (or resume the run in --model)."
PREDICT_HELP = "Upsample 22.05 kHz audio files to 44.1 kHz with a trained network."
EVAL_HELP = """Score the network against the original next to the naive, linear and sinc (soxr) baselines.

Metrics: MAE (16-bit units), SNR (dB), log-spectral distance over the whole band (LSD) and over the
reconstructed band 11.025-22.05 kHz (LSD-HF), HF energy (the energy above 11.025 kHz relative to the
original's, dB), SNR-LF (the SNR below 11.025 kHz, what a model must not damage), band error (the worst
500 Hz band's long-term level from 9 to 20 kHz against the original's, dB) and edge step (the level step
across 11.025 kHz against the original's, dB); ViSQOL with --visqol. Every song is streamed block by block:
memory does not grow with its length. By default each song's test part (the last 20%, never trained on) is
scored; the tables give the mean, the duration-weighted mean and the median over songs."""


def _parser(description, prog=None):
    p = argparse.ArgumentParser(prog=prog, description=description, formatter_class=HelpFormatter)
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


# ---------------------------------------------------------------------------------------------- stage 10

def add_scan_options(p):
    p.add_argument("--input", default="data/original",
                   help="folder of original audio files (WAV, FLAC, OGG, MP3, M4A/ALAC/AAC, Opus, WMA, video "
                        "soundtracks), searched recursively (other rates are resampled to 44.1 kHz first)")
    p.add_argument("--output", default=None,
                   help="folder for the low-rate WAVs and manifest.json (default: data/22k at 22050 Hz, data/15k at "
                        "--rate 15000, ...)")
    p.add_argument("--rate", type=low_rate_hz, default=22050, metavar="HZ",
                   help="rate of the copies (the 15 kHz experiment of the blog's README: --rate 15000); the "
                        "dataset, training, prediction and evaluation follow it")


def scan_main(args):
    from .scan import default_scan_dir, scan

    output = args.output or default_scan_dir(args.rate)
    m, failures = scan(args.input, output, rate=args.rate)
    secs = sum(e["frames_high"] for e in m["files"]) / 44100
    print(f"{len(m['files'])} files, {secs:.1f} s of audio at {args.rate} Hz -> {output}")
    if output != default_scan_dir():
        print(f"next: 20-make-dataset.py --input {output}")
    return _report_failures(failures, "failed and were left out")


def _report_failures(failures, what="failed"):
    if failures:
        print(f"{len(failures)} file(s) {what}:", file=sys.stderr)
        for _, msg in failures:
            print(f"  {msg}", file=sys.stderr)
        return 1
    return 0


# ---------------------------------------------------------------------------------------------- stage 20

def add_dataset_options(p):
    from .dataset import ENCODINGS, INPUTS

    p.add_argument("--input", default="data/22k", help="output folder of 10-scan.py")
    p.add_argument("--output", default="data/dataset", help="folder for the .npy arrays and meta.json")
    p.add_argument("--originals", default=None, metavar="DIR",
                   help="the 44.1 kHz originals 10-scan.py read, for a scan folder moved or copied without them "
                        "(default: where the scan's manifest says)")
    p.add_argument("--window", type=even_int, default=50, help="window length in 44.1 kHz steps (even)")
    p.add_argument("--hop", type=positive_int, default=None,
                   help="steps between windows (default: the window length, no overlap)")
    p.add_argument("--train-fraction", type=fraction, default=0.8,
                   help="share of each song, from its start, used for training")
    p.add_argument("--upsample", choices=INPUTS, default="naive",
                   help="how the 22.05 kHz input is brought to 44.1 kHz before encoding: naive (each sample "
                        "twice, the blog) or sinc (band-limited, soxr VHQ)")
    p.add_argument("--encoding", choices=list(ENCODINGS), default="bits",
                   help="bits: 16-bit binary vectors (the blog); pcm: plain int16 samples")


def dataset_main(args):
    from .dataset import build_dataset

    meta = build_dataset(args.input, args.output, args.window, args.hop, args.train_fraction,
                         input=args.upsample, encoding=args.encoding, originals=args.originals)
    c = meta["counts"]
    print(f"{c['train']} train and {c['test']} test windows of {meta['window']} steps -> {args.output}")


# ---------------------------------------------------------------------------------------------- training

def add_train_options(t):
    from .runs import ARCHS

    t.add_argument("--dataset", default="data/dataset", help="output folder of 20-make-dataset.py")
    t.add_argument("--epochs", type=positive_int, default=10,
                   help="total epochs of the run (a resumed run continues up to this number)")
    t.add_argument("--patience", type=positive_int, default=None, metavar="EPOCHS",
                   help="stop early when no epoch has been better than the best (by --select) for this many epochs "
                        "(default: train every epoch)")
    t.add_argument("--probe", type=nonnegative_int, default=0, metavar="SONGS",
                   help="gen/cgen: after every epoch, restore this many songs' validation parts as 22.05 kHz, 16 kHz "
                        "and MP3 inputs and score them (LSD, band energy, ViSQOL if installed) into history.csv and "
                        "probe.json (default 0: none)")
    t.add_argument("--select", choices=tuple(SELECT), default="val_loss",
                   help="what makes an epoch the best (best.keras, --patience): the lowest validation loss, or the "
                        "highest probe score, ViSQOL's gain minus the LSD ratio (needs --probe and ViSQOL), for an "
                        "adversarial fine-tune, which trades some of the spectral loss for how the band sounds "
                        "(default: val_loss)")
    t.add_argument("--arch", choices=ARCHS, default=None,
                   help="network architecture: bilstm (the blog's; the default), sbr (spectral band "
                        "replication over sinc interpolation), gen (a ConvNeXt generator of the top octave "
                        "over sinc interpolation) or cgen (gen told the input's cutoff: it restores from any "
                        "cutoff from 4 to 20 kHz, its inputs remade for every batch); sbr, gen and cgen need a "
                        "dataset built with --upsample sinc --encoding pcm --window 8192 (or another multiple of "
                        "256)")
    t.add_argument("--units", type=positive_int, default=None, help="bilstm: LSTM units per direction [300]")
    t.add_argument("--dense", type=positive_int, default=None,
                   help="bilstm: width of the two wide dense layers [500]")
    t.add_argument("--dense2", type=positive_int, default=None,
                   help="bilstm: width of the last hidden dense layer [20]")
    t.add_argument("--channels", type=positive_int, default=None,
                   help="sbr: width of its dense and conv layers [64]")
    t.add_argument("--bands", type=_sbr_bands(), default=None, help="sbr: envelope bands over 11-22 kHz [32]")
    t.add_argument("--kernel", type=positive_int, default=None,
                   help="sbr, gen, cgen: conv width in STFT frames [sbr 5, gen 7]")
    t.add_argument("--wave-weight", type=nonnegative_float, default=None,
                   help="sbr: weight of the waveform L1 term beside the multi-resolution STFT loss [100]")
    t.add_argument("--dim", type=positive_int, default=None, help="gen, cgen: width of the ConvNeXt backbone [96]")
    t.add_argument("--blocks", type=positive_int, default=None, help="gen, cgen: ConvNeXt blocks [4]")
    t.add_argument("--expand", type=positive_int, default=None,
                   help="gen, cgen: expansion of each block's pointwise layers [3]")
    t.add_argument("--band-weight", type=nonnegative_float, default=None,
                   help="gen, cgen: weight of the band-energy terms beside the log-spectral ones [gen 1, cgen 3]")
    t.add_argument("--adv-weight", type=nonnegative_float, default=None,
                   help="gen, cgen: weight of the adversarial term (top-band discriminator, least squares); 0 "
                        "trains with the spectral loss alone [0]")
    t.add_argument("--fm-weight", type=nonnegative_float, default=None,
                   help="gen, cgen: weight of the discriminator feature-matching term when --adv-weight > 0 [2]")
    t.add_argument("--disc-channels", type=positive_int, default=None,
                   help="gen, cgen: width of the discriminator's convolutions [16]")
    t.add_argument("--disc-segment", type=nonnegative_int, default=None, metavar="SAMPLES",
                   help="gen, cgen: samples of each window the discriminator judges, from an offset that moves with "
                        "every step; 0: the whole window [8192]")
    t.add_argument("--init-from", default=None, metavar="DIR",
                   help="start a new run from this model folder's best weights (same --arch and sizes), e.g. the "
                        "adversarial fine-tune of a gen model")
    t.add_argument("--lr", type=positive_float, default=None,
                   help="learning rate (RMSprop; Adam for gen and cgen) [bilstm 1e-4, sbr 1e-3, gen 5e-4]")
    t.add_argument("--decay", type=nonnegative_float, default=None,
                   help="learning-rate time decay per batch, lr/(1+decay*step) [bilstm 0.03, sbr and gen 0]")
    t.add_argument("--batch-size", type=positive_int, default=None,
                   help="windows per batch [bilstm 64, sbr and gen 16]")
    t.add_argument("--epoch-windows", type=nonnegative_int, default=None, metavar="WINDOWS",
                   help="training windows per epoch, drawn on through the shuffled passes over the split, so that a "
                        "long run is checkpointed, validated and probed more often; 0: one pass [0]")
    t.add_argument("--seed", type=seed, default=None, help="random seed [0]")
    t.add_argument("--quiet", action="store_true", help="one line per epoch instead of a progress bar")
    t.add_argument("--worker-timeout", type=wait_seconds, default=None, metavar="SECONDS",
                   help="with TF_CONFIG (several machines): give up if not every worker has started within this "
                        "time; 0 waits forever [600]")


def train_main(args):
    quiet_backend(args.debug)  # before anything imports the backend
    from .runs import SETTINGS
    from .train import train

    settings = {k: getattr(args, k) for k in SETTINGS}
    state = train(args.dataset, args.model, args.epochs, verbose=2 if args.quiet else 1,
                  worker_timeout=args.worker_timeout, init_from=args.init_from, patience=args.patience,
                  probe=args.probe, select=args.select, **settings)
    score = f" (probe score {state['best_probe_score']:.4g}, what it was chosen by)" if "best_probe_score" in state \
        else ""
    print(f"{args.model}: {state['epochs_done']} epochs, best validation loss "
          f"{state.get('best_val_loss', float('nan')):.5g} (MAE {state.get('best_val_mae_16bit', float('nan')):.1f}"
          f" in 16-bit units) at epoch {state.get('best_epoch', '-')}{score}")


# ---------------------------------------------------------------------------------------------- prediction

def add_predict_options(r):
    from .runtime import RUNTIME_CHOICES

    r.add_argument("inputs", nargs="*", help="audio files or folders: WAV, FLAC, OGG, MP3, M4A/AAC, ALAC, Opus, WMA "
                                             "or the audio of a video file, at any rate (default: the songs the "
                                             "model's dataset came from)")
    r.add_argument("--output", default="data/predicted", help="folder for the restored WAVs")
    r.add_argument("--overwrite", action="store_true",
                   help="replace output files that exist already (by default they are skipped and listed)")
    r.add_argument("--subtype", choices=["same", "16", "24", "float"], default="same",
                   help="output sample format: the input's precision (same: 24-bit for 24-bit, float for float "
                        "and 32-bit inputs, else 16-bit), 16- or 24-bit PCM, or 32-bit float in [-1, 1]")
    r.add_argument("--cutoff", type=cutoff_hz, default="auto", metavar="auto|HZ",
                   help="the frequency above which the band is restored: auto measures each file's real bandwidth "
                        "(where its spectrum falls off a resampler's or a codec's wall); below it the output is the "
                        "input")
    r.add_argument("--rate", type=rate_hz, default=None, metavar="HZ",
                   help="output sample rate (default: 44100 for inputs up to 44.1 kHz, the input's own above; "
                        "real content is never downsampled unasked)")
    r.add_argument("--weights", choices=["best", "last"], default="best", help="which checkpoint to use")
    r.add_argument("--inference-batch", type=positive_int, default=None,
                   help="windows per inference call (default: what is fastest on a CPU, 64 to 1024 by network "
                        "size for bilstm, 4 for sbr; more on a GPU)")
    r.add_argument("--chunk-seconds", type=positive_seconds, default=10.0,
                   help="seconds of audio read and processed per step (bounds memory)")
    r.add_argument("--overlap", type=nonnegative_int, default=None,
                   help="44.1 kHz steps shared by consecutive windows, crossfaded; less than the window (default: "
                        "bilstm half the window, 0 for none as in the blog, twice as fast; sbr 4096 of its 65536)")
    r.add_argument("--gain", type=gain_db, default=0.0, metavar="DB",
                   help="gain applied to the output before it is written, dB: a negative gain keeps the headroom "
                        "the restored top band can need above a loud input's peaks (samples clipped at full scale "
                        "are counted and reported per file, with the gain that avoids them)")
    r.add_argument("--runtime", choices=RUNTIME_CHOICES, default="auto",
                   help="auto: onnx for gen models (no TensorFlow), keras for the others; keras: the network as "
                        "trained; onnx: ONNX Runtime, float32 (gen, bilstm); onnx-int8 (bilstm): int8 weights "
                        "(see the README for speed and cost)")


def predict_main(args):
    from .audio import SUBTYPES
    from .batch import predict_paths

    # The backend is imported (quietly) only if the model needs it: a gen model on ONNX Runtime does not.
    failures = predict_paths(args.model, args.inputs, args.output, args.inference_batch, args.chunk_seconds,
                             SUBTYPES.get(args.subtype), args.weights, overlap=args.overlap, runtime=args.runtime,
                             overwrite=args.overwrite, before_keras=lambda: quiet_backend(args.debug),
                             gain_db=args.gain, cutoff=args.cutoff, rate=args.rate)
    return _report_failures(failures)


def _model_option(p, training):
    from .runs import TRAINED_MODEL

    if training:
        p.add_argument("--model", default=TRAINED_MODEL,
                       help="model folder (weights, config.json, history.csv) to train into or resume; the models "
                            "shipped with superres are read-only (--init-from one of them to fine-tune it)")
    else:
        p.add_argument("--model", default=None,
                       help="model folder (weights, config.json, history.csv); default: the pretrained model "
                            "shipped with superres (models/default)")


# ---------------------------------------------------------------------------------------------- evaluation

def add_eval_options(p):
    from .runtime import RUNTIME_CHOICES

    src = p.add_argument_group("what to score")
    src.add_argument("--predicted", nargs="+", default=[], metavar="DIR",
                     help="folders written by --predict (default: data/predicted, when no --models or --pairs "
                          "are given)")
    src.add_argument("--models", nargs="+", default=[], metavar="DIR",
                     help="model folders to run on the songs here, one table row each")
    src.add_argument("--runtime", nargs="+", default=["auto"], choices=RUNTIME_CHOICES, metavar="RUNTIME",
                     help="run --models on these runtimes, a row each: auto (the default: onnx for gen, keras "
                          "for the others), keras, onnx, onnx-int8 (bilstm only)")
    src.add_argument("--scan", default=None, metavar="DIR",
                     help="10-scan.py output with the songs (default: the first model's)")
    src.add_argument("--originals", default=None, metavar="DIR",
                     help="the 44.1 kHz originals the scan read, for a scan folder moved or copied without them "
                          "(default: where the scan's manifest says)")
    src.add_argument("--whole", action="store_true", help="score whole songs, not just their test parts")
    src.add_argument("--songs", nargs="+", default=None, metavar="NAME",
                     help="score only these songs of the scan (names as the tables show them)")
    src.add_argument("--visqol", type=nonnegative_seconds, nargs="?", const=30.0, default=None, metavar="SECONDS",
                     help="add ViSQOL (audio mode; optional package: make visqol), scored on SECONDS from the "
                          "middle of each song [30; 0: the whole song]")
    src.add_argument("--train-fraction", type=fraction, default=None,
                     help="the test part starts at this share of each song (default: the model's dataset)")
    src.add_argument("--pairs", nargs=2, metavar=("REF_DIR", "EST_DIR"),
                     help="score any folder of 44.1 kHz estimates against a folder of references with the "
                          "same names (whole files; baselines from the references' soxr downsample)")
    out = p.add_argument_group("outputs")
    out.add_argument("--json", metavar="PATH", help="write every number to this JSON file")
    out.add_argument("--markdown", metavar="PATH", help="write the tables as markdown to this file")
    out.add_argument("--plots", metavar="DIR", help="write a spectrogram PNG per song and a training-history "
                                                    "PNG per model")
    out.add_argument("--report", metavar="PATH", help="write a self-contained HTML listening report")
    out.add_argument("--clip-seconds", type=positive_seconds, default=30.0,
                     help="seconds of each song, from the start of its scored part, kept for the report's players "
                          "and the spectrogram plots (the scores cover the whole part)")
    out.add_argument("--mean-only", action="store_true", help="print only the mean table")


def eval_main(args):
    predicted = args.predicted or ([] if args.models or args.pairs else ["data/predicted"])
    if args.models:
        quiet_backend(args.debug)
    from .audio import write_text
    from .evaluate import evaluate, format_result, prediction_model_dir

    keep_audio = bool(args.report or args.plots)
    result = evaluate(predicted, args.models, args.scan, args.train_fraction, args.whole, args.pairs,
                      keep_audio=keep_audio, log=lambda s: print(s, file=sys.stderr), runtimes=args.runtime,
                      visqol_seconds=args.visqol, only=args.songs, keep_seconds=args.clip_seconds,
                      originals=args.originals)
    print(format_result(result, per_song=not args.mean_only))
    if args.markdown:
        write_text(args.markdown, format_result(result, markdown=True, per_song=not args.mean_only) + "\n")
    if args.json:
        numbers = {k: v for k, v in result.items() if k != "audio"}
        write_text(args.json, json.dumps(numbers, indent=2, allow_nan=True) + "\n")
    # The training history of each model (plots and report); a prediction folder's model may be elsewhere.
    model_dirs = list(dict.fromkeys([str(Path(d).resolve()) for d in args.models]
                                    + [str(d) for d in map(prediction_model_dir, predicted) if d is not None]))
    if args.plots:
        from .report import write_pngs

        for path in write_pngs(result, args.plots, model_dirs):
            print(f"wrote {path}", file=sys.stderr)
    if args.report:
        from .report import write_report

        print(f"wrote {write_report(result, args.report, model_dirs, args.clip_seconds)}", file=sys.stderr)


# ---------------------------------------------------------------------------------------------- entry points

#: name -> (help, add options, main, takes --model for training / prediction / not at all)
COMMANDS = {
    "scan": (SCAN_HELP, add_scan_options, scan_main, None),
    "dataset": (DATASET_HELP, add_dataset_options, dataset_main, None),
    "train": (TRAIN_HELP, add_train_options, train_main, True),
    "predict": (PREDICT_HELP, add_predict_options, predict_main, False),
    "eval": (EVAL_HELP, add_eval_options, eval_main, None),
}


def command_parser(name, prog=None):
    """The parser of one stage, as ``superres NAME`` and the numbered script take it."""
    description, add, _, model = COMMANDS[name]
    p = _parser(description, prog)
    if model is not None:
        _model_option(p, model)
    add(p)
    return p


def script(name, argv):
    """Run stage ``name`` as a command (the numbered scripts): parse ``argv``, run, return the exit status."""
    return run(lambda a: COMMANDS[name][2](command_parser(name).parse_args(a)), argv)


def _given(parser, argv):
    """The ``dest`` of every option written on the command line (parsed again with no defaults)."""
    saved = [(a, a.default) for a in parser._actions]
    for a, _ in saved:
        a.default = argparse.SUPPRESS
    try:
        return set(vars(parser.parse_args(argv)))
    finally:
        for a, d in saved:
            a.default = d


def blog_main(argv):
    """``rnn-super-resolution.py --train | --predict``: the pipeline's original entry point.

    An option of the other mode (``--chunk-seconds`` with ``--train``, ``--epochs`` with ``--predict``) is an
    error, not ignored.
    """
    from .runs import TRAINED_MODEL

    p = _parser("Train the super-resolution network (--train) or apply it to 22.05 kHz audio (--predict).")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--train", action="store_true", help="train (or resume) the run in --model")
    mode.add_argument("--predict", action="store_true", help="upsample files with the model in --model")
    p.add_argument("--model", default=None,
                   help=f"model folder (weights, config.json, history.csv); default: {TRAINED_MODEL}, what --train "
                        "trains (for --predict: the pretrained model shipped with superres until --train has "
                        "trained one)")
    train_group = p.add_argument_group("training (--train)")
    add_train_options(train_group)
    predict_group = p.add_argument_group("prediction (--predict)")
    add_predict_options(predict_group)
    args = p.parse_args(argv)
    own, other = (train_group, predict_group) if args.train else (predict_group, train_group)
    given = _given(p, argv)
    for action in other._group_actions:
        if action.dest in given and action.dest not in {a.dest for a in own._group_actions}:
            name = action.option_strings[0] if action.option_strings else "input files"
            p.error(f"{name} is a {'--predict' if args.train else '--train'} option; it does nothing with "
                    f"{'--train' if args.train else '--predict'}")
    if args.train:
        args.model = args.model or TRAINED_MODEL
        return train_main(args)
    if args.model is None and (Path(TRAINED_MODEL) / "config.json").is_file():
        args.model = TRAINED_MODEL  # the blog's flow: --predict applies what --train made
    return predict_main(args)


def main(argv=None):
    """``superres COMMAND [options]``: the installed command."""
    argv = sys.argv[1:] if argv is None else argv
    from . import __version__

    p = argparse.ArgumentParser(prog="superres", formatter_class=HelpFormatter,
                                description="Restore the top octave (11-22 kHz) of 22.05 kHz music with a neural "
                                            "network. Run 'superres COMMAND --help' for a command's options.")
    p.add_argument("--version", action="version", version=f"superres {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (description, add, _, model) in COMMANDS.items():
        s = sub.add_parser(name, help=description.splitlines()[0].replace("%", "%%"), description=description,
                           formatter_class=HelpFormatter)
        s.add_argument("--debug", action="store_true", help="show tracebacks")
        if model is not None:
            _model_option(s, model)
        add(s)

    def go(a):
        args = p.parse_args(a)
        return COMMANDS[args.command][2](args)

    return run(go, argv)


def console():
    """The ``superres`` console command (``pip install .``)."""
    exit_process(main())


if __name__ == "__main__":
    console()
