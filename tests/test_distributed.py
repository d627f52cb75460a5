"""Training over several workers: TF_CONFIG checks, sharded tf.data input, and two real workers on 127.0.0.1."""

import json
import os
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from conftest import CGEN_TINY, ROOT, TINY
from superres import distribute
from superres.errors import UserError
from superres.loader import WindowBatches, epoch_order, make_tf_dataset, steps_per_epoch

#: A hung collective (a worker that died, a port nobody answers) must fail the test, not hang CI.
WORKER_TIMEOUT_S = 240
#: The tiny network with batches of 256: 34 steps an epoch instead of 265, a few seconds on two CPU cores (a
#: step of this network costs about the same for 32 windows as for 256).
FLAGS = [*TINY[:TINY.index("--batch-size")], "--batch-size", "256", *TINY[TINY.index("--batch-size") + 2:]]


def tf_config(workers, index):
    return json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})


def test_parse_tf_config_valid(monkeypatch, tmp_path):
    workers = ["10.0.0.1:12345", "node-b.example:2222", "[::1]:3333"]
    assert distribute.parse_tf_config(tf_config(workers, 0)) == {"workers": workers, "index": 0, "is_chief": True}
    assert distribute.parse_tf_config(tf_config(workers, 2))["is_chief"] is False
    monkeypatch.setenv("TF_CONFIG", tf_config(workers, 1))
    assert not distribute.is_chief() and distribute.checkpoint_dir(tmp_path) == tmp_path / "worker-1"
    monkeypatch.setenv("TF_CONFIG", "")
    assert distribute.cluster() is None and distribute.checkpoint_dir(tmp_path) == tmp_path


@pytest.mark.parametrize("text, message", [
    ("{cluster: worker}", "not valid JSON"),
    ('["a:1"]', 'with "cluster" and "task"'),
    ('{"cluster": {"worker": ["a:1"]}}', 'with "cluster" and "task"'),
    ('{"cluster": {"worker": ["a:1"], "ps": ["b:2"]}, "task": {"type": "worker", "index": 0}}', "'ps'"),
    ('{"cluster": {"worker": []}, "task": {"type": "worker", "index": 0}}', "non-empty list"),
    ('{"cluster": {"worker": "a:1"}, "task": {"type": "worker", "index": 0}}', "non-empty list"),
    ('{"cluster": {"worker": ["a"]}, "task": {"type": "worker", "index": 0}}', "'a' is not"),
    ('{"cluster": {"worker": ["a:http"]}, "task": {"type": "worker", "index": 0}}', "'a:http' is not"),
    ('{"cluster": {"worker": ["a:70000"]}, "task": {"type": "worker", "index": 0}}', "'a:70000' is not"),
    ('{"cluster": {"worker": [1234]}, "task": {"type": "worker", "index": 0}}', "1234 is not"),
    ('{"cluster": {"worker": ["a:1", "a:1"]}, "task": {"type": "worker", "index": 0}}', "listed twice"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}', "'chief' is not"),
    ('{"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 2}}', "0..1"),
    ('{"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": "0"}}', "'0' is not"),
    ('{"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": true}}', "True is not"),
])
def test_parse_tf_config_malformed(text, message):
    with pytest.raises(UserError, match="TF_CONFIG") as e:
        distribute.parse_tf_config(text)
    assert message in str(e.value)


