"""The training loop: validated config, determinism, resume equivalence, a run that learns."""

import json

import pytest
import torch

from icl_book import experiments
from icl_book.train import ConfigError, TrainConfig, has_checkpoint, learning_rate, train, with_overrides


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
    metrics = json.loads((tmp_path / "m" / "metrics.json").read_text())
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
