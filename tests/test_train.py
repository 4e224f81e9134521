"""The training loop: validated config, determinism, resume equivalence, a run that learns."""

import json

import pytest
import torch

from icl_book import experiments
from icl_book.checkpoints import has_checkpoint
from icl_book.config import ConfigError, with_overrides
from icl_book.train import TrainConfig, learning_rate, train


def smoke(steps=40, **train_kw):
    exp = experiments.get("linreg")
    p = exp.profile("smoke")
    cfg = TrainConfig(**{**p.train.to_dict(), "steps": steps, "log_every": 10, "checkpoint_every": 10,
                         "warmup_steps": 5, **train_kw})
    return exp, p, cfg


def weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def run_smoke(tmp_path, name, steps=40, stop_after=None, resume=False, **kw):
    exp, p, cfg = smoke(steps, **kw)
    model = exp.build_model(p)
    return train(model, exp.problem(p), cfg, tmp_path / name, progress=False, stop_after=stop_after,
                 resume=resume)


@pytest.mark.parametrize("field, value, message", [
    ("steps", 0, "steps must be > 0"),
    ("lr", -1e-3, "lr must be > 0"),
    ("schedule", "cosin", "schedule must be one of"),
    ("precision", "fp16", "precision must be one of"),
    ("batch_size", 3.5, "batch_size must be int"),
    ("beta2", 1.0, "beta2 must lie in"),
    ("warmup_steps", 5000, "exceeds steps"),
    ("grad_clip", True, "grad_clip must be float"),
    ("lr", float("nan"), "lr must be finite"),
    ("lr", float("inf"), "lr must be finite"),
    ("lr", 30.0, "lr must be at most 1.0"),
    ("weight_decay", float("nan"), "weight_decay must be finite"),
])
def test_a_wrong_config_value_is_a_clear_error(field, value, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**{field: value})


def test_overrides_parse_and_validate():
    cfg = with_overrides(TrainConfig(), {"lr": "3e-4", "steps": "20", "schedule": "linear", "warmup_steps": "0"})
    assert (cfg.lr, cfg.steps, cfg.schedule) == (3e-4, 20, "linear")
    assert isinstance(with_overrides(TrainConfig(), {"lr": "1"}).lr, float)
    with pytest.raises(ConfigError, match="no field 'learning_rate'"):
        with_overrides(TrainConfig(), {"learning_rate": "1e-3"})
    with pytest.raises(ConfigError, match="steps must be int"):
        with_overrides(TrainConfig(), {"steps": "'many'"})


def test_learning_rate_schedule():
    cfg = TrainConfig(steps=100, lr=1.0, warmup_steps=10, min_lr_ratio=0.1)
    assert learning_rate(0, cfg) == pytest.approx(0.1)
    assert learning_rate(9, cfg) == pytest.approx(1.0)
    assert learning_rate(10, cfg) == pytest.approx(1.0)
    assert learning_rate(100, cfg) == pytest.approx(0.1)
    lrs = [learning_rate(s, cfg) for s in range(10, 100)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))


def test_same_seed_gives_identical_weights_on_cpu(tmp_path):
    a = run_smoke(tmp_path, "a", steps=20).model
    b = run_smoke(tmp_path, "b", steps=20).model
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    c = run_smoke(tmp_path, "c", steps=20, seed=1).model
    assert not torch.equal(a.embed.weight, c.embed.weight)


def test_resume_after_interruption_reaches_the_same_weights(tmp_path):
    straight = run_smoke(tmp_path, "straight", steps=40)
    # Interrupt after 25 steps: the last checkpoint is at step 25 (the stop) -- then resume.
    part = run_smoke(tmp_path, "interrupted", steps=40, stop_after=25)
    assert has_checkpoint(tmp_path / "interrupted") == 25
    del part
    resumed = run_smoke(tmp_path, "interrupted", steps=40, resume=True)
    assert resumed.resumed_from == 25
    for (k, va), vb in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(va, vb), k
    assert [h["loss"] for h in straight.metrics["history"]] == [h["loss"] for h in resumed.metrics["history"]]