@pytest.fixture(scope="module")
def arrays():
    """1003 windows: the last batch of 32 is partial (11 windows), as in a real split."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, (1003, 50, 16), dtype=np.uint8)
    y = rng.integers(-32768, 32768, (1003, 50), dtype=np.int16)
    return x, y


def test_epochs_of_any_size_walk_through_the_seeded_passes():
    # One pass per epoch by default: the permutation seeded by (seed, epoch), as every run before --epoch-windows.
    for e in (0, 3):
        np.testing.assert_array_equal(epoch_order(10, 7, e), np.random.default_rng([7, e]).permutation(10))
        np.testing.assert_array_equal(epoch_order(10, 7, e, size=10), epoch_order(10, 7, e))
    passes = np.concatenate([np.random.default_rng([7, p]).permutation(10) for p in range(6)])
    # Shorter and longer epochs cut the same stream of passes: epoch e is its windows e * size .. (e + 1) * size.
    for size in (4, 25):
        got = np.concatenate([epoch_order(10, 7, e, size=size) for e in range(60 // size)])
        np.testing.assert_array_equal(got, passes[:len(got)])
    # Every window once per pass, and a resumed run's epoch 3 is the uninterrupted run's.
    assert sorted(passes[10:20]) == list(range(10))
    np.testing.assert_array_equal(epoch_order(10, 7, 3, size=4), passes[12:16])
    np.testing.assert_array_equal(epoch_order(10, 7, 2, shuffle=False, size=4), [8, 9, 0, 1])


#: Windows per epoch: one pass (1003), part of a pass (300 = 9 batches of 32 and 12), more than a pass.
EPOCH_WINDOWS = [None, 300, 1500]


@pytest.mark.parametrize("epoch_windows", EPOCH_WINDOWS)
def test_tf_dataset_gives_the_window_batches_of_each_epoch(arrays, epoch_windows):
    # Started at epoch 3, as a run resumed after 3 epochs: the same batches as WindowBatches set to epoch 3,
    # and the stream runs on into epoch 4 with that epoch's order.
    x, y = arrays
    wb = WindowBatches(x, y, 32, shuffle=True, seed=5, epoch_windows=epoch_windows)
    wb.set_epoch(3)
    it = iter(make_tf_dataset(x, y, 32, shuffle=True, seed=5, first_epoch=3, repeat=True,
                              epoch_windows=epoch_windows))
    size = epoch_windows or len(x)
    assert steps_per_epoch(size, 32) == len(wb) == -(-size // 32)
    for _ in range(2):
        wb.on_epoch_begin()  # as Keras's fit calls it
        for i in range(len(wb)):
            xb, yb = next(it)
            want_x, want_y = wb[i]
            assert xb.dtype == want_x.dtype == np.uint8 and yb.dtype == want_y.dtype == np.float32
            np.testing.assert_array_equal(xb.numpy(), want_x)
            np.testing.assert_array_equal(yb.numpy(), want_y)
        assert len(want_x) == size - 32 * (len(wb) - 1)


@pytest.mark.parametrize("epoch_windows", EPOCH_WINDOWS)
def test_sharded_tf_datasets_split_each_global_batch(arrays, epoch_windows):
    # 2 workers with 2 replicas each: per step, the four per-replica batches are exactly the global batch of
    # one process (so a distributed run stays comparable), and the two workers read disjoint windows.
    x, y = arrays
    y = y.copy()
    y[:, 0] = np.arange(len(y), dtype=np.int16)  # window id in the first sample
    wb = WindowBatches(x, y, 32, shuffle=True, seed=5, epoch_windows=epoch_windows)
    wb.set_epoch(3)
    workers = [iter(make_tf_dataset(x, y, 32, True, 5, first_epoch=3, repeat=True, num_replicas=4, num_workers=2,
                                    worker_index=w, epoch_windows=epoch_windows)) for w in range(2)]
    size = epoch_windows or len(x)
    steps = steps_per_epoch(size, 32, 4)
    assert steps == len(wb)  # 11, 12 or 28 windows left over: enough to give each of the 4 replicas some
    last = {1003: [3, 3, 3, 2], 300: [3] * 4, 1500: [7] * 4}[size]
    for _ in range(2):
        wb.on_epoch_begin()
        for i in range(steps):
            parts = [[next(it) for _ in range(2)] for it in workers]
            ids = [np.concatenate([np.rint(p[1].numpy()[:, 0, 0] * 32768).astype(int) for p in w]) for w in parts]
            want = np.rint(wb[i][1][:, 0, 0] * 32768).astype(int)
            assert sorted(np.concatenate(ids)) == sorted(want)
            if size <= len(x):  # an epoch longer than a pass may hold a window twice, in different batches
                assert not set(ids[0]) & set(ids[1])
            sizes = [len(p[0]) for w in parts for p in w]
            assert sizes == ([8] * 4 if i < steps - 1 else last)


def test_keras_fit_reads_epoch_e_of_the_batches_in_epoch_e(arrays):
    # Keras's fit calls on_epoch_end once before the first epoch too: the batches of a run's epoch e must still be
    # those of epoch e (those tf.data gives several workers), also for a run resumed at epoch 2.
    x, y = arrays
    seen = []

    class Recording(WindowBatches):
        def __getitem__(self, i):
            seen.append(self.epoch)
            return super().__getitem__(i)

    model = keras.Sequential([keras.Input((x.shape[1], 16)), keras.layers.Flatten(), keras.layers.Dense(x.shape[1])])
    model.compile("sgd", "mse")
    for start in (0, 2):
        seen.clear()
        wb = Recording(x, y[..., None].astype(np.float32)[:, :, 0], 256, shuffle=True, seed=1)
        wb.set_epoch(start)
        model.fit(wb, epochs=start + 2, initial_epoch=start, verbose=0)
        assert sorted(set(seen)) == [start, start + 1], (start, sorted(set(seen)))
        per = len(wb)
        assert seen[-per:] == [start + 1] * per


def free_ports(n):
    """``n`` distinct free TCP ports on 127.0.0.1 (all bound at once, then released for the workers)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def epoch_row(model_dir, epoch):
    """An epoch's row of history.csv: floats, nan where nothing was measured (the probe's columns)."""
    from superres.runs import read_history

    return read_history(model_dir)[epoch - 1]


