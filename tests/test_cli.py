"""``icl-book``: exit codes and what each command prints."""

import json
import subprocess
import sys

import pytest

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
    (["frobnicate"], "invalid choice"),
])
def test_bad_arguments_exit_2_with_one_line(args, message, capsys):
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


def test_claims_json_lists_chapter_0():
    out = cli("claims", "--json")
    assert out.returncode == 0
    card = json.loads(out.stdout)
    ids = {c["id"] for c in card}
    assert {"ch0.error-at-2d.cpu", "ch0.error-at-2d.paper", "ch0.follows-bayes"} <= ids
    assert all(c["verdict"] in ("reproduced", "partly", "not reproduced", "not run") for c in card)


def test_train_smoke_end_to_end_through_the_cli(tmp_store, tmp_path, capsys):
    assert main(["train", "linreg", "--profile", "smoke", "--quiet", "--run-dir", str(tmp_path),
                 "--set", "steps=20", "--set", "warmup_steps=2"]) == 0
    assert "stored linreg-smoke" in capsys.readouterr().out
    entry = tmp_store.entry("linreg-smoke")
    assert "--set steps=20" in entry["command"]
    assert main(["verify"]) == 0


def test_an_interrupted_training_run_resumes_to_the_same_weights(tmp_path):
    """Ctrl-C mid-run exits 130 and names the resume command; --resume then ends with the weights
    of a run that was never interrupted."""
    import os
    import signal
    import time

    from icl_book.store import ArtifactStore

    def env(store):
        return {**os.environ, "ICL_BOOK_ARTIFACTS": str(tmp_path / store)}

    base = [sys.executable, "-m", "icl_book.cli", "train", "linreg", "--profile", "smoke", "--quiet",
            "--set", "steps=120", "--set", "checkpoint_every=20", "--set", "log_every=20"]
    proc = subprocess.Popen(base + ["--run-dir", str(tmp_path / "a")], env=env("a-store"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ckpt = tmp_path / "a" / "linreg-smoke" / "checkpoint.json"
    deadline = time.time() + 120
    while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the run finished before it could be interrupted")
    assert proc.returncode == 130, err
    assert "--resume" in err
    resumed = subprocess.run(base + ["--run-dir", str(tmp_path / "a"), "--resume"], env=env("a-store"),
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    straight = subprocess.run(base + ["--run-dir", str(tmp_path / "b")], env=env("b-store"),
                              capture_output=True, text=True)
    assert straight.returncode == 0, straight.stderr
    a = ArtifactStore(tmp_path / "a-store").weights("linreg-smoke")
    b = ArtifactStore(tmp_path / "b-store").weights("linreg-smoke")
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
