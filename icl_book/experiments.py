"""Named experiments: a task, a model and a training config, in three profiles.

- ``smoke``: seconds on a CPU; the tests train it.
- ``cpu``: the artifacts the book ships, each trainable on two CPU cores in minutes.
- ``paper``: the paper's scale, for one GPU.

``run(name, profile)`` trains one, evaluates it, and writes the artifact ``{name}-{profile}``
with its provenance. Chapters load that artifact; they never train.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from . import bayes
from .artifacts import ArtifactStore, device_description, git_commit
from .models import MODEL_CONFIGS, LSTMConfig, TransformerConfig, build_model
from .tasks import LinearRegressionTask, predictions_at_x
from .train import EVAL_STREAM, ConfigError, TrainConfig, step_generator, train, with_overrides

PROFILES = ("smoke", "cpu", "paper")


@dataclass(frozen=True)
class Profile:
    task: Any                     # the task's frozen config dataclass
    model: TransformerConfig | LSTMConfig
    train: TrainConfig
    eval_prompts: int = 2000      # held-out prompts for the evaluation curves
    note: str = ""                # how this profile differs from the paper, if it does


# ---- in-context linear regression (chapter 0) ---------------------------------------------

class RegressionProblem:
    """Training batches and loss for in-context linear regression: the squared error of the
    model's prediction of every ``y_i`` from the pairs before it (Garg et al. 2022)."""

    def __init__(self, task: LinearRegressionTask):
        self.task = task

    def batch(self, step: int, batch_size: int, seed: int, device: torch.device):
        xs, ys, _ = self.task.sample(batch_size, step_generator(seed, step))
        return self.task.encode(xs, ys).to(device), ys.to(device)

    def loss(self, model, batch) -> torch.Tensor:
        seq, ys = batch
        return torch.nn.functional.mse_loss(predictions_at_x(model(seq)).float(), ys)


class LanguageModelProblem:
    """Next-token prediction on a fixed corpus cut into blocks ``[n_blocks, block_len]``: each
    step draws ``batch_size`` blocks at random (a function of the seed and the step), the model
    reads ``block[:-1]`` and is scored on ``block[1:]``. The corpus moves to the device once."""

    def __init__(self, blocks: torch.Tensor):
        if blocks.dim() != 2 or blocks.dtype != torch.long:
            raise ValueError(f"blocks must be a 2-D int64 tensor, got {tuple(blocks.shape)} {blocks.dtype}")
        self.blocks = blocks
        self._on_device: dict[torch.device, torch.Tensor] = {}

    def batch(self, step: int, batch_size: int, seed: int, device: torch.device):
        if device not in self._on_device:
            self._on_device[device] = self.blocks.to(device)
        idx = torch.randint(len(self.blocks), (batch_size,), generator=step_generator(seed, step))
        b = self._on_device[device][idx.to(device)]
        return b[:, :-1], b[:, 1:]

    def loss(self, model, batch) -> torch.Tensor:
        tokens, targets = batch
        logits = model(tokens)
        return torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), targets.flatten())


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


def model_errors(model, task: LinearRegressionTask, xs: torch.Tensor, ys: torch.Tensor,
                 batch: int = 500) -> torch.Tensor:
    """The model's squared error on each ``y_i`` of each prompt: ``[N, n]`` (float64)."""
    device = next(model.parameters()).device
    out = []
    with torch.no_grad():
        for i in range(0, len(xs), batch):
            seq = task.encode(xs[i:i + batch], ys[i:i + batch]).to(device)
            out.append(predictions_at_x(model(seq)).double().cpu())
    return (torch.cat(out) - ys.double()) ** 2


def summarise(errors: torch.Tensor, scale: float, n_boot: int = 500, seed: int = 0) -> dict:
    """Mean over prompts, with a 95 % bootstrap interval, of ``errors [N, n] / scale``."""
    e = errors / scale
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(len(e), (n_boot, len(e)), generator=g)
    boot = e[idx].mean(dim=1)                                            # [n_boot, n]
    lo, hi = torch.quantile(boot, torch.tensor([0.025, 0.975], dtype=e.dtype), dim=0)
    return {"mean": e.mean(0).tolist(), "lo": lo.tolist(), "hi": hi.tolist()}


def evaluate_regression(model, profile: Profile) -> dict:
    """Normalised squared error (divided by d) against the number of in-context examples, for
    the model and every baseline, on the same held-out prompts."""
    task = profile.task
    xs, ys, _ = eval_prompts(task, profile.eval_prompts)
    curves = {"transformer": summarise(model_errors(model, task, xs, ys), task.d)}
    for key, predict in regression_baselines(task).items():
        curves[key] = summarise(bayes.incontext_errors(predict, xs, ys), task.d)
    return {"n_examples": list(range(task.n_points)), "normalised_by": task.d, "curves": curves}