def test_a_compile_that_fails_falls_back_to_eager_training(tmp_path, monkeypatch):
    """A machine without a C++ compiler must still train a profile that asks for torch.compile:
    the run warns and goes on eagerly, to the very weights of an eager run."""
    def broken_compile(model, mode=None):
        def call(*args, **kwargs):
            raise RuntimeError("no C++ compiler found\nlong traceback")
        return call
    monkeypatch.setattr(torch, "compile", broken_compile)
    with pytest.warns(UserWarning, match="torch.compile .* failed, training without it: RuntimeError: no C"):
        fallen = run_smoke(tmp_path, "fallen", steps=10, compile="default")
    eager = run_smoke(tmp_path, "eager", steps=10)
    a, b = weights(fallen.model), weights(eager.model)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_an_existing_checkpoint_is_never_silently_overwritten(tmp_path):
    run_smoke(tmp_path, "r", steps=20, stop_after=10)
    with pytest.raises(ConfigError, match="already holds a checkpoint at step 10"):
        run_smoke(tmp_path, "r", steps=20)


def test_resume_refuses_a_checkpoint_of_another_config(tmp_path):
    run_smoke(tmp_path, "r", steps=20, stop_after=10)
    with pytest.raises(ConfigError, match="different run"):
        run_smoke(tmp_path, "r", steps=20, resume=True, lr=1e-4)


def test_metrics_are_logged_to_json(tmp_path):
    run_smoke(tmp_path, "m", steps=20)
    metrics = json.loads((tmp_path / "m" / "checkpoint-00000020" / "metrics.json").read_text())
    assert [h["step"] for h in metrics["history"]] == [10, 20]
    assert metrics["wall_time_s"] > 0


def test_smoke_run_learns_in_context(tmp_store, tmp_path):
    """The smoke profile must beat the context-free prior by a wide margin after 2d examples."""
    experiments.run("linreg", "smoke", store=tmp_store, run_root=tmp_path, progress=False)
    res = tmp_store.results("linreg-smoke")
    curves, d = res["evaluation"]["curves"], res["task"]["d"]
    tf, prior = curves["transformer"]["mean"], curves["prior_mean"]["mean"]
    assert res["history"][-1]["loss"] < 0.5 * res["history"][0]["loss"]
    assert tf[2 * d] < 0.5 * prior[2 * d], (tf, prior)
    # and the stored weights reproduce the stored curve
    model = tmp_store.model("linreg-smoke")
    p = experiments.get("linreg").profile("smoke")
    again = experiments.evaluate_regression(model, p)["curves"]["transformer"]["mean"]
    assert again == pytest.approx(tf, rel=1e-6)


@pytest.mark.parametrize("kind", ["transformer", "lstm"])
def test_the_shared_trainer_fits_a_language_model_of_either_kind(kind, tmp_path):
    """Both model kinds learn a deterministic cyclic corpus through the same loop."""
    from icl_book.models import LSTMConfig, TransformerConfig, build_model

    period = torch.tensor([3, 1, 4, 1, 5, 9, 2, 6])
    blocks = torch.stack([period.roll(-i).repeat(4) for i in range(8)])       # [8, 32]
    problem = experiments.LanguageModelProblem(blocks)
    cfg = (TransformerConfig(n_layer=1, n_head=2, d_model=32, n_ctx=31, vocab_size=10) if kind == "transformer"
           else LSTMConfig(vocab_size=10, d_model=32, n_layer=1))
    torch.manual_seed(0)
    model = build_model(kind, cfg.to_dict())
    result = train(model, problem, TrainConfig(steps=150, batch_size=8, lr=1e-2, warmup_steps=10, log_every=50,
                                               checkpoint_every=0), tmp_path, progress=False)
    losses = [h["loss"] for h in result.metrics["history"]]
    assert losses[-1] < 0.2 * losses[0], losses


def test_language_model_problem_refuses_bad_blocks():
    with pytest.raises(ValueError, match="2-D int64"):
        experiments.LanguageModelProblem(torch.zeros(3, 4))


# ---- nothing lost: atomic checkpoints, one writer, exact resumes -------------------------

def test_a_kill_while_a_checkpoint_is_written_resumes_from_the_last_complete_one(tmp_path, monkeypatch):
    """The kill lands after the weights of step 20 and before the rest of its set: the run
    resumes from step 10 and still ends with the uninterrupted run's weights and full history."""
    import icl_book.checkpoints as checkpoints_mod

    straight = run_smoke(tmp_path, "straight", steps=30)
    real_write, writes = checkpoints_mod.atomic_write, []

    def killed_mid_set(path, data):
        writes.append(path)
        if len(writes) == 4:  # the second set's first file is written, then the process dies
            real_write(path, data)
            raise SystemExit("killed")
        real_write(path, data)

    monkeypatch.setattr(checkpoints_mod, "atomic_write", killed_mid_set)
    with pytest.raises(SystemExit):
        run_smoke(tmp_path, "killed", steps=30)
    monkeypatch.undo()
    assert has_checkpoint(tmp_path / "killed") == 10
    resumed = run_smoke(tmp_path, "killed", steps=30, resume=True)
    assert resumed.resumed_from == 10
    assert all(torch.equal(a, b) for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values()))
    assert [h["step"] for h in resumed.metrics["history"]] == [10, 20, 30]