def train_processes(dataset, jobs, tmp_path, flags=FLAGS):
    """Run ``--train`` for one epoch in one process per ``(model folder, TF_CONFIG or None)``, all at once, on CPU.

    Returns the processes' outputs; fails if one exits non-zero or they are not all done in WORKER_TIMEOUT_S.
    """
    procs, logs = [], []
    try:
        for i, (folder, config) in enumerate(jobs):
            env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT), CUDA_VISIBLE_DEVICES="")
            env.pop("TF_CONFIG", None)
            if config:
                env["TF_CONFIG"] = config
            logs.append(open(tmp_path / f"train-{i}.log", "w+"))
            procs.append(subprocess.Popen(
                [sys.executable, str(ROOT / "rnn-super-resolution.py"), "--train", "--quiet", "--dataset",
                 str(dataset), "--model", str(folder), "--epochs", "1", *flags],
                env=env, stdout=logs[-1], stderr=subprocess.STDOUT))
        deadline = time.monotonic() + WORKER_TIMEOUT_S
        for p in procs:
            p.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        raise AssertionError(f"training did not finish in {WORKER_TIMEOUT_S} s (a hung collective?)\n"
                             + "\n".join(f"process {i}:\n{_read(f)}" for i, f in enumerate(logs)))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    out = [_read(f) for f in logs]
    for i, p in enumerate(procs):
        assert p.returncode == 0, f"process {i} exited {p.returncode}:\n{out[i]}"
    return out


def test_two_workers_train_like_one_process(pipeline, tmp_path):
    """Two CPU workers (MultiWorkerMirroredStrategy), one epoch: same weights on both, loss as one process.

    The reference is the pipeline fixture's single-process run on the same data with the same flags and seed (its
    first epoch; the epoch's batches depend only on the seed and the epoch). The workers see the same
    global batches in the same order (each takes half of each; the gradients are averaged over both), so the
    runs differ only by float rounding: the gradient is the mean of two half-batch means, and RMSprop magnifies
    such differences in its first steps. Measured here the epoch's losses agree to about 1e-4 relative; the 2%
    allowed is far above that noise, not a value tuned to pass.
    """
    reference = pipeline["model"]
    assert FLAGS == TINY  # the pipeline's flags

    workers = [f"127.0.0.1:{p}" for p in free_ports(2)]
    chief, worker = tmp_path / "chief", tmp_path / "worker"  # as on two machines: one model folder each
    t0 = time.perf_counter()
    train_processes(pipeline["dataset"], [(chief, tf_config(workers, 0)), (worker, tf_config(workers, 1))],
                    tmp_path)
    print(f"two workers: {time.perf_counter() - t0:.1f} s")

    # Only the chief writes the model folder; the other worker keeps its checkpoints in worker-1/.
    for name in ("last.keras", "best.keras", "history.csv", "state.json"):
        assert (chief / name).is_file() and (worker / "worker-1" / name).is_file(), name
        assert not (worker / name).exists(), name
    assert not (chief / "worker-0").exists()
    assert json.loads((chief / "state.json").read_text())["epochs_done"] == 1

    a = keras.models.load_model(chief / "last.keras")
    b = keras.models.load_model(worker / "worker-1" / "last.keras")
    assert len(a.weights) == len(b.weights) > 0
    for va, vb in zip(a.weights, b.weights):
        np.testing.assert_array_equal(va.numpy(), vb.numpy(), err_msg=va.path)

    paths = ("dataset_dir", "scan_dir")  # relative to each model folder
    a_cfg, ref_cfg = (json.loads((d / "config.json").read_text()) for d in (chief, reference))
    assert {k: v for k, v in a_cfg.items() if k not in paths} == {k: v for k, v in ref_cfg.items() if k not in paths}
    two, one = epoch_row(chief, 1), epoch_row(reference, 1)
    print(f"epoch 1 loss: one process {one['loss']:.6f}, two workers {two['loss']:.6f}; "
          f"val loss {one['val_loss']:.6f}, {two['val_loss']:.6f}")
    for key in ("loss", "val_loss"):
        assert two[key] == pytest.approx(one[key], rel=0.02), key


