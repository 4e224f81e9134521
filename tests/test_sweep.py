"""Sweeps through submitit's local executor: one job per (experiment, seed), artifacts collected,
an interrupted seed resumed from its checkpoint, a finished sweep not run again."""

import dataclasses
import shutil

import pytest
import torch

from icl_book import experiments
from icl_book.cli import main
from icl_book.store import ArtifactStore
from icl_book.train import train

pytest.importorskip("submitit")

SETS = ["--set", "steps=20", "--set", "warmup_steps=2", "--set", "checkpoint_every=10", "--set", "log_every=10"]


def test_a_sweep_trains_each_seed_as_a_job_and_resumes_what_was_interrupted(tmp_path, capsys):
    folder, store = tmp_path / "sweep", tmp_path / "store"
    # Seed 1 was interrupted at step 10 (its checkpoint lies in the sweep's run directory).
    exp = experiments.get("linreg")
    p = exp.profile("smoke")
    cfg = dataclasses.replace(p.train, steps=20, warmup_steps=2, checkpoint_every=10, log_every=10, seed=1)
    torch.set_num_threads(1)
    q = dataclasses.replace(p, train=cfg)
    identity = {"experiment": "linreg", "profile": "smoke", "task": q.task.to_dict(), "model": q.model.to_dict()}
    train(exp.build_model(q), exp.problem(q), cfg, folder / "runs" / "linreg-smoke-seed1", progress=False,
          stop_after=10, identity=identity)
    args = ["sweep", "linreg", "--profile", "smoke", "--seeds", "0,1", "--launcher", "local", "--threads", "1",
            "--folder", str(folder), "--store", str(store), *SETS]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "linreg-smoke: trained" in out and "linreg-smoke-seed1: resumed from step 10" in out
    assert out.count("submitted ") == 2
    collected = ArtifactStore(store)
    assert collected.names() == ["linreg-smoke", "linreg-smoke-seed1"]
    assert collected.results("linreg-smoke-seed1")["train"]["seed"] == 1
    assert "--seeds 1" in collected.entry("linreg-smoke-seed1")["command"]
    # Run again: nothing left to do, nothing submitted, the store unchanged.
    before = (store / "manifest.json").read_text()
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "submitted" not in out and out.count("already done") == 2
    assert (store / "manifest.json").read_text() == before


def test_a_rerun_with_other_settings_trains_afresh_instead_of_collecting_the_old_artifact(tmp_path, capsys):
    folder, store = tmp_path / "sweep", tmp_path / "store"
    base = ["sweep", "linreg", "--profile", "smoke", "--seeds", "0", "--threads", "1", "--folder", str(folder),
            "--store", str(store), *SETS]
    assert main(base) == 0
    first = ArtifactStore(store).results("linreg-smoke")
    for changed in (["--set", "lr=2e-3"], ["--threads", "2"]):
        args = base + changed
        assert main(args) == 0
        out = capsys.readouterr().out
        assert "already done" not in out and "linreg-smoke: trained" in out, out
        assert main(args) == 0 and "already done" in capsys.readouterr().out   # the same settings: done
        entry, results = ArtifactStore(store).entry("linreg-smoke"), ArtifactStore(store).results("linreg-smoke")
        if "--set" in changed:
            assert results["train"]["lr"] == 2e-3 != first["train"]["lr"]
        else:
            assert "--threads 2" in entry["command"] and results["train"]["lr"] == first["train"]["lr"]


def test_a_failing_job_exits_7_with_its_log_and_slurm_needs_slurm(tmp_path, capsys):
    folder = tmp_path / "s"
    (folder / "runs").mkdir(parents=True)
    (folder / "runs" / "linreg-smoke").write_text("not a run directory")  # the job's training fails on it
    args = ["sweep", "linreg", "--profile", "smoke", "--seeds", "0", "--folder", str(folder),
            "--store", str(tmp_path / "store"), *SETS]
    assert main(args) == 7
    err = capsys.readouterr().err.strip()
    assert "sweep jobs failed: linreg-smoke" in err and "exited with status 2" in err and ".err" in err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "store" / "linreg-smoke").exists()
    assert main(["sweep", "nope", "--profile", "smoke", "--seeds", "0", "--folder", str(tmp_path / "t")]) == 2
    if shutil.which("sbatch") is None:
        assert main(["sweep", "linreg", "--profile", "smoke", "--seeds", "0", "--launcher", "slurm",
                     "--folder", str(tmp_path / "u"), "--store", str(tmp_path / "store2")]) == 2
        assert "needs SLURM" in capsys.readouterr().err
