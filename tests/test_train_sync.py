"""The training loop makes the host wait for the device at log steps only: the learning rate is a
0-d tensor overwritten in place (not a new Python number each step), the losses are read only when
logged, and batches drawn on the host reach a CUDA device by a non-blocking copy."""

import pytest
import torch

from icl_book import experiments
from icl_book.train import TrainConfig, learning_rate, to_device, train, train_seeds


def smoke_setup(steps=30, **train_kw):
    exp = experiments.get("linreg")
    p = exp.profile("smoke")
    cfg = TrainConfig(**{**p.train.to_dict(), "steps": steps, "log_every": 10, "checkpoint_every": 0,
                         "warmup_steps": 5, "weight_decay": 0.1, **train_kw})
    return exp, p, cfg


def test_the_learning_rate_is_one_tensor_on_the_device_overwritten_each_step(tmp_path, monkeypatch):
    exp, p, cfg = smoke_setup(schedule="cosine")
    seen = []  # per AdamW step: the objects its param groups hold as lr, and the value they hold
    real_step = torch.optim.AdamW.step

    def step(self, *args, **kwargs):
        rates = [group["lr"] for group in self.param_groups]
        seen.append((rates, float(rates[0])))
        return real_step(self, *args, **kwargs)
    monkeypatch.setattr(torch.optim.AdamW, "step", step)
    model = exp.build_model(p)
    train(model, exp.problem(p), cfg, tmp_path / "r", progress=False)
    assert len(seen) == cfg.steps
    first = seen[0][0][0]
    assert isinstance(first, torch.Tensor) and first.dim() == 0
    assert first.device == next(model.parameters()).device
    assert all(r is first for rates, _ in seen for r in rates), "the rate must be one tensor, overwritten in place"
    assert [value for _, value in seen] == [learning_rate(s, cfg) for s in range(cfg.steps)]


def test_a_tensor_learning_rate_gives_the_weights_of_a_float_one_bit_for_bit(tmp_path, monkeypatch):
    """On the CPU AdamW turns the float64 rate back into a Python number: the artifacts trained
    with a float rate are reproduced exactly (weight decay on, so ``1 - lr * wd`` is exercised)."""
    exp, p, cfg = smoke_setup()
    tensor_run = train(exp.build_model(p), exp.problem(p), cfg, tmp_path / "tensor", progress=False)
    real_step = torch.optim.AdamW.step

    def float_rate_step(self, *args, **kwargs):  # the loop before: a Python float in every group
        held = [g["lr"] for g in self.param_groups]
        for g in self.param_groups:
            g["lr"] = float(g["lr"])
        try:
            return real_step(self, *args, **kwargs)
        finally:
            for g, lr in zip(self.param_groups, held):
                g["lr"] = lr
    monkeypatch.setattr(torch.optim.AdamW, "step", float_rate_step)
    float_run = train(exp.build_model(p), exp.problem(p), cfg, tmp_path / "float", progress=False)
    for (k, a), b in zip(tensor_run.model.state_dict().items(), float_run.model.state_dict().values()):
        assert torch.equal(a, b), k
    assert tensor_run.metrics["history"] == float_run.metrics["history"]


HOST_READS = ("item", "tolist", "__float__", "__int__", "__bool__")


def count_host_reads(monkeypatch, step_of):
    """Patch the Tensor methods that copy a value to the host (a sync on a GPU); record, for each
    call made from the training loop's own module, the step the loop was at (``step_of()``)."""
    import icl_book.train as train_module

    reads = []
    for name in HOST_READS:
        real = getattr(torch.Tensor, name)

        def read(self, *args, _real=real, _name=name, **kwargs):
            import sys

            if sys._getframe(1).f_code.co_filename == train_module.__file__:
                reads.append((step_of(), _name))
            return _real(self, *args, **kwargs)
        monkeypatch.setattr(torch.Tensor, name, read)
    return reads


@pytest.mark.parametrize("seeds", [1, 2])
def test_the_loop_reads_values_back_only_at_log_steps(tmp_path, monkeypatch, seeds):
    exp, p, cfg = smoke_setup(steps=30)
    problem = exp.problem(p)
    at = {"step": None}

    class Watched:  # the problem, noting the step the loop is at
        def batch(self, step, *args):
            at["step"] = step
            return problem.batch(step, *args)

        def loss(self, model, batch):
            return problem.loss(model, batch)

    reads = count_host_reads(monkeypatch, lambda: at["step"])
    cfgs = [TrainConfig(**{**cfg.to_dict(), "seed": s}) for s in range(seeds)]
    train_seeds([exp.build_model(p) for _ in cfgs], Watched(), cfgs, [tmp_path / f"s{s}" for s in range(seeds)],
                progress=False)
    monkeypatch.undo()
    # Step s (0-based) is logged when s + 1 is a multiple of log_every; the last step also checkpoints.
    log_steps = {s for s in range(cfg.steps) if (s + 1) % cfg.log_every == 0}
    assert reads, "the loop reads its logged losses back: the patch must see them"
    assert {step for step, _ in reads} <= log_steps, sorted(reads)
    per_log = [sum(1 for step, _ in reads if step == s) for s in sorted(log_steps - {cfg.steps - 1})]
    assert per_log == [seeds] * len(per_log)  # one read of each seed's mean loss at a log step


def test_to_device_on_the_cpu_moves_nothing_and_keeps_the_values():
    t = torch.arange(6).reshape(2, 3)
    assert to_device(t, "cpu") is t
    assert to_device(t, torch.device("cpu")) is t


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_no_step_between_log_steps_synchronises_with_the_gpu(tmp_path):
    """CUDA's own detector: PyTorch warns at every operation that makes the host wait for the GPU.
    Between the first step (optimiser state, warm-up) and the log steps there must be none."""
    import warnings

    exp, p, cfg = smoke_setup(steps=30, compile="off")
    problem = exp.problem(p)
    counts = {}

    class Watched:
        def batch(self, step, *args):
            counts[step] = len(caught)
            return problem.batch(step, *args)

        def loss(self, model, batch):
            return problem.loss(model, batch)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            train(exp.build_model(p), Watched(), cfg, tmp_path / "gpu", device="cuda", progress=False)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    synced = {s: counts[s + 1] - counts[s] for s in range(1, cfg.steps - 1)
              if (s + 1) % cfg.log_every and counts[s + 1] > counts[s]}
    assert not synced, {s: [str(w.message)[:120] for w in caught[counts[s]:counts[s + 1]]] for s in synced}