@pytest.mark.parametrize("remade, any_cutoff, epoch_windows", [("resampler", False, None), ("cutoff", True, None),
                                                                 ("cutoff", True, 6)])
def test_tf_dataset_remakes_the_batches_of_one_process(remade, any_cutoff, epoch_windows):
    # gen's and cgen's inputs, remade from the targets: two replicas' parts of every global batch are exactly the
    # batch one process remakes (RemadeBatches), window for window, in training (new draws each epoch) and in
    # validation (the same draws every epoch).
    from superres.loader import RemadeBatches

    rng = np.random.default_rng(2)
    y = (rng.standard_normal((10, 4096)) * 3000).astype(np.int16)
    y[:, 0] = np.arange(len(y))  # the window's index in its first sample
    for shuffle in (True, False):
        one = RemadeBatches(y, 4, shuffle=shuffle, seed=3, fixed=not shuffle, any_cutoff=any_cutoff,
                            epoch_windows=epoch_windows)
        one.set_epoch(1)
        it = iter(make_tf_dataset(y, y, 4, shuffle=shuffle, seed=3, first_epoch=1, repeat=True, num_replicas=2,
                                  remade=remade, epoch_windows=epoch_windows))
        assert len(one) == (2 if epoch_windows else 3)
        for _ in range(2):
            one.on_epoch_begin()
            for i in range(len(one)):
                parts = [next(it) for _ in range(2)]
                want_x, want_y = one[i]
                ids = lambda yb: np.rint(np.asarray(yb)[:, 0, 0] * 32768).astype(int)  # noqa: E731
                order = np.argsort(np.concatenate([ids(p[1]) for p in parts]))
                got_y = np.concatenate([np.asarray(p[1]) for p in parts])[order]
                np.testing.assert_array_equal(got_y, want_y)
                if any_cutoff:
                    got_x = np.concatenate([np.asarray(p[0][0]) for p in parts])[order]
                    got_c = np.concatenate([np.asarray(p[0][1]) for p in parts])[order]
                    np.testing.assert_array_equal(got_x, want_x[0])
                    np.testing.assert_array_equal(got_c, want_x[1])
                else:
                    np.testing.assert_array_equal(np.concatenate([np.asarray(p[0]) for p in parts])[order], want_x)


def test_two_workers_train_the_generators_like_one_process(cgen_run, tmp_path):
    """cgen remakes its inputs for every batch (gen's path is the same, its rows checked above): two workers remake
    the same batches from tf.data as one process does from its threads (each window's draw is seeded by the seed,
    the epoch and the window), so the epoch's losses agree within float rounding, and both workers end with the
    same weights. (Before Keras's extra on_epoch_end was accounted for, one process trained on epoch 1's
    batches in epoch 0: 2.8% apart.)

    The one process is the cgen_run fixture's run (conftest: the same dataset, flags and seed, one epoch), as the
    pipeline fixture's run is the BiLSTM's reference above."""
    ds, one = cgen_run["dataset"], cgen_run["model"]
    workers = [f"127.0.0.1:{p}" for p in free_ports(2)]
    chief, worker = tmp_path / "chief", tmp_path / "worker"
    train_processes(ds, [(chief, tf_config(workers, 0)), (worker, tf_config(workers, 1))], tmp_path, CGEN_TINY)
    assert_same_networks(chief, worker)
    assert (chief / "best.onnx").is_file()
    paths = ("dataset_dir", "scan_dir")  # relative to each model folder
    a_cfg, ref_cfg = (json.loads((d / "config.json").read_text()) for d in (chief, one))
    assert {k: v for k, v in a_cfg.items() if k not in paths} == {k: v for k, v in ref_cfg.items() if k not in paths}
    assert_epoch_of_one_process(chief, one, "cgen")


