"""Data parallel through torchrun (two gloo processes on the CPU): the same global batch gives the
single-process weights to float tolerance, only rank 0 writes, and a run resumes under another
number of processes."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from icl_book.cli import main
from icl_book.store import ArtifactStore
from icl_book.checkpoints import has_checkpoint
from icl_book.train import train

sys.path.insert(0, str(Path(__file__).parent))
from ddp_worker import config  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)  # the torchrun processes run one thread each (resume checks the count)


def torchrun(*args, nproc=2):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           f"--nproc-per-node={nproc}", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def weights(store: ArtifactStore, name: str) -> dict:
    return load_file(str(store.root / name / "weights.safetensors"))


def test_two_processes_reach_the_single_process_weights_at_the_same_global_batch(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("ICL_BOOK_ARTIFACTS", raising=False)
    train_args = ["train", "linreg", "--profile", "smoke", "--quiet", "--threads", "1",
                  "--set", "steps=20", "--set", "warmup_steps=2", "--set", "checkpoint_every=10"]
    proc = torchrun("-m", "icl_book.cli", *train_args, "--run-dir", str(tmp_path / "ddp"),
                    "--store", str(tmp_path / "ddp-store"))
    assert proc.stdout.count("stored linreg-smoke") == 1  # rank 0 alone reports (and writes)
    assert main([*train_args, "--run-dir", str(tmp_path / "one"), "--store", str(tmp_path / "one-store")]) == 0
    ddp, one = ArtifactStore(tmp_path / "ddp-store"), ArtifactStore(tmp_path / "one-store")
    assert ddp.entry("linreg-smoke")["processes"] == 2 and "processes" not in one.entry("linreg-smoke")
    a, b = weights(ddp, "linreg-smoke"), weights(one, "linreg-smoke")
    assert a.keys() == b.keys()
    for k in a:  # each process sums half the batch, then the halves' gradients are averaged
        torch.testing.assert_close(a[k], b[k], rtol=1e-3, atol=1e-4)
    la = [h["loss"] for h in ddp.results("linreg-smoke")["history"]]
    lb = [h["loss"] for h in one.results("linreg-smoke")["history"]]
    assert la == pytest.approx(lb, rel=1e-4)  # the logged loss is the global batch's
    assert sorted(p.name for p in (tmp_path / "ddp" / "linreg-smoke").iterdir()) == [".lock", "checkpoint-00000020"]


def test_a_data_parallel_checkpoint_resumes_in_one_process(tmp_path):
    torchrun("tests/ddp_worker.py", str(tmp_path / "run"), "20", "10")
    assert has_checkpoint(tmp_path / "run") == 10
    exp, p, cfg = config(20)
    resumed = train(exp.build_model(p), exp.problem(p), cfg, tmp_path / "run", resume=True, progress=False)
    assert resumed.resumed_from == 10
    straight = train(exp.build_model(p), exp.problem(p), cfg, tmp_path / "straight", progress=False)
    for (k, a), (_, b) in zip(resumed.model.state_dict().items(), straight.model.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4, msg=k)
    assert [h["loss"] for h in resumed.metrics["history"]] == pytest.approx(
        [h["loss"] for h in straight.metrics["history"]], rel=1e-4)


def test_a_global_batch_that_does_not_split_over_the_processes_is_refused(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=3",
                           "-m", "icl_book.cli", "train", "linreg", "--profile", "smoke", "--quiet",
                           "--set", "steps=4", "--set", "warmup_steps=1", "--run-dir", str(tmp_path),
                           "--store", str(tmp_path / "store")],
                          cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and "must split evenly over the 3 processes" in proc.stderr
