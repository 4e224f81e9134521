"""``icl-book``: exit codes and what each command prints."""

import json
import subprocess
import sys

import pytest
import torch

from icl_book.cli import main


def cli(*args):
    return subprocess.run([sys.executable, "-m", "icl_book.cli", *args], capture_output=True, text=True)


@pytest.mark.parametrize("args, message", [
    (["train", "nope", "--profile", "cpu"], "no experiment named 'nope'"),
    (["train", "linreg", "--profile", "huge"], "invalid choice: 'huge'"),
    (["train", "linreg"], "--profile"),
    (["train", "linreg", "--profile", "smoke", "--set", "lr"], "--set takes FIELD=VALUE"),
    (["train", "linreg", "--profile", "smoke", "--set", "steps=-3"], "steps must be > 0"),
    (["train", "linreg", "--profile", "smoke", "--resume", "--fresh"], "not allowed with"),
    (["train", "linreg", "--profile", "smoke", "--set", "lr=1e999"], "lr must be finite"),
    (["train", "linreg", "--profile", "smoke", "--set", "lr=30"], "lr must be at most"),
    (["train", "linreg", "--profile", "smoke", "--set", "model.n_layers=6"], "has no field 'n_layers'"),
    (["train", "linreg", "--profile", "smoke", "--set", "model.d_model=31"], "must be divisible by n_head"),
    (["train", "linreg", "--profile", "smoke", "--set", "task.d=2.5"], "LinearRegressionTask.d must be int"),
    (["train", "linreg", "--profile", "smoke", "--threads", "0"], "--threads must be at least 1"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_arguments_exit_2_with_one_line(args, message, capsys, tmp_store, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        code = main(args)
        raise SystemExit(code)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err


def test_cuda_without_a_gpu_is_a_clear_error(capsys, tmp_store, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    code = main(["train", "linreg", "--profile", "smoke", "--device", "cuda", "--run-dir", str(tmp_path)])
    assert code == 2 and "no CUDA device" in capsys.readouterr().err


def test_list_shows_experiments_and_artifacts():
    out = cli("list")
    assert out.returncode == 0
    assert "linreg" in out.stdout and "smoke" in out.stdout and "cpu" in out.stdout


def test_verify_passes_on_the_shipped_store_and_fails_on_a_corrupted_copy(shipped_copy):
    # the shipped store (in a subprocess, no override) and the copy verify, until one byte changes
    import os

    env = {k: v for k, v in os.environ.items() if k != "ICL_BOOK_ARTIFACTS"}
    ok = subprocess.run([sys.executable, "-m", "icl_book.cli", "verify"], capture_output=True, text=True, env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert main(["verify"]) == 0
    name = shipped_copy.names()[0]
    path = shipped_copy.path(name, "results.json")
    path.write_text(path.read_text().replace("0", "1", 1))
    assert main(["verify"]) == 1


def test_claims_json_lists_chapter_0(tmp_store):
    """The scorecard as JSON, on a store holding one shipped artifact (the whole card is computed by
    the appendix's build) and the regime table: chapter 0's cpu claims have values, the rest say 'not run'."""
    from icl_book.store import PACKAGE_STORE, ArtifactStore

    for name in ("linreg-cpu", "regime-cpu"):   # a model-side claim needs its model's measured regime
        tmp_store.copy_from(ArtifactStore(PACKAGE_STORE), name)
    out = cli("claims", "--json")                 # the subprocess inherits ICL_BOOK_ARTIFACTS = tmp_store
    assert out.returncode == 0, out.stderr
    card = {c["id"]: c for c in json.loads(out.stdout)}
    assert {"ch0.error-at-2d.cpu", "ch0.error-at-2d.paper", "ch0.follows-bayes"} <= set(card)
    assert card["ch0.follows-bayes"]["ours"] is not None and card["ch0.error-at-2d.paper"]["verdict"] == "not run"
    assert all(c["verdict"] in ("reproduced", "partly", "not reproduced", "not reached", "not run")
               for c in card.values())


def test_the_claims_table_ends_with_its_tally(tmp_store, capsys):
    from icl_book.store import PACKAGE_STORE, ArtifactStore

    for name in ("linreg-cpu", "regime-cpu"):
        tmp_store.copy_from(ArtifactStore(PACKAGE_STORE), name)
    assert main(["claims"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    counts = {v: sum(f" {v} " in line for line in lines[:-1]) for v in ("reproduced", "not run")}
    assert lines[-1].startswith(f"{len(lines) - 1} claims: ")
    assert f"{counts['not run']} not run" in lines[-1] and counts["reproduced"] >= 1


def test_train_smoke_end_to_end_through_the_cli(tmp_store, tmp_path, capsys):
    assert main(["train", "linreg", "--profile", "smoke", "--quiet", "--run-dir", str(tmp_path),
                 "--set", "steps=20", "--set", "warmup_steps=2"]) == 0
    assert "stored linreg-smoke" in capsys.readouterr().out
    entry = tmp_store.entry("linreg-smoke")
    assert "--set steps=20" in entry["command"]
    assert main(["verify"]) == 0


SMOKE = ["train", "linreg", "--profile", "smoke", "--quiet", "--set", "steps=60", "--set", "checkpoint_every=20",
         "--set", "log_every=20", "--set", "warmup_steps=2"]


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_an_interrupt_prints_the_command_that_resumes_this_very_run(tmp_path, capsys, monkeypatch):
    """Ctrl-C mid-run exits 130 with the exact command that continues it (overrides, run dir,
    store, device, threads); that command ends with the weights of a run never interrupted."""
    import shlex

    import icl_book.train as train_mod
    from icl_book.store import ArtifactStore

    real_lr = train_mod.learning_rate

    def ctrl_c_at_step_30(step, cfg):
        if step == 30:
            raise KeyboardInterrupt
        return real_lr(step, cfg)

    monkeypatch.setattr(train_mod, "learning_rate", ctrl_c_at_step_30)
    a = ["--run-dir", str(tmp_path / "a"), "--store", str(tmp_path / "a-store")]
    assert main(SMOKE + a) == 130
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert "interrupted; continue from its checkpoint at step 20 with: " in err
    command = err.split(" with: ", 1)[1]
    expected = ["icl-book", *SMOKE[:4], "--device", "cpu", *SMOKE[5:], "--threads", "2", *a, "--resume", "--quiet"]
    assert shlex.split(command) == expected
    monkeypatch.undo()
    assert main(shlex.split(command)[1:]) == 0
    assert main(SMOKE + ["--run-dir", str(tmp_path / "b"), "--store", str(tmp_path / "b-store")]) == 0
    resumed = ArtifactStore(tmp_path / "a-store").weights("linreg-smoke")
    straight = ArtifactStore(tmp_path / "b-store").weights("linreg-smoke")
    assert resumed.keys() == straight.keys() and all(torch.equal(resumed[k], straight[k]) for k in resumed)


def test_fresh_keeps_the_old_checkpoint_until_the_new_run_has_passed_its_checks(tmp_store, tmp_path, capsys,
                                                                                 monkeypatch):
    from icl_book.checkpoints import has_checkpoint

    run = ["--run-dir", str(tmp_path)]
    assert main(SMOKE + run) == 0
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(SMOKE + run + ["--fresh", "--device", "cuda"]) == 2
    assert "no CUDA device" in one_line_error(capsys)
    assert has_checkpoint(tmp_path / "linreg-smoke") == 60


def test_resume_with_no_checkpoint_exits_2(tmp_store, tmp_path, capsys):
    assert main(SMOKE + ["--run-dir", str(tmp_path), "--resume"]) == 2
    assert "holds no checkpoint to resume" in one_line_error(capsys)
    assert tmp_store.names() == []


def test_each_failure_has_one_line_and_its_own_exit_status(tmp_store, tmp_path, capsys):
    import errno
    import os

    from icl_book import experiments

    (tmp_path / "file").write_text("x")
    assert main(SMOKE + ["--run-dir", str(tmp_path / "file")]) == 2
    assert "is a file" in one_line_error(capsys)

    real_loss = experiments.RegressionProblem.loss
    with pytest.MonkeyPatch.context() as m:
        m.setattr(experiments.RegressionProblem, "loss", lambda self, model, b: real_loss(self, model, b) * float("nan"))
        assert main(SMOKE + ["--run-dir", str(tmp_path / "nan")]) == 4
    assert "training diverged" in one_line_error(capsys)

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.MonkeyPatch.context() as m:
        m.setattr(os, "fsync", full)
        assert main(SMOKE + ["--run-dir", str(tmp_path / "full")]) == 5
    err = one_line_error(capsys)
    assert "the disk is full" in err and "free some space" in err

    tmp_store.root.mkdir(parents=True, exist_ok=True)
    tmp_store.manifest_path.write_text('{"linreg-cpu": []}')
    assert main(["list"]) == 3
    assert "is not a manifest" in one_line_error(capsys)


def test_a_closed_pipe_ends_the_listing_with_one_line(tmp_path):
    """``icl-book list | head``: the reader goes away before the output ends."""
    proc = subprocess.Popen([sys.executable, "-m", "icl_book.cli", "list"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 141, err
    assert err.strip() == "icl-book: error: the output was closed before it ended (broken pipe)"


def test_a_smoke_or_overridden_run_leaves_the_package_store_alone(tmp_path, monkeypatch, capsys):
    from icl_book.store import PACKAGE_STORE

    monkeypatch.delenv("ICL_BOOK_ARTIFACTS", raising=False)
    before = (PACKAGE_STORE / "manifest.json").read_bytes()
    assert main(SMOKE + ["--run-dir", str(tmp_path)]) == 0
    assert f"stored linreg-smoke in {tmp_path / 'artifacts'}" in capsys.readouterr().out
    assert (PACKAGE_STORE / "manifest.json").read_bytes() == before
    from icl_book.cli import _parser, _target_store

    overridden = _parser().parse_args(["train", "linreg", "--profile", "cpu", "--set", "lr=1e-4"])
    assert _target_store(overridden, {"lr": "1e-4"}).root == __import__("pathlib").Path("runs").absolute() / "artifacts"
    plain = _parser().parse_args(["train", "linreg", "--profile", "cpu"])
    assert _target_store(plain, {}).root == PACKAGE_STORE


def test_import_copies_an_artifact_and_its_entry_and_refuses_a_corrupt_one(tmp_path, tmp_store, capsys):
    from icl_book.store import ArtifactStore

    other = ArtifactStore(tmp_path / "other")
    other.save("x-cpu", results={"a": 1}, provenance={"command": "icl-book train x --profile cpu --fresh"})
    assert main(["import", str(other.root), "x-cpu"]) == 0
    assert tmp_store.results("x-cpu") == {"a": 1} and tmp_store.entry("x-cpu") == other.entry("x-cpu")
    other.path("x-cpu", "results.json").write_text('{"a": 2}')
    assert main(["import", str(other.root), "x-cpu"]) == 3
    assert "is corrupt" in one_line_error(capsys)
    assert tmp_store.results("x-cpu") == {"a": 1}
    assert main(["import", str(tmp_path / "nowhere"), "x-cpu"]) == 3


def test_retrain_runs_each_recorded_command_into_the_store(tmp_store, tmp_path, capsys):
    assert main(["train", "linreg", "--profile", "smoke", "--quiet", "--run-dir", str(tmp_path),
                 "--set", "steps=20", "--set", "warmup_steps=2"]) == 0
    first = tmp_store.entry("linreg-smoke")
    assert first["command"] == "icl-book train linreg --profile smoke --set steps=20 --set warmup_steps=2 --fresh --quiet"
    assert main(["retrain", "linreg-smoke", "--run-dir", str(tmp_path)]) == 0
    again = tmp_store.entry("linreg-smoke")
    assert again["created"] >= first["created"] and again["files"] == first["files"]
    assert main(["retrain", "nope-cpu"]) == 3