def assert_same_networks(chief, worker):
    """The chief's and the other worker's checkpoints of the epoch hold the same weights, bit for bit."""
    a = keras.models.load_model(chief / "last.keras")
    b = keras.models.load_model(worker / "worker-1" / "last.keras")
    for va, vb in zip(a.weights, b.weights, strict=True):
        np.testing.assert_array_equal(va.numpy(), vb.numpy(), err_msg=va.path)


def assert_epoch_of_one_process(chief, one, label):
    """The workers' first epoch took one process's steps, and its losses are that process's within 2%."""
    two, ref = epoch_row(chief, 1), epoch_row(one, 1)
    print(f"{label} epoch 1 loss: one process {ref['loss']:.6f}, two workers {two['loss']:.6f}; "
          f"val loss {ref['val_loss']:.6f}, {two['val_loss']:.6f}")
    assert ref["steps"] == two["steps"] > 0
    for key in ("loss", "val_loss", "val_mae_16bit"):
        assert two[key] == pytest.approx(ref[key], rel=0.02), key


def test_two_workers_train_the_adversarial_stage_like_one_process(cgen_run, tmp_path):
    """The adversarial fine-tune of cgen (two networks, two optimizers, its own training step, the discriminator
    judging a segment that moves with the step) from the same spectral weights: two workers end with the same
    generator and discriminator, and their epoch's losses are one process's within float rounding."""
    from superres.adversarial import ADVERSARIAL_STATE

    flags = [*CGEN_TINY, "--adv-weight", "0.5", "--disc-channels", "4", "--disc-segment", "2048", "--init-from",
             str(cgen_run["model"])]
    workers = [f"127.0.0.1:{p}" for p in free_ports(2)]
    one, chief, worker = tmp_path / "one", tmp_path / "chief", tmp_path / "worker"
    train_processes(cgen_run["dataset"], [(one, None), (chief, tf_config(workers, 0)),
                                          (worker, tf_config(workers, 1))], tmp_path, flags)
    assert_same_networks(chief, worker)
    with np.load(chief / ADVERSARIAL_STATE) as fa, np.load(worker / "worker-1" / ADVERSARIAL_STATE) as fb, \
            np.load(one / ADVERSARIAL_STATE) as fo:
        assert set(fa) == set(fb) == set(fo)
        for k in fa:
            np.testing.assert_array_equal(fa[k], fb[k], err_msg=k)
        # The discriminator trained as many steps as one process's did.
        steps = [k for k in fa if k.startswith("d_opt") and fa[k].shape == () and fa[k].dtype.kind == "i"]
        assert steps and all(fa[k] == fo[k] > 0 for k in steps)
    assert_epoch_of_one_process(chief, one, "cgen adversarial")


def _read(f):
    f.flush()
    f.seek(0)
    return f.read()


def test_a_worker_whose_peers_never_start_gives_up_with_a_message(pipeline, tmp_path):
    """One worker of two, the other never started: it is ended (SIGKILL: the runtime holds the interpreter and
    catches SIGTERM while it waits) with a message saying whom it waited for, instead of waiting forever."""
    workers = [f"127.0.0.1:{p}" for p in free_ports(2)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT), CUDA_VISIBLE_DEVICES="",
               TF_CONFIG=tf_config(workers, 0))
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, str(ROOT / "rnn-super-resolution.py"), "--train", "--quiet", "--dataset",
         str(pipeline["dataset"]), "--model", str(tmp_path / "chief"), "--epochs", "1", "--worker-timeout", "3",
         *FLAGS], env=env, capture_output=True, text=True, timeout=WORKER_TIMEOUT_S)
    assert proc.returncode == -9, proc.stderr
    assert f"not every worker joined within 3 s (this is worker 0, waiting for {workers[1]})" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert time.monotonic() - t0 < WORKER_TIMEOUT_S
    assert not (tmp_path / "chief" / "last.keras").exists()
