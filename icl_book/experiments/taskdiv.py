"""Beyond the spin-glass paper: the task-diversity transition of Raventós, Paul, Chen & Ganguli
(NeurIPS 2023). The book's transformer learns in-context linear regression (chapter 0's task,
problem and evaluation code) whose tasks come from a fixed pool of ``M`` vectors, drawn once
from the pool seed; one experiment per ``M`` (``taskdiv-m4`` ... ``taskdiv-minf``, where
``inf`` is a fresh Gaussian task for every prompt). Each trained model is scored on prompts
from its pool and on fresh Gaussian tasks, beside the two Bayes references: dMMSE (Bayes for
the pool) and ridge (Bayes for the Gaussian prior the pool came from).
"""

from __future__ import annotations

import dataclasses

from .. import bayes
from ..tasks import LinearRegressionTask
from ..train import TrainConfig
from .base import Experiment, Profile
from .linreg import RegressionProblem, eval_prompts, model_predictions, regression_profiles, summarise

# Pool sizes of the shipped experiments; 0 is the infinite pool (a fresh task per prompt).
POOL_SIZES = (4, 16, 64, 256, 0)


def pool_name(M: int) -> str:
    return f"taskdiv-m{M if M else 'inf'}"


def _score(model, task: LinearRegressionTask, pool_task: LinearRegressionTask, n_prompts: int) -> dict:
    """Errors (normalised by d) of the model, dMMSE and ridge on prompts of ``task``, and the
    mean squared distance of the model's predictions to each reference's, per position."""
    xs, ys, _ = eval_prompts(task, n_prompts)
    preds = {"transformer": model_predictions(model, task, xs, ys),
             "ridge": bayes.incontext_predictions(bayes.bayes_posterior_mean(task.noise_std), xs, ys)}
    if pool_task.n_tasks:
        preds["dmmse"] = bayes.incontext_predictions(bayes.dmmse(pool_task.task_pool(), task.noise_std), xs, ys)
    y = ys.double()
    errors = {k: summarise((p - y) ** 2, task.d) for k, p in preds.items()}
    distance = {k: ((preds["transformer"] - p) ** 2).mean(0).div(task.d).tolist()
                for k, p in preds.items() if k != "transformer"}
    return {"curves": errors, "distance_to": distance}


def evaluate_taskdiv(model, p: Profile) -> dict:
    """The model against dMMSE and ridge on its own pool's tasks and on fresh Gaussian tasks."""
    model.eval()
    task = p.task
    fresh = dataclasses.replace(task, n_tasks=0)
    out = {"n_examples": list(range(task.n_points)), "normalised_by": task.d, "n_tasks": task.n_tasks,
           "fresh": _score(model, fresh, task, p.eval_prompts)}
    if task.n_tasks:
        out["pool"] = _score(model, task, task, p.eval_prompts)
    return out


def _profiles(M: int) -> dict[str, Profile]:
    return regression_profiles(
        tasks={"smoke": LinearRegressionTask(d=2, n_points=6, noise_std=0.5, n_tasks=M, y_carries_x=True),
               "cpu": LinearRegressionTask(d=4, n_points=16, noise_std=0.5, n_tasks=M, y_carries_x=True),
               "paper": LinearRegressionTask(d=8, n_points=16, noise_std=0.5, n_tasks=M)},
        shapes={"smoke": (2, 2, 32), "cpu": (2, 2, 64), "paper": (8, 2, 128)},
        trains={"smoke": TrainConfig(steps=300, batch_size=64, lr=3e-3, warmup_steps=30, log_every=50,
                                     checkpoint_every=0),
                "cpu": TrainConfig(steps=1500, batch_size=64, lr=2e-3, warmup_steps=100, log_every=100,
                                   checkpoint_every=500),
                "paper": TrainConfig(steps=500_000, batch_size=256, lr=1e-3, warmup_steps=250_000, schedule="linear",
                                     min_lr_ratio=0.0, log_every=1000, checkpoint_every=10_000)},
        eval_prompts={"smoke": 300, "cpu": 2000, "paper": 2000},
        notes={"cpu": "d = 4 and 2 layers of width 64 instead of d = 8 and 8 layers of width 128; "
                      "1,500 steps of 64 prompts instead of 500,000 of 256; y tokens carry their x",
               "paper": "Raventós et al.'s model, data, budget and schedule (a triangle: linear warm-up "
                        "over the first half, linear decay to zero over the second)"})


TASKDIV_EXPERIMENTS = tuple(
    Experiment(pool_name(M), "spinglass",
               f"Task diversity (Raventós et al. 2023): linear regression with "
               f"{'a fresh task per prompt' if not M else f'a pool of {M} tasks'}",
               _profiles(M), lambda p: RegressionProblem(p.task), evaluate_taskdiv)
    for M in POOL_SIZES)
