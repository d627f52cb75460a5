"""The corpus builder's pieces on synthetic signals and inline copyright texts (no network, no packages)."""

import sys

import numpy as np
import soundfile as sf

from conftest import ROOT, synth, write_synth
from superres.audio import to_int16

sys.path.insert(0, str(ROOT / "tools"))
import corpus  # noqa: E402  (a tool, not part of the package)

RATE = 44100


def noise(seconds, rate=RATE, channels=2, seed=0, level=0.3):
    return level * np.random.default_rng(seed).standard_normal((int(seconds * rate), channels))


def lowpass(x, cutoff, rate=RATE):
    """Brick-wall lowpass: every FFT bin at or above ``cutoff`` Hz zeroed, like a steep encoder lowpass."""
    spectrum = np.fft.rfft(x, axis=0)
    spectrum[np.fft.rfftfreq(x.shape[0], 1 / rate) >= cutoff] = 0
    return np.fft.irfft(spectrum, n=x.shape[0], axis=0)


def test_white_noise_is_full_band():
    bw = corpus.measure_bandwidth(noise(3.0), RATE)
    assert bw > 21500 and bw >= corpus.MIN_BANDWIDTH_HZ


def test_lowpassed_noise_measured_at_cutoff_and_dropped(tmp_path):
    x = lowpass(noise(3.0), 16000)
    bw = corpus.measure_bandwidth(x, RATE)
    assert 15800 < bw < 16400  # Welch leakage and smoothing add ~0.1-0.2 kHz
    # The whole per-file decision, through a file (float WAV: no 16-bit noise floor in the stop band).
    path = tmp_path / "song.wav"
    sf.write(str(path), x, RATE, subtype="FLOAT")
    rec = corpus.examine(path, ({}, {}))
    assert rec["drop"][0] == "lowpassed" and "at 16." in rec["drop"][1]
    assert abs(rec["bandwidth_hz"] - bw) < 1


def test_quiet_high_end_of_music_still_counts_as_full_band():
    # Pink-ish music: a loud bass peak and a high end 70-80 dB below it, which a 60 dB rule would call
    # lowpassed.
    x = noise(3.0, channels=1)
    f, t = np.fft.rfftfreq(x.shape[0], 1 / RATE), np.fft.rfft(x[:, 0])
    shaped = np.fft.irfft(t / np.maximum(f, 50) ** 1.5, n=x.shape[0])[:, None]
    shaped *= 0.1 / shaped.std()
    assert corpus.measure_bandwidth(shaped, RATE) > 21500
    assert corpus.measure_bandwidth(shaped, RATE, drop_db=60) < 20000


def test_rounding_noise_of_a_quiet_16_bit_recording_is_not_content():
    # A soft hit band-limited to 5 kHz, stored as 16-bit: above 5 kHz there is only rounding noise, about 60 dB
    # below the peak, which the 90 dB rule alone would take for content.
    quiet = to_int16(lowpass(noise(3.0, level=1e-3), 5000)) / 32768.0
    assert corpus.measure_bandwidth(quiet, RATE, floor_margin_db=None) > 21500
    assert 4900 < corpus.measure_bandwidth(quiet, RATE) < 5500


