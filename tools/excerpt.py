"""Cut an excerpt of a song, optionally mixed down to one channel, for ``make blog``.

The blog trained its full-size network on one song for about two hours on a GPU. On two CPU cores the
same network trains about 3,000 samples per second, so an hour buys one epoch of a stereo 2.7-minute song;
a mono excerpt of a minute buys a dozen. The excerpt is written as 16-bit PCM at the song's own rate, so
``10-scan.py`` treats it like any other original; the source file is never modified.

Usage::

    python tools/excerpt.py SONG OUT.wav --start 40 --seconds 60 --mono
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from superres.audio import read_audio, write_audio  # noqa: E402
from superres.errors import UserError  # noqa: E402


def excerpt(x, rate, start=0.0, seconds=None, mono=False):
    """The part of ``x`` from ``start`` lasting ``seconds``, as one channel if ``mono``.

    Parameters
    ----------
    x : ndarray, shape (frames, channels), float in [-1, 1)
    rate : int
        Sample rate, Hz.
    start, seconds : float
        Seconds; ``seconds=None`` keeps everything after ``start``.
    mono : bool
        Mix the channels down by their mean (keeps a full-band song full band, unlike dropping a channel
        that may be quieter).

    Returns
    -------
    ndarray, shape (frames', channels')
    """
    first = int(round(start * rate))
    if first >= len(x):
        raise UserError(f"--start {start} s is past the end of the song ({len(x) / rate:.1f} s)")
    last = len(x) if seconds is None else min(len(x), first + int(round(seconds * rate)))
    part = x[first:last]
    return part.mean(axis=1, keepdims=True) if mono else part


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("song", type=Path)
    p.add_argument("output", type=Path, help="WAV to write (16-bit, the song's rate)")
    p.add_argument("--start", type=float, default=0.0, help="seconds from the song's start [0]")
    p.add_argument("--seconds", type=float, default=None, help="length in seconds [to the end]")
    p.add_argument("--mono", action="store_true", help="mix the channels down to one")
    args = p.parse_args(argv)
    if args.start < 0 or (args.seconds is not None and args.seconds <= 0):
        p.error("--start must be >= 0 and --seconds > 0")
    try:
        x, rate = read_audio(args.song, "float64")
        part = excerpt(x, rate, args.start, args.seconds, args.mono)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        write_audio(args.output, part, rate)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{args.output}: {len(part) / rate:.2f} s, {part.shape[1]} channel(s), {rate} Hz "
          f"(from {args.song}, {args.start:g} s on)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
