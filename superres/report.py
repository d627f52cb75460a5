"""Pictures and the listening report: spectrograms, training history, and a self-contained HTML page."""

import base64
import html
import io
from pathlib import Path

import numpy as np
import soundfile as sf

from .audio import HIGH_RATE, LOW_RATE
from .metrics import HF_EDGE, power_spectrogram
from .runs import read_history


def _figure(width, height):
    # Figure + Agg canvas, not pyplot: no global state, no display needed.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _png_bytes(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def spectrogram_png(panels, title="", edge=HF_EDGE):
    """Stacked spectrograms on one frequency scale (0-22.05 kHz), the input's band edge ``edge`` (Hz) marked.

    Parameters
    ----------
    panels : list of (label, ndarray of int16 shape (frames, channels), rate in Hz)
        Channels are mixed down for display. A 22.05 kHz panel shows an empty upper half, as it should.

    Returns
    -------
    bytes
        PNG image.
    """
    fig = _figure(10, 1.9 * len(panels) + 0.6)
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    top = HIGH_RATE / 2000
    specs = []
    for label, x, rate in panels:
        mono = np.asarray(x, dtype=np.float64).mean(axis=1) / 32768.0
        # The same window duration at every rate, so that panels line up in time; power per sample so
        # that levels compare across rates.
        n_fft = 2048 * rate // HIGH_RATE
        db = 10 * np.log10(np.maximum(power_spectrogram(mono, n_fft, n_fft // 4) / n_fft, 1e-12))
        specs.append((label, db, mono.shape[0] / rate, rate))
    vmax = specs[0][1].max()  # one colour scale for all panels: the first (the original)'s
    for ax, (label, db, dur, rate) in zip(axes, specs):
        ax.imshow(db, origin="lower", aspect="auto", cmap="magma", extent=[0, dur, 0, rate / 2000],
                  vmin=vmax - 90, vmax=vmax)
        ax.set_ylim(0, top)
        ax.axhline(edge / 1000, color="cyan", lw=0.8, ls="--")
        ax.set_ylabel("kHz")
        ax.set_title(label, loc="left", fontsize=9)
    axes[-1].set_xlabel("seconds")
    if title:
        fig.suptitle(title, fontsize=10)
    return _png_bytes(fig)


def history_png(model_dir):
    """Training and validation loss per epoch (MAE in 16-bit units) of a model folder, as PNG bytes."""
    rows = read_history(model_dir)
    fig = _figure(6, 3.2)
    ax = fig.subplots()
    if rows:
        ep = [r["epoch"] for r in rows]
        ax.plot(ep, [r["loss"] * 32768 for r in rows], marker="o", label="loss (train)")
        ax.plot(ep, [r["val_loss"] * 32768 for r in rows], marker="o", label="val loss (test split)")
        ax.legend()
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("MAE, 16-bit units")
    ax.set_title(f"training history: {Path(model_dir).name}", fontsize=10)
    ax.grid(alpha=0.3)
    return _png_bytes(fig)


def write_pngs(result, out_dir, model_dirs=()):
    """Write ``<song>.png`` spectrograms and ``history-<model>.png`` plots; return the paths written."""
    from .audio import atomic_output

    out_dir = Path(out_dir)
    written = []
    for name, png in _all_pngs(result, model_dirs):
        path = out_dir / name
        with atomic_output(path) as tmp:
            Path(tmp).write_bytes(png)
        written.append(path)
    return written


def _shown_methods(result):
    """The methods worth a picture and a player: sinc and the models (naive and linear only in tables)."""
    return [m for m in result["methods"] if m not in ("naive", "linear")]


def _song_panels(result, song):
    audio = result["audio"][song]
    rate = result.get("input_rate", LOW_RATE)
    panels = [("original", audio["original"], HIGH_RATE), (f"input ({rate / 1000:g} kHz)", audio["input"], rate)]
    panels += [(m, audio[m], HIGH_RATE) for m in _shown_methods(result)]
    return panels


def _safe(name):
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _all_pngs(result, model_dirs):
    for s in result["songs"]:
        yield f"{_safe(s['name'])}.png", spectrogram_png(_song_panels(result, s["name"]), s["name"],
                                                   result.get("input_rate", LOW_RATE) / 2)
    for d in dict.fromkeys(Path(d).resolve() for d in model_dirs):  # a model both predicted and run: once
        yield f"history-{_safe(d.name)}.png", history_png(d)


def _data_uri(mime, data):
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _flac(x, rate):
    buf = io.BytesIO()
    sf.write(buf, x, rate, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


def _player(label, x, rate, clip_seconds):
    """An embedded player of the first ``clip_seconds`` of ``x`` (int16 (frames, channels) at ``rate``), captioned."""
    clip = x[:int(clip_seconds * rate)]
    return (f"<figure><figcaption>{html.escape(label)}</figcaption><audio controls preload=metadata "
            f"data-seconds='{clip.shape[0] / rate:.6f}' src='{_data_uri('audio/flac', _flac(clip, rate))}'>"
            "</audio></figure>")


def _html_table(rows, methods, metrics):
    head = "".join(f"<th>{html.escape(k)}</th>" for k in metrics)
    best = {}
    for k, info in metrics.items():
        vals = {m: rows[m][k] for m in methods if np.isfinite(rows[m][k])}
        if vals and info["better"] in ("lower", "higher"):
            pick = min if info["better"] == "lower" else max
            best[k] = pick(vals, key=vals.get)
    body = ""
    for m in methods:
        cells = "".join(
            f"<td{' class=best' if best.get(k) == m else ''}>{rows[m][k]:.2f}</td>" for k in metrics)
        body += f"<tr><th>{html.escape(m)}</th>{cells}</tr>"
    return f"<table><tr><th>method</th>{head}</tr>{body}</table>"


def write_report(result, path, model_dirs=(), clip_seconds=30.0):
    """Write a self-contained HTML listening report (images and audio embedded as data URIs).

    Parameters
    ----------
    result : dict
        From :func:`superres.evaluate.evaluate` with ``keep_audio=True``.
    path : path-like
        The ``.html`` file to write.
    model_dirs : list of path-like
        Model folders whose training history to plot.
    clip_seconds : float
        Longest audio excerpt embedded per player (the start of the scored part), to bound the page size.
    """
    from .audio import atomic_output

    metrics = result["metrics"]
    players = ["original", "input"] + _shown_methods(result)
    low = result.get("input_rate", LOW_RATE)
    parts = [f"<h1>Super-resolution listening report</h1><p>Scored part: {html.escape(result['part'])}. "
             "Each song: the metrics of every method, its spectrograms on one frequency scale (dashed line: "
             f"{low / 2000:g} kHz, the top of the {low / 1000:g} kHz input), and players for the original, the "
             f"{low / 1000:g} kHz input, the sinc baseline and each model.</p>",
             f"<h2>Mean over {len(result['songs'])} songs</h2>",
             _html_table(result["mean"], result["methods"], metrics)]
    for d in model_dirs:
        parts.append(f"<h2>Training history: {html.escape(Path(d).name)}</h2>"
                     f"<img alt='history {html.escape(Path(d).name)}' src='{_data_uri('image/png', history_png(d))}'>")
    for s in result["songs"]:
        name = s["name"]
        audio = result["audio"][name]
        parts.append(f"<h2>{html.escape(name)}</h2><p>{s['seconds']:.2f} s, {s['channels']} channel(s)</p>")
        parts.append(_html_table(s["scores"], result["methods"], metrics))
        png = spectrogram_png(_song_panels(result, name), name, result.get("input_rate", LOW_RATE) / 2)
        parts.append(f"<img alt='spectrograms {html.escape(name)}' src='{_data_uri('image/png', png)}'>")
        parts.append("<div class=players>")
        for p in players:
            rate = result.get("input_rate", LOW_RATE) if p == "input" else HIGH_RATE
            parts.append(_player(p, audio[p], rate, clip_seconds))
        parts.append("</div>")
    with atomic_output(path) as tmp:
        Path(tmp).write_text(_page("Super-resolution report", parts), encoding="utf-8")
    return Path(path)


def _page(title, parts):
    """A self-contained HTML page of ``parts`` (strings of HTML), in the reports' one style."""
    style = ("body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}"
             "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;"
             "text-align:right}th{background:#f4f4f4}td.best{font-weight:bold;background:#e6f4e6}"
             "img{max-width:100%}.players{display:flex;flex-wrap:wrap;gap:1em}figure{margin:0}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>")


def _kind_cells(r):
    def f(v, digits=2):
        return "n/a" if v is None or not np.isfinite(v) else f"{v:.{digits}f}"

    cells = [html.escape(r["kind"]), f(r["cutoff"] / 1000, 2), f(r["energy"]), f(r["lsd"]), f(r["lsd_input"]),
             "inf" if np.isinf(r["kept"]) else f(r["kept"], 1)]
    if "visqol" in r:
        cells += [f(r["visqol"]), f(r["visqol_input"])]
    return "".join(f"<td>{c}</td>" for c in cells)


def write_kinds_report(rows, path, model="", clip_seconds=20.0):
    """Write the listening report of input kinds (``tools/eval_kinds.py --report``): per song, every kind's
    figures, the spectrograms of the original, the input and the output, and players for the three.

    Parameters
    ----------
    rows : list of dict
        :func:`superres.kinds.score_kind`'s figures with ``song``, ``kind``, and the audio: ``original`` (float
        (frames, channels) at 44.1 kHz), ``input`` (as decoded, at ``input_rate``) and ``output`` (at ``rate``).
    path : path-like
        The ``.html`` file to write (images and audio embedded, nothing else needed to open it).
    model : str
        What restored them, for the title.
    clip_seconds : float
        Longest excerpt per player.
    """
    from .audio import atomic_output, to_int16

    head = ["kind", "cutoff (kHz)", "HF energy (dB)", "LSD above cutoff", "LSD, input", "kept (dB)"]
    if rows and "visqol" in rows[0]:
        head += ["ViSQOL", "ViSQOL, input"]
    parts = [f"<h1>Listening report by input kind{': ' + html.escape(model) if model else ''}</h1>"
             "<p>Each song made into each kind of input a music folder holds, restored by <code>superres "
             "predict</code>. Per kind: the figures against the original (HF energy: above the cutoff, against "
             "the original's, 0 is right; LSD above the cutoff of the output and of the input; kept: SNR below "
             "0.95 x the cutoff against the input), the spectrograms of the original, the input and the output "
             "on one scale (dashed line: the input's cutoff), and players for the three.</p>"]
    for song in dict.fromkeys(r["song"] for r in rows):
        mine = [r for r in rows if r["song"] == song]
        parts.append(f"<h2>{html.escape(song)}</h2><table><tr>"
                     + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"
                     + "".join(f"<tr>{_kind_cells(r)}</tr>" for r in mine) + "</table>")
        for r in mine:
            audio = [("original", r["original"], HIGH_RATE), (f"input: {r['kind']}", r["input"], r["input_rate"]),
                     ("restored", r["output"], r["rate"])]
            audio = [(label, to_int16(x), rate) for label, x, rate in audio]
            png = spectrogram_png(audio, f"{song}: {r['kind']}", r["cutoff"])
            parts.append(f"<h3>{html.escape(r['kind'])}</h3><img alt='spectrograms {html.escape(song)} "
                         f"{html.escape(r['kind'])}' src='{_data_uri('image/png', png)}'><div class=players>")
            parts += [_player(label, x, rate, clip_seconds) for label, x, rate in audio]
            parts.append("</div>")
    with atomic_output(path) as tmp:
        Path(tmp).write_text(_page("Listening report by input kind", parts), encoding="utf-8")
    return Path(path)


#: The blog's headline, MAE in 16-bit units on its test 20%.
BLOG_MAE = {"naive": 1260, "network": 610}


def blog_markdown(result, model_dir, machine="", data=""):
    """The README section of ``make blog``: the blog's MAE table, the baselines beside it, and the training.

    Parameters
    ----------
    result : dict
        ``eval.py --json`` of the model's predictions: ``methods``, ``metrics``, ``mean[method][metric]``.
    model_dir : path-like
        The trained model folder (``config.json``, ``state.json``, ``history.csv``; the dataset its
        ``config.json`` names is read for the window counts when it is still there).
    machine : str
        Where it was trained (:func:`superres.bench.machine`).
    data : str
        What the song was (which file, excerpt, channels), as the caller cut it.

    Returns
    -------
    str
        Markdown; every figure comes from ``result`` and the model folder.
    """
    from .dataset import META_NAME, load_meta
    from .manifest import read_json
    from .runs import STATE_NAME, load_config, model_path

    model_dir = Path(model_dir)
    config = load_config(model_dir)
    state = read_json(model_dir / STATE_NAME, "training state")
    dataset_dir = model_path(model_dir, config, "dataset_dir")
    # The dataset is a git-ignored stage output: a shipped model folder may outlive it.
    meta = load_meta(dataset_dir) if (dataset_dir / META_NAME).is_file() else None
    history = read_history(model_dir)
    mean = result["mean"]
    network = next(m for m in result["methods"] if m not in ("naive", "linear", "sinc"))
    mae = {m: mean[m]["MAE"] for m in result["methods"]}

    out = ["| | MAE, 16-bit units (this run) | the blog |", "|---|---|---|",
           "| original | 0 | 0 |",
           f"| naive upsample | {mae['naive']:.1f} | {BLOG_MAE['naive']} |",
           f"| network (`{network}`) | {mae[network]:.1f} | {BLOG_MAE['network']} |", ""]
    cols = [k for k in ("MAE", "SNR", "LSD", "LSD-HF", "HF energy", "SNR-LF") if k in result["metrics"]]
    units = {"MAE": "16-bit", "SNR": "dB", "HF energy": "dB", "SNR-LF": "dB"}
    out += [f"Every method on the same audio ({result.get('part', 'the test part')}):", "",
            "| method | " + " | ".join(f"{k} ({units[k]})" if k in units else k for k in cols) + " |",
            "|---|" + "---|" * len(cols)]
    for m in result["methods"]:
        name = f"network (`{m}`)" if m == network else m if m in ("naive", "linear", "sinc") else f"`{m}`"
        out.append(f"| {name} | " + " | ".join(f"{mean[m][k]:.2f}" for k in cols) + " |")
    out.append("")

    # What it means, from the numbers: the blog compared with naive only; sinc is the baseline to beat.
    ratio_naive, ratio_sinc = mae[network] / mae["naive"], mae[network] / mae["sinc"]
    verdict = [f"Against the naive upsample the network's MAE is {ratio_naive:.2f}x (the blog: "
               f"{BLOG_MAE['network'] / BLOG_MAE['naive']:.2f}x): it "
               + ("beats naive, as the blog's did." if ratio_naive < 1 else "does not beat naive; the blog's did.")
               + f" Against band-limited sinc interpolation, the baseline that matters, it is {ratio_sinc:.2f}x: it "
               + ("beats sinc." if ratio_sinc < 1 else "does not beat sinc.")]
    if "HF energy" in cols and "SNR-LF" in cols:
        hf, lf = mean[network]["HF energy"], mean[network]["SNR-LF"] - mean["sinc"]["SNR-LF"]
        verdict.append(f"Its energy above 11.025 kHz is {hf:+.1f} dB relative to the original's (sinc "
                       f"{mean['sinc']['HF energy']:+.1f} dB, next to nothing); its SNR below 11.025 kHz is "
                       f"{abs(lf):.2f} dB {'below' if lf < 0 else 'above'} sinc's.")
    out += [" ".join(verdict), ""]

    if history:
        hours = sum(r.get("seconds", 0.0) for r in history) / 3600
        best = min(history, key=lambda r: r["val_loss"])
        rate = np.nanmean([r.get("samples_per_s", float("nan")) for r in history])
        since = len(history) - best["epoch"]
        stop = (f"stopped after {since} epoch(s) without a better validation MAE" if state.get("stopped_early")
                else "still improving when it was stopped (epoch limit, or by hand)" if since == 0
                else f"stopped (epoch limit, or by hand) {since} epoch(s) after its best")
        lr = f"RMSprop lr {config.get('lr')}" + (f", time decay {config['decay']} per batch"
                                                  if config.get("decay") else ", constant")
        out += [f"Training: {len(history)} epochs ({history[-1].get('steps', 0):.0f} batches of "
                f"{config.get('batch_size')} windows), {hours:.2f} h, {rate:,.0f} samples/s, {stop}; best "
                f"validation MAE {best['val_mae_16bit']:.1f} at epoch {best['epoch']} (those weights are "
                f"`best.keras`). {lr}, MAE loss, BiLSTM {config.get('units')} - Dense {config.get('dense')} - "
                f"BiLSTM {config.get('units')} - Dense {config.get('dense')} - Dense {config.get('dense2')} - "
                "Dense 1.", ""]
    if meta:
        out += [f"Data: {data + '; ' if data else ''}{meta['counts']['train']:,} training and "
                f"{meta['counts']['test']:,} test windows of {meta['window']} steps (first "
                f"{meta['train_fraction']:.0%} / last {1 - meta['train_fraction']:.0%}).", ""]
    if machine:
        out += [f"Machine: {machine}.", ""]
    return "\n".join(out).rstrip() + "\n"
