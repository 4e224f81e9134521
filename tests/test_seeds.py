"""Several seeds in one run: side by side under vmap, each the same as its single-seed run."""

import dataclasses

import pytest
import torch

from icl_book import experiments
from icl_book.cli import main
from icl_book.store import ArtifactStore
from icl_book.checkpoints import has_checkpoint
from icl_book.config import ConfigError
from icl_book.train import can_stack, train, train_seeds

SEEDS = (0, 1, 2)


@pytest.fixture(autouse=True)
def _one_thread():
    # Six small trainings per test: one thread keeps them quick on a loaded two-core machine.
    torch.set_num_threads(1)


def setup(name="linreg", steps=30, **train_kw):
    exp = experiments.get(name)
    p = exp.profile("smoke")
    cfg = dataclasses.replace(p.train, steps=steps, log_every=10, checkpoint_every=10, warmup_steps=5, **train_kw)
    return exp, p, cfg


def seeded(exp, p, cfg, seed):
    q = dataclasses.replace(p, train=dataclasses.replace(cfg, seed=seed))
    return exp.build_model(q), q.train


def single(exp, p, cfg, seed, run_dir, **kw):
    model, c = seeded(exp, p, cfg, seed)
    return train(model, exp.problem(p), c, run_dir, progress=False, **kw)


def together(exp, p, cfg, seeds, root, **kw):
    models, cfgs = zip(*(seeded(exp, p, cfg, s) for s in seeds))
    return train_seeds(list(models), exp.problem(p), list(cfgs), [root / f"seed{s}" for s in seeds],
                       progress=False, **kw)


