"""Chapter 0: in-context linear regression (Garg et al. 2022) against its Bayes reference."""

from __future__ import annotations

import torch

from .. import bayes
from ..models import TransformerConfig, batched
from ..stats import mean_and_interval
from ..tasks import LinearRegressionTask, predictions_at_x
from ..seeding import EVAL_STREAM, step_generator
from ..train import TrainConfig, to_device
from .base import Experiment, Profile


class RegressionProblem:
    """Training batches and loss for in-context linear regression: the squared error of the
    model's prediction of every ``y_i`` from the pairs before it (Garg et al. 2022)."""

    def __init__(self, task: LinearRegressionTask):
        self.task = task

    def batch(self, step: int, batch_size: int, seed: int, device: torch.device):
        xs, ys, _ = self.task.sample(batch_size, step_generator(seed, step))
        return to_device(self.task.encode(xs, ys), device), to_device(ys, device)

    def loss(self, model, batch) -> torch.Tensor:
        seq, ys = batch
        return torch.nn.functional.mse_loss(predictions_at_x(model(seq)).float(), ys)


def regression_baselines(task: LinearRegressionTask) -> dict:
    """The comparators of chapter 0, by display key: each is called like the model."""
    return {
        "bayes": bayes.bayes_posterior_mean(task.noise_std),
        "least_squares": bayes.least_squares,
        "nearest_neighbours": bayes.nearest_neighbours(3),
        "averaging": bayes.averaging,
        "prior_mean": bayes.prior_mean,
    }


def eval_prompts(task: LinearRegressionTask, n_prompts: int, seed: int = 0):
    """A fixed held-out set, drawn from the evaluation stream (never a training batch)."""
    return task.sample(n_prompts, step_generator(seed, 0, EVAL_STREAM))


def model_predictions(model, task: LinearRegressionTask, xs: torch.Tensor, ys: torch.Tensor,
                      batch: int = 500) -> torch.Tensor:
    """The model's prediction of every ``y_i`` of every prompt: ``[N, n]`` (float64)."""
    return batched(model, lambda m, x, y: predictions_at_x(m(task.encode(x, y))).double(), xs, ys, batch_size=batch)


def model_errors(model, task: LinearRegressionTask, xs: torch.Tensor, ys: torch.Tensor,
                 batch: int = 500) -> torch.Tensor:
    """The model's squared error on each ``y_i`` of each prompt: ``[N, n]`` (float64)."""
    return (model_predictions(model, task, xs, ys, batch) - ys.double()) ** 2


def summarise(errors: torch.Tensor, scale: float, n_boot: int = 500, seed: int = 0) -> dict:
    """Mean over prompts, with a 95 % bootstrap interval, of ``errors [N, n] / scale``."""
    return mean_and_interval(errors / scale, bootstrap=n_boot, seed=seed)


def evaluate_regression(model, profile: Profile) -> dict:
    """Normalised squared error (divided by d) against the number of in-context examples, for
    the model and every baseline, on the same held-out prompts."""
    task = profile.task
    xs, ys, _ = eval_prompts(task, profile.eval_prompts)
    curves = {"transformer": summarise(model_errors(model, task, xs, ys), task.d)}
    for key, predict in regression_baselines(task).items():
        curves[key] = summarise(bayes.incontext_errors(predict, xs, ys), task.d)
    return {"n_examples": list(range(task.n_points)), "normalised_by": task.d, "curves": curves}


def regression_model(task: LinearRegressionTask, **kw) -> TransformerConfig:
    """The transformer for in-context regression prompts of ``task``: vectors in, one number out."""
    return TransformerConfig(d_in=task.token_dim, d_out=1, n_ctx=task.seq_len, **kw)


def regression_profiles(tasks: dict[str, LinearRegressionTask], shapes: dict[str, tuple[int, int, int]],
                        trains: dict[str, TrainConfig], eval_prompts: dict[str, int],
                        notes: dict[str, str]) -> dict[str, Profile]:
    """The profile table of a regression experiment: for each of smoke / cpu / paper its task, its
    transformer's (layers, heads, width), its training, its held-out prompts and how it differs
    from the paper."""
    return {name: Profile(task, regression_model(task, n_layer=shapes[name][0], n_head=shapes[name][1],
                                                 d_model=shapes[name][2]),
                          trains[name], eval_prompts=eval_prompts[name], note=notes.get(name, ""))
            for name, task in tasks.items()}


# Garg et al.'s optimiser and budget (without their curriculum), and the cpu recipe of our regressions.
GARG_PAPER_TRAIN = TrainConfig(steps=500_000, batch_size=64, lr=1e-4, warmup_steps=1000, schedule="constant",
                               log_every=1000, checkpoint_every=10_000)


def regression_cpu_train(steps: int) -> TrainConfig:
    return TrainConfig(steps=steps, batch_size=64, lr=1e-3, warmup_steps=200, log_every=100, checkpoint_every=1000)


def _linreg_profiles() -> dict[str, Profile]:
    return regression_profiles(
        tasks={"smoke": LinearRegressionTask(d=2, n_points=6, y_carries_x=True),
               "cpu": LinearRegressionTask(d=5, n_points=20, y_carries_x=True),
               "paper": LinearRegressionTask(d=20, n_points=41)},
        shapes={"smoke": (2, 2, 32), "cpu": (3, 4, 64), "paper": (12, 8, 256)},
        trains={"smoke": TrainConfig(steps=400, batch_size=64, lr=3e-3, warmup_steps=40, log_every=50,
                                     checkpoint_every=200),
                "cpu": regression_cpu_train(6000), "paper": GARG_PAPER_TRAIN},
        eval_prompts={"smoke": 500, "cpu": 2000, "paper": 2000},
        notes={"cpu": "d = 5 and 3 layers of width 64 instead of d = 20 and 12 layers of width 256; "
                      "6,000 steps and no curriculum instead of 500,000 steps with one; y tokens "
                      "carry their x (Garg et al.'s y tokens do not)",
               "paper": "Garg et al.'s model and budget, without their curriculum over d and n"})


LINREG = Experiment("linreg", "ch0", "In-context linear regression with a Gaussian prior (Garg et al. 2022)",
                    _linreg_profiles(), lambda p: RegressionProblem(p.task), evaluate_regression)