def test_48k_input_is_measured_natively_and_resampled():
    x = noise(1.5, rate=48000, channels=3)
    assert corpus.measure_bandwidth(x, 48000) > 23500
    y = corpus.prepare(x, 48000)
    assert y.dtype == np.int16 and y.shape == (-(-x.shape[0] * 44100 // 48000), 2)
    # Loud input clips, never wraps around.
    z = corpus.prepare(np.array([[1.5], [-1.5], [0.5]]), RATE)
    np.testing.assert_array_equal(z[:, 0], [32767, -32768, 16384])


def test_examine_drops_short_and_low_rate_files(tmp_path):
    short = write_synth(tmp_path / "hit.wav", 0.5)
    low = write_synth(tmp_path / "low.wav", 2.0, rate=22050)
    assert corpus.examine(short, ({}, {}))["drop"][0] == "too_short"
    assert corpus.examine(low, ({}, {}))["drop"][0] == "low_rate"
    ok = write_synth(tmp_path / "ok.wav", 1.5, subtype="FLOAT")
    rec = corpus.examine(ok, ({}, {}))
    assert rec["drop"] is None and rec["rate"] == RATE and rec["channels"] == 2


COPYRIGHT = """\
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: example

Files: *
Copyright: 2016 Someone
License: MIT

Files: etc/samples/loop_*.flac
  etc/samples/ambi_*.flac
Copyright: 2013 Someone else
Source: http://example.org/
License: CC0

Files: etc/samples/loop_weird.flac
Copyright: 2014 A third
License: CC-BY-SA-4.0

Files: drumkits/Kit.h2drumkit
Copyright: Drummer
License: GPL-2+ with composition exception
 As a special exception, ...
 .
 More text.
Comment:
 Files: this is a comment, not a stanza.

License: MIT
 Permission is hereby granted ...
"""


def test_dep5_licence_matcher():
    cr = corpus.parse_copyright(COPYRIGHT)
    assert cr["format"] == "DEP-5" and cr["main"] == "MIT"
    lic = lambda p: corpus.licence_for(p, cr)  # noqa: E731
    assert lic("usr/share/sonic-pi/samples/loop_amen.flac") == ("CC0", "Files: etc/samples/loop_*.flac")
    assert lic("usr/share/sonic-pi/samples/ambi_drone.flac")[0] == "CC0"  # continuation line of Files:
    assert lic("usr/share/sonic-pi/samples/loop_weird.flac")[0] == "CC-BY-SA-4.0"  # the last match wins
    assert lic("usr/share/sonic-pi/samples/bd_boom.flac") == ("MIT", "Files: *")
    kit = ("GPL-2+ with composition exception", "Files: drumkits/Kit.h2drumkit")
    assert lic("usr/share/hydrogen/data/drumkits/Kit/snare.wav") == kit
    assert lic("usr/share/hydrogen/data/drumkits/Kit v4/snare.wav") == kit
    assert lic("usr/share/hydrogen/data/drumkits/Kitchen/snare.wav")[0] == "MIT"


def test_licence_without_catch_all_and_free_form():
    cr = corpus.parse_copyright(COPYRIGHT.replace("Files: *\n", "Files: debian/*\n"))
    assert cr["main"] is None
    assert corpus.licence_for("usr/share/x/bd_boom.flac", cr) == ("unknown", "none")
    assert corpus.licence_for("usr/share/x/loop_a.flac", cr)[0] == "CC0"
    free = ("This package was debianized by someone.\n\nLicense:\n    This program is free software; you can "
            "redistribute it and/or modify\n    it under the terms of the GNU General Public License version 2\n"
            "    or at your option any later version.\n")
    cr = corpus.parse_copyright(free)
    assert cr["format"] == "free-form" and cr["main"] == "GPL-2+"
    assert corpus.licence_for("usr/share/games/x/music/battle.ogg", cr) == ("GPL-2+", "main licence")
    assert corpus.guess_licence(free.replace("or at your option any later version", "only")) == "GPL-2"
    assert corpus.guess_licence("GNU Library General Public License, either version 2 or any later version") \
        == "LGPL-2+"
    assert corpus.guess_licence("All rights reserved.") is None


def test_split_is_deterministic_and_by_file_name():
    names = [f"music/track_{i:03d}.ogg" for i in range(100)]
    first = [corpus.split_of(n, 0.2) for n in names]
    assert first == [corpus.split_of(n, 0.2) for n in names]
    held = first.count("heldout")
    assert 8 <= held <= 35
    # The folder does not matter, so a file keeps its split if a package moves it.
    assert [corpus.split_of("other/" + n.split("/")[1], 0.2) for n in names] == first
    assert {corpus.split_of(n, 0.0) for n in names} == {"train"}


def test_cap_keeps_every_kth():
    k, keep = corpus.cap_every_kth([1.0] * 10, 4.5)
    assert (k, keep) == (3, [0, 3, 6, 9])
    assert corpus.cap_every_kth([1.0] * 4, 10.0) == (1, [0, 1, 2, 3])


def test_output_names_relative_and_unique():
    names = corpus.output_names(["usr/share/m/a.ogg", "usr/share/m/sub/b.flac", "usr/share/m/b.wav",
                                 "usr/share/m/b.ogg"])
    assert names == ["a.wav", "sub/b.wav", "b.wav.wav", "b.ogg.wav"]


def test_demo_songs_excluded_by_name_and_by_content(tmp_path):
    demo_dir = tmp_path / "demo"
    write_synth(demo_dir / "loop_amen.flac", 1.5, seed=1)
    write_synth(demo_dir / "loop_tabla.flac", 1.5, seed=2)
    demo = corpus.demo_songs(demo_dir)
    src = tmp_path / "pkg"
    write_synth(src / "LOOP_AMEN.wav", 1.5, seed=5)  # same name, other audio
    sf.write(str(src / "renamed.flac"), synth(1.5, seed=2), RATE, subtype="PCM_16")  # same audio, other name
    write_synth(src / "other.flac", 1.5, seed=3)
    by_name = corpus.examine(src / "LOOP_AMEN.wav", demo)["drop"]
    by_content = corpus.examine(src / "renamed.flac", demo)["drop"]
    assert by_name[0] == "demo" and "loop_amen.flac" in by_name[1]
    assert by_content[0] == "demo" and "loop_tabla.flac" in by_content[1]
    assert corpus.examine(src / "other.flac", demo)["drop"] is None
