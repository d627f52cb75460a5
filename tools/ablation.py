#!/usr/bin/env python3
"""Ablation of the BiLSTM's input: binary-encoded vs plain float samples, naive vs sinc upsampling.

Usage: tools/ablation.py [--audio data/demo] [--work data/ablation] [--epochs 3] [--out data/ablation/results.md]

The four variants get the same songs, the same split, the same network size and the same number of epochs
(the same budget); each is scored by the evaluation on the test part of every song, beside the baselines.
"""

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: (upsample, encoding) -> label; the first is the blog's.
VARIANTS = {("naive", "bits"): "naive, bits (the blog's)", ("naive", "pcm"): "naive, float",
            ("sinc", "bits"): "sinc, bits", ("sinc", "pcm"): "sinc, float"}
#: The demo's network and optimizer (see the Makefile's DEMO_TRAIN).
SETTINGS = {"arch": "bilstm", "units": 32, "dense": 64, "dense2": 20, "lr": 1e-3, "decay": 0.0, "batch_size": 64,
            "seed": 0}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--audio", default=str(ROOT / "data" / "demo"), help="folder of 44.1 kHz songs")
    p.add_argument("--work", default=str(ROOT / "data" / "ablation"), help="folder for datasets and models")
    p.add_argument("--epochs", type=int, default=3, help="epochs per variant (the same for all)")
    p.add_argument("--out", default=None, help="markdown file (default: <work>/results.md)")
    args = p.parse_args()

    from superres.cli import quiet_backend

    quiet_backend(False)
    from superres.dataset import build_dataset
    from superres.evaluate import evaluate, format_table
    from superres.runs import read_history
    from superres.scan import scan
    from superres.train import train

    work = Path(args.work)
    quiet = lambda s: None  # noqa: E731
    scan(args.audio, work / "22k", log=quiet)
    models, seconds = [], {}
    for (upsample, encoding), label in VARIANTS.items():
        name = f"{upsample}-{encoding}"
        build_dataset(work / "22k", work / f"dataset-{name}", input=upsample, encoding=encoding, log=quiet)
        t = time.perf_counter()
        train(work / f"dataset-{name}", work / name, args.epochs, log=print, verbose=0, **SETTINGS)
        seconds[name] = time.perf_counter() - t
        models.append(work / name)
        print(f"{label}: trained in {seconds[name]:.0f} s", file=sys.stderr)
    result = evaluate(models=models, scan_dir=work / "22k", log=quiet)
    names = {f"{u}-{e}": label for (u, e), label in VARIANTS.items()}
    table_rows = {names.get(m, m): result["mean"][m] for m in result["methods"]}
    val = {names[m.name]: read_history(m)[-1]["val_mae_16bit"] for m in models}
    audio = Path(args.audio).resolve()
    where = audio.relative_to(ROOT) if audio.is_relative_to(ROOT) else audio
    text = "\n".join([
        f"BiLSTM {SETTINGS['units']}/{SETTINGS['dense']}, {args.epochs} epochs each, lr {SETTINGS['lr']}, batch "
        f"{SETTINGS['batch_size']}, on `{where}` ({result['part']}, mean over {len(result['songs'])} songs):", "",
        format_table(table_rows, list(table_rows), list(result["metrics"]), markdown=True), "",
        "Validation MAE after the last epoch (16-bit units): "
        + ", ".join(f"{k} {v:.1f}" for k, v in val.items()) + "."])
    out = Path(args.out or work / "results.md")
    out.write_text(text + "\n")
    (work / "results.json").write_text(json.dumps({"mean": table_rows, "val_mae_16bit": val,
                                                   "train_seconds": seconds}, indent=1))
    print(text)


if __name__ == "__main__":
    main()
