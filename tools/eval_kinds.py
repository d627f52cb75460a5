#!/usr/bin/env python3
"""The held-out songs in every form a music folder holds, through `superres predict`, one table per kind.

Usage: eval_kinds.py --songs data/music/heldout --out data/kinds [--model DIR] [--limit N] [--seconds S]
                     [--visqol SECONDS] [--markdown FILE] [--only NAME...] [--kinds KIND...] [--report FILE]

Each song (sorted; ``--limit`` the first N, ``--seconds`` an excerpt of that many seconds from its middle) is
made into each kind of :data:`KINDS` -- resampled to 22.05, 16, 15 and 32 kHz (soxr VHQ), encoded as MP3,
AAC and Opus (PyAV's encoders), or left full band -- and upsampled by ``superres predict`` (the same code, in
this process). Per song and kind, against the original:

- the detected cutoff;
- energy above the cutoff, dB against the original's (0 is right; doing nothing leaves it empty);
- LSD above the cutoff of the output and of doing nothing (the decoded input, sinc-interpolated);
- SNR below 0.95 x the cutoff against the input ("kept": what was real must stay);
- ViSQOL (audio mode) of the input and of the output, with ``--visqol``.

``--report`` also writes the listening report of what was scored: per song and kind, the spectrograms of the
original, the input and the output, and players for the three (:func:`superres.report.write_kinds_report`).
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from superres.kinds import KINDS, make_input, score_kind  # noqa: E402


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--songs", default=str(ROOT / "data" / "music" / "heldout"))
    p.add_argument("--out", default=str(ROOT / "data" / "kinds"))
    p.add_argument("--model", default=None, help="model folder (default: the pretrained default)")
    p.add_argument("--limit", type=int, default=None, help="the first N songs only")
    p.add_argument("--seconds", type=float, default=None, help="an excerpt of this many seconds from each middle")
    p.add_argument("--visqol", type=float, default=None, metavar="SECONDS",
                   help="add ViSQOL on this many seconds from the middle (0: all)")
    p.add_argument("--markdown", default=None, help="write the tables here")
    p.add_argument("--only", nargs="+", default=None, metavar="NAME",
                   help="these songs only (paths inside --songs)")
    p.add_argument("--kinds", nargs="+", default=None, choices=list(KINDS), metavar="KIND",
                   help=f"these input kinds only (of: {', '.join(KINDS)})")
    p.add_argument("--report", default=None, metavar="HTML",
                   help="write the listening report here: spectrograms and players of every song and kind")
    p.add_argument("--clip-seconds", type=float, default=20.0, help="longest excerpt per player in the report")
    p.add_argument("--tables-only", action="store_true",
                   help="write the tables from the figures of the last run (OUT/rows.json) without computing them")
    args = p.parse_args(argv)
    if args.tables_only:
        saved = json.loads((Path(args.out) / "rows.json").read_text())
        if "args" not in saved:  # written before the run's options were saved with it: those given here
            saved = {"rows": saved, "args": {"seconds": args.seconds, "visqol": args.visqol}}
        text = format_tables(saved["rows"], argparse.Namespace(**saved["args"]))
        print(text)
        if args.markdown:
            Path(args.markdown).write_text(text + "\n")
        return

    from superres.audio import list_audio_files, read_audio
    from superres.batch import predict_paths

    songs = list_audio_files(args.songs)
    if args.only:
        missing = sorted(set(args.only) - {rel.as_posix() for rel in songs})
        if missing:
            sys.exit(f"{args.songs}: no song {missing[0]}")
        songs = [rel for rel in songs if rel.as_posix() in args.only]
    songs = songs[:args.limit]
    kinds = {k: KINDS[k] for k in (args.kinds or KINDS)}
    out = Path(args.out)
    rows = {k: [] for k in kinds}
    listen = []  # what the report shows
    with tempfile.TemporaryDirectory(dir=out.parent if out.parent.is_dir() else None) as tmp:
        tmp = Path(tmp)
        originals = {}
        for rel in songs:
            x, rate = read_audio(Path(args.songs) / rel)
            if args.seconds and len(x) > args.seconds * rate:
                a = (len(x) - int(args.seconds * rate)) // 2
                x = x[a:a + int(args.seconds * rate)]
            originals[rel] = x
            for kind, (how, ext) in kinds.items():
                d = tmp / "in" / kind
                d.mkdir(parents=True, exist_ok=True)
                make_input(x, d / (rel.as_posix().replace("/", "__") + ext), how)
        for kind in kinds:
            pred = out / "predicted" / kind
            predict_paths(args.model, [tmp / "in" / kind], pred, log=lambda s: None, show_progress=False,
                          overwrite=True)
            manifest = {Path(f["input"]).name: f for f in json.loads((pred / "manifest.json").read_text())["files"]}
            for rel, x in originals.items():
                name = rel.as_posix().replace("/", "__") + KINDS[kind][1]
                entry = manifest[name]
                inp, rate_in = read_audio(tmp / "in" / kind / name)
                y, rate_out = read_audio(pred / entry["output"])
                row = score_kind(x, inp, y, rate_in, rate_out, entry["cutoff_hz"], args.visqol)
                row.update(song=rel.as_posix(), done=entry["done"], seconds=len(x) / 44100, clipped=entry["clipped"])
                rows[kind].append(row)
                if args.report:
                    listen.append({**row, "kind": kind, "original": x, "input": inp, "input_rate": rate_in,
                                   "output": y, "rate": rate_out})
            print(f"{kind}: {len(originals)} songs", file=sys.stderr)
    text = format_tables(rows, args)
    saved = {"args": {"seconds": args.seconds, "visqol": args.visqol}, "rows": rows}
    (out / "rows.json").write_text(json.dumps(saved, indent=1, default=float) + "\n")  # every song's figures
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
    if args.report:
        from superres.report import write_kinds_report

        model = Path(args.model).name if args.model else "default"
        write_kinds_report(listen, args.report, f"{model} model", args.clip_seconds)
        print(f"wrote {args.report}", file=sys.stderr)


def _f(v, digits=2):
    return "n/a" if v is None or not np.isfinite(v) else f"{v:.{digits}f}"


def format_tables(rows, args):
    cols = ["cutoff (kHz)", "HF energy (dB)", "LSD above cutoff", "LSD, input", "kept SNR (dB)", "kept, worst song",
            "unchanged", "clipped"]
    if args.visqol is not None:
        cols += ["ViSQOL", "ViSQOL, input"]
    out = [f"Held-out songs through `superres predict` by input kind ({len(next(iter(rows.values())))} songs"
           + (f", {args.seconds:g} s from each middle" if args.seconds else ", whole") + "): means over songs "
           "(median cutoff). HF energy: above the cutoff, against the original's; LSD above the cutoff, of the "
           "output and of the input as it is (sinc-interpolated); both over the songs restored (n/a: none); "
           "kept: SNR below 0.95 x the cutoff against "
           "the input, as written (inf: identical); unchanged: songs read as full band and written as they are; "
           "clipped: songs whose 16-bit output clips the input's own band where it rings past full scale (the "
           "restored band never does; --gain or --subtype float avoids it).", "",
           "| kind | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for kind, rs in rows.items():
        def mean(k, rs=rs):
            return float(np.nanmean([r[k] for r in rs])) if rs else float("nan")

        # The band measures over the songs restored: above a codec's cutoff, a song written as it is holds
        # the codec's own leftovers, which say nothing of the restoration.
        restored = [r for r in rs if r["done"] != "unchanged"]
        kept = [r["kept"] for r in rs]
        cells = [_f(np.median([r["cutoff"] for r in rs]) / 1000, 1), _f(mean("energy", restored)),
                 _f(mean("lsd", restored)), _f(mean("lsd_input", restored)),
                 "inf" if all(np.isinf(kept)) else _f(np.nanmean(np.minimum(kept, 200)), 1),
                 "inf" if all(np.isinf(kept)) else _f(np.nanmin(kept), 1),
                 f"{sum(r['done'] == 'unchanged' for r in rs)}/{len(rs)}",
                 f"{sum(r.get('clipped', 0) > 0 for r in rs)}/{len(rs)}" if rs and "clipped" in rs[0] else "n/a"]
        if args.visqol is not None:
            cells += [_f(mean("visqol")), _f(mean("visqol_input"))]
        out.append(f"| {kind} | " + " | ".join(cells) + " |")
    return "\n".join(out)


if __name__ == "__main__":
    main(sys.argv[1:])