@dataclass(frozen=True)
class Experiment:
    """A named experiment: its profiles, how to make the training problem from a profile, and
    how to evaluate a trained model (the dict it returns is what the chapter plots)."""
    name: str
    chapter: str
    summary: str
    profiles: dict[str, Profile] = field(repr=False)
    make_problem: Callable[[Profile], Any] = field(repr=False)
    evaluate: Callable[[torch.nn.Module, Profile], dict] = field(repr=False)

    def profile(self, profile: str) -> Profile:
        if profile not in self.profiles:
            raise ConfigError(f"experiment {self.name!r} has no profile {profile!r}; "
                              f"choose one of {', '.join(self.profiles)}")
        return self.profiles[profile]

    def problem(self, p: Profile):
        return self.make_problem(p)

    def build_model(self, p: Profile) -> torch.nn.Module:
        torch.manual_seed(p.train.seed)  # the initial weights are a function of the seed
        return build_model(model_kind(p.model), p.model.to_dict())


def model_kind(config) -> str:
    return next(kind for kind, cls in MODEL_CONFIGS.items() if isinstance(config, cls))


def _linreg_profiles() -> dict[str, Profile]:
    def model(task, **kw):
        return TransformerConfig(d_in=task.token_dim, d_out=1, n_ctx=task.seq_len, **kw)

    smoke = LinearRegressionTask(d=2, n_points=6, y_carries_x=True)
    cpu = LinearRegressionTask(d=5, n_points=20, y_carries_x=True)
    paper = LinearRegressionTask(d=20, n_points=41)
    return {
        "smoke": Profile(smoke, model(smoke, n_layer=2, n_head=2, d_model=32),
                         TrainConfig(steps=400, batch_size=64, lr=3e-3, warmup_steps=40, log_every=50,
                                     checkpoint_every=200), eval_prompts=500),
        "cpu": Profile(cpu, model(cpu, n_layer=3, n_head=4, d_model=64),
                       TrainConfig(steps=6000, batch_size=64, lr=1e-3, warmup_steps=200, log_every=100,
                                   checkpoint_every=1000),
                       note="d = 5 and 3 layers of width 64 instead of d = 20 and 12 layers of width 256; "
                            "6,000 steps and no curriculum instead of 500,000 steps with one; y tokens "
                            "carry their x (Garg et al.'s y tokens do not)"),
        "paper": Profile(paper, model(paper, n_layer=12, n_head=8, d_model=256),
                         TrainConfig(steps=500_000, batch_size=64, lr=1e-4, warmup_steps=1000, schedule="constant",
                                     log_every=1000, checkpoint_every=10_000),
                         note="Garg et al.'s model and budget, without their curriculum over d and n"),
    }


EXPERIMENTS: dict[str, Experiment] = {
    "linreg": Experiment("linreg", "ch0", "In-context linear regression with a Gaussian prior (Garg et al. 2022)",
                         _linreg_profiles(), lambda p: RegressionProblem(p.task), evaluate_regression),
}


def get(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise ConfigError(f"no experiment named {name!r}; choose one of {', '.join(sorted(EXPERIMENTS))}")
    return EXPERIMENTS[name]


def artifact_name(name: str, profile: str) -> str:
    return f"{name}-{profile}"


def run(name: str, profile: str, *, device: str = "cpu", resume: bool = False, fresh: bool = False,
        overrides: dict[str, str] | None = None, store: ArtifactStore | None = None,
        run_root: str | Path = "runs", progress: bool = True, command: str | None = None) -> dict:
    """Train ``name`` at ``profile``, evaluate it, and store artifact ``name-profile``."""
    exp = get(name)
    p = exp.profile(profile)
    if overrides:
        p = dataclasses.replace(p, train=with_overrides(p.train, overrides))
    run_dir = Path(run_root) / artifact_name(name, profile)
    if fresh:
        for f in ("checkpoint.safetensors", "checkpoint.json", "metrics.json"):
            (run_dir / f).unlink(missing_ok=True)
    commit = git_commit()  # the code as it was when training started
    model = exp.build_model(p)
    identity = {"experiment": name, "profile": profile, "task": p.task.to_dict(), "model": p.model.to_dict()}
    result = train(model, exp.problem(p), p.train, run_dir, device=device, resume=resume, progress=progress,
                   identity=identity)
    results = {"experiment": name, "profile": profile, "task": p.task.to_dict(), "model": p.model.to_dict(),
               "train": p.train.to_dict(), "note": p.note, "history": result.metrics["history"],
               "evaluation": exp.evaluate(result.model, p)}
    provenance = {
        "experiment": name, "profile": profile, "chapter": exp.chapter,
        "command": command or f"icl-book train {name} --profile {profile}",
        "commit": commit, "device": device_description(device),
        "wall_time_s": round(result.wall_time_s, 1), "torch": torch.__version__,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "params": sum(t.numel() for t in result.model.parameters()),
    }
    store = store or ArtifactStore()
    return store.save(artifact_name(name, profile), results=results, provenance=provenance,
                      model=result.model.cpu(), model_spec={"kind": model_kind(p.model), "config": p.model.to_dict()})