def max_diff(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    return max((sa[k] - sb[k]).abs().max().item() for k in sa)


def test_artifact_names_follow_the_seed_convention():
    assert experiments.artifact_name("linreg", "cpu") == "linreg-cpu"
    assert experiments.artifact_name("linreg", "cpu", seed=0) == "linreg-cpu"
    assert experiments.artifact_name("linreg", "cpu", seed=2) == "linreg-cpu-seed2"
    with pytest.raises(ConfigError, match="integer >= 0"):
        experiments.artifact_name("linreg", "cpu", seed=-1)


@pytest.mark.parametrize("name", ["linreg", "classify-proportional"])
def test_seeds_side_by_side_match_their_single_seed_runs(name, tmp_path):
    exp, p, cfg = setup(name)
    alone = [single(exp, p, cfg, s, tmp_path / f"alone{s}") for s in SEEDS]
    joint = together(exp, p, cfg, SEEDS, tmp_path / "joint")
    assert [r.seeds_together for r in joint] == [SEEDS] * 3
    for a, j in zip(alone, joint):
        # Same data, same initial weights: the batched products only sum in another order.
        assert max_diff(a.model, j.model) < 2e-3
        la, lj = [h["loss"] for h in a.metrics["history"]], [h["loss"] for h in j.metrics["history"]]
        assert lj == pytest.approx(la, rel=1e-4)
    # The seeds really differ (different weights and data), so the match above is per seed.
    assert max_diff(joint[0].model, joint[1].model) > 1e-2


def test_an_interrupted_run_of_seeds_resumes_to_the_same_weights(tmp_path):
    exp, p, cfg = setup()
    whole = together(exp, p, cfg, SEEDS, tmp_path / "whole")
    part = together(exp, p, cfg, SEEDS, tmp_path / "part", stop_after=10)
    assert [has_checkpoint(tmp_path / "part" / f"seed{s}") for s in SEEDS] == [10, 10, 10]
    assert any(max_diff(a.model, b.model) > 0 for a, b in zip(part, whole))
    resumed = together(exp, p, cfg, SEEDS, tmp_path / "part", resume=True)
    for a, b in zip(resumed, whole):
        assert max_diff(a.model, b.model) == 0.0  # the same computation repeated
        assert a.metrics["history"] == b.metrics["history"]


def test_a_seed_checkpoint_of_a_joint_run_resumes_alone(tmp_path):
    exp, p, cfg = setup()
    together(exp, p, cfg, SEEDS, tmp_path / "joint", stop_after=20)
    resumed = single(exp, p, cfg, 1, tmp_path / "joint" / "seed1", resume=True)
    assert resumed.resumed_from == 20
    straight = single(exp, p, cfg, 1, tmp_path / "straight")
    assert max_diff(resumed.model, straight.model) < 2e-3


def test_checkpoints_at_different_steps_are_refused(tmp_path):
    exp, p, cfg = setup()
    together(exp, p, cfg, (0, 1), tmp_path, stop_after=10)
    single(exp, p, cfg, 1, tmp_path / "seed1", resume=True, stop_after=10)
    with pytest.raises(ConfigError, match="different steps"):
        together(exp, p, cfg, (0, 1), tmp_path, resume=True)


def test_models_vmap_cannot_batch_train_one_after_another(tmp_path):
    exp, p, cfg = setup("ginc-lstm", steps=10)
    assert "recurrent" in can_stack(exp.build_model(p))
    alone = [single(exp, p, cfg, s, tmp_path / f"alone{s}") for s in (0, 1)]
    joint = together(exp, p, cfg, (0, 1), tmp_path / "joint")
    assert [r.seeds_together for r in joint] == [(0,), (1,)]
    for a, j in zip(alone, joint):
        assert max_diff(a.model, j.model) == 0.0  # one after another: the same computation
    with pytest.raises(ConfigError, match="cannot train side by side"):
        together(exp, p, cfg, (0, 1), tmp_path / "forced", together=True)


def test_seeds_must_differ_only_in_the_seed(tmp_path):
    exp, p, cfg = setup()
    models = [exp.build_model(p) for _ in range(2)]
    with pytest.raises(ConfigError, match="every training setting but the seed"):
        train_seeds(models, exp.problem(p), [cfg, dataclasses.replace(cfg, seed=1, lr=1e-4)],
                    [tmp_path / "a", tmp_path / "b"], progress=False)
    with pytest.raises(ConfigError, match="each seed once"):
        train_seeds(models, exp.problem(p), [cfg, cfg], [tmp_path / "a", tmp_path / "b"], progress=False)


def test_cli_stores_one_artifact_per_seed_with_the_command_that_remakes_it(tmp_store, tmp_path, capsys):
    args = ["train", "linreg", "--profile", "smoke", "--quiet", "--run-dir", str(tmp_path),
            "--set", "steps=20", "--set", "warmup_steps=2", "--seeds", "0,2"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "stored linreg-smoke in" in out and "stored linreg-smoke-seed2 in" in out
    zero, two = tmp_store.entry("linreg-smoke"), tmp_store.entry("linreg-smoke-seed2")
    assert "--seeds" not in zero["command"] and "--seeds 2" in two["command"]
    assert zero["seeds_together"] == two["seeds_together"] == [0, 2]
    assert tmp_store.results("linreg-smoke-seed2")["train"]["seed"] == 2
    # The recorded command remakes the seed alone, under the same name.
    assert main(["retrain", "linreg-smoke-seed2", "--run-dir", str(tmp_path / "again")]) == 0
    assert ArtifactStore(tmp_store.root).entry("linreg-smoke-seed2")["command"] == two["command"]


@pytest.mark.parametrize("extra, message", [
    (["--seeds", "0,x"], "--seeds takes integers"),
    (["--seeds", "1,1"], "distinct integers"),
    (["--seeds", "0,1", "--set", "seed=3"], "give the seed once"),
])
def test_bad_seeds_exit_2_with_one_line(extra, message, tmp_store, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        raise SystemExit(main(["train", "linreg", "--profile", "smoke", "--quiet", "--run-dir", str(tmp_path), *extra]))
    code = e.value.code
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1
