"""Where the commands say what they say: progress on stdout, each failed file's error line on stderr."""

from conftest import run_script, write_synth


def test_per_file_error_lines_go_to_stderr_and_progress_to_stdout(pipeline, tmp_path):
    orig = tmp_path / "orig"
    write_synth(orig / "good.wav", 0.2)
    (orig / "bad.wav").write_text("not audio\n")
    proc = run_script("10-scan.py", "--input", orig, "--output", tmp_path / "22k", check=False)
    assert proc.returncode == 1
    assert "wrote good.wav" in proc.stdout and "bad.wav" not in proc.stdout
    assert "error:" in proc.stderr and "bad.wav: not a readable audio file" in proc.stderr
    # The same for prediction, whose stdout names the model folder it used.
    proc = run_script("rnn-super-resolution.py", "--predict", "--model", pipeline["model"], tmp_path / "22k",
                      orig / "bad.wav", "--output", tmp_path / "out", check=False)
    assert proc.returncode == 1
    assert f"model {pipeline['model']} (bilstm, best.keras" in proc.stdout
    assert "wrote" in proc.stdout and "error:" not in proc.stdout and "bad.wav" not in proc.stdout
    assert proc.stderr.count("bad.wav: not a readable audio file") == 2  # the error line, then the summary
