#!/usr/bin/env python3
"""Train the super-resolution network (--train) or apply it to 22.05 kHz audio (--predict)."""

import argparse
import sys

from superres.cli import quiet_backend, run
from superres.runs import ARCHS, SETTINGS
from superres.runtime import RUNTIMES


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--train", action="store_true", help="train (or resume) the run in --model")
    mode.add_argument("--predict", action="store_true", help="upsample files with the model in --model")
    p.add_argument("--model", default="models/default", help="model folder (weights, config.json, history.csv)")

    t = p.add_argument_group("training")
    t.add_argument("--dataset", default="data/dataset", help="output folder of 20-make-dataset.py")
    t.add_argument("--epochs", type=int, default=10, help="total epochs of the run (a resumed run continues "
                                                          "up to this number)")
    t.add_argument("--arch", choices=ARCHS, default=None,
                   help="network architecture: bilstm (the blog's) or sbr (spectral band replication over sinc "
                        "interpolation; needs a dataset built with --upsample sinc --encoding pcm --window 8192) "
                        "[bilstm]")
    t.add_argument("--units", type=int, default=None, help="bilstm: LSTM units per direction [300]")
    t.add_argument("--dense", type=int, default=None, help="bilstm: width of the two wide dense layers [500]")
    t.add_argument("--dense2", type=int, default=None, help="bilstm: width of the last hidden dense layer [20]")
    t.add_argument("--channels", type=int, default=None, help="sbr: width of its dense and conv layers [64]")
    t.add_argument("--bands", type=int, default=None, help="sbr: envelope bands over 11-22 kHz [32]")
    t.add_argument("--kernel", type=int, default=None, help="sbr: conv width in STFT frames [5]")
    t.add_argument("--wave-weight", type=float, default=None,
                   help="sbr: weight of the waveform L1 term beside the multi-resolution STFT loss [100]")
    t.add_argument("--lr", type=float, default=None, help="RMSprop learning rate [bilstm 1e-4, sbr 1e-3]")
    t.add_argument("--decay", type=float, default=None,
                   help="learning-rate time decay per batch, lr/(1+decay*step) [bilstm 0.03, sbr 0]")
    t.add_argument("--batch-size", type=int, default=None, help="windows per batch [bilstm 64, sbr 16]")
    t.add_argument("--seed", type=int, default=None, help="random seed [0]")
    t.add_argument("--quiet", action="store_true", help="one line per epoch instead of a progress bar")
    t.add_argument("--worker-timeout", type=float, default=None, metavar="SECONDS",
                   help="with TF_CONFIG (several machines): give up if not every worker has started within this "
                        "time; 0 waits forever [600]")

    r = p.add_argument_group("prediction")
    r.add_argument("inputs", nargs="*", help="22.05 kHz audio files or folders (default: the songs the "
                                             "model's dataset came from); other rates are resampled first")
    r.add_argument("--output", default="data/predicted", help="folder for the 44.1 kHz WAVs")
    r.add_argument("--subtype", choices=["16", "24", "float"], default="16", help="output sample format")
    r.add_argument("--weights", choices=["best", "last"], default="best", help="which checkpoint to use")
    r.add_argument("--inference-batch", type=int, default=None,
                   help="windows per inference call (default: what is fastest on a CPU, 64 to 1024 by network "
                        "size for bilstm, 4 for sbr; more on a GPU)")
    r.add_argument("--chunk-seconds", type=float, default=10.0, help="audio processed per step (bounds memory)")
    r.add_argument("--overlap", type=int, default=None,
                   help="44.1 kHz steps shared by consecutive windows, crossfaded (default: bilstm half the "
                        "window, 0 for none as in the blog, twice as fast; sbr 4096 of its 65536)")
    r.add_argument("--runtime", choices=RUNTIMES, default="keras",
                   help="keras: the network as trained; onnx-int8 (bilstm): ONNX Runtime with int8 weights, about "
                        "3 times faster on a CPU, MAE 0.5-2%% higher as measured (see the README); onnx: the "
                        "same in float32")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    args = p.parse_args(argv)
    quiet_backend(args.debug)

    if args.train:
        if args.inputs:
            p.error("input files are for --predict")
        from superres.train import train

        settings = {k: getattr(args, k) for k in SETTINGS}
        state = train(args.dataset, args.model, args.epochs, verbose=2 if args.quiet else 1,
                      worker_timeout=args.worker_timeout, **settings)
        print(f"{args.model}: {state['epochs_done']} epochs, best validation loss "
              f"{state.get('best_val_loss', float('nan')):.5g} (MAE {state.get('best_val_mae_16bit', float('nan')):.1f}"
              f" in 16-bit units) at epoch {state.get('best_epoch', '-')}")
        return 0

    from superres.predict import SUBTYPES, predict_paths

    failures = predict_paths(args.model, args.inputs, args.output, args.inference_batch, args.chunk_seconds,
                             SUBTYPES[args.subtype], args.weights, overlap=args.overlap, runtime=args.runtime)
    if failures:
        print(f"{len(failures)} file(s) failed:", file=sys.stderr)
        for _, msg in failures:
            print(f"  {msg}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run(main, sys.argv[1:]))