def test_a_checkpoint_whose_history_has_a_gap_is_refused(tmp_path):
    run_smoke(tmp_path, "g", steps=40, stop_after=20)
    path = tmp_path / "g" / "checkpoint-00000020" / "metrics.json"
    metrics = json.loads(path.read_text())
    metrics["history"] = metrics["history"][:1]
    path.write_text(json.dumps(metrics))
    with pytest.raises(ConfigError, match="is inconsistent"):
        run_smoke(tmp_path, "g", steps=40, resume=True)


def test_resume_without_a_checkpoint_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="holds no checkpoint to resume"):
        run_smoke(tmp_path, "none", steps=20, resume=True)
    assert has_checkpoint(tmp_path / "none") is None


def test_resume_under_another_thread_count_says_why_it_cannot(tmp_path):
    torch.set_num_threads(2)
    run_smoke(tmp_path, "t", steps=20, stop_after=10)
    torch.set_num_threads(1)
    with pytest.raises(ConfigError, match="trained with 2 CPU threads and this run has 1.*--threads 2"):
        run_smoke(tmp_path, "t", steps=20, resume=True)


def test_a_second_process_training_into_the_same_run_directory_is_refused(tmp_path):
    import subprocess
    import sys

    from icl_book.files import Busy

    run_dir = tmp_path / "busy"
    run_dir.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, sys, time; f = open(sys.argv[1], 'a'); "
                               "fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)",
                               str(run_dir / ".lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(Busy, match="another process is training into"):
            run_smoke(tmp_path, "busy", steps=10)
    finally:
        holder.kill()
        holder.wait()
    run_smoke(tmp_path, "busy", steps=10)  # the lock dies with its holder


def test_a_run_directory_that_is_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        run_smoke(tmp_path, "file", steps=10)


def test_a_diverging_run_stops_with_its_reason_and_keeps_no_diverged_checkpoint(tmp_path, monkeypatch):
    exp, p, cfg = smoke(30)
    problem = exp.problem(p)

    class Diverging:
        def batch(self, step, *args):
            return problem.batch(step, *args)

        def loss(self, model, batch):
            loss = problem.loss(model, batch)
            return loss * float("nan") if self.step_count() >= 15 else loss

        def step_count(self):
            self.n = getattr(self, "n", 0) + 1
            return self.n

    with pytest.raises(FloatingPointError, match="training diverged: the loss became nan by step 20.*--set lr="):
        train(exp.build_model(p), Diverging(), cfg, tmp_path / "d", progress=False)
    assert has_checkpoint(tmp_path / "d") == 10


# ---- typed configs and dotted overrides ---------------------------------------------------

def test_overrides_read_optional_boolean_and_nested_fields():
    p = experiments.get("linreg").profile("smoke")
    q = with_overrides(p, {"model.n_layer": "3", "model.d_mlp": "None", "model.layer_norm": "False",
                           "task.noise_std": "1", "train.lr": "2e-3"})
    assert (q.model.n_layer, q.model.d_mlp, q.model.layer_norm, q.task.noise_std, q.train.lr) == (3, None, False, 1.0, 2e-3)
    assert isinstance(q.task.noise_std, float)
    assert with_overrides(p, {"model.d_mlp": "96"}).model.d_mlp == 96
    for overrides, message in [({"model.n_layers": "6"}, "has no field 'n_layers'"),
                               ({"model.n_layer": "0"}, "n_layer must be a positive integer"),
                               ({"model.layer_norm": "1"}, "layer_norm must be bool"),
                               ({"model.d_mlp": "'wide'"}, r"d_mlp must be int \| None"),
                               ({"task.d": "2.5"}, "d must be int"),
                               ({"train.lr.x": "1"}, "TrainConfig has no field 'lr'|lr has no fields")]:
        with pytest.raises(ConfigError, match=message):
            with_overrides(p, overrides)
