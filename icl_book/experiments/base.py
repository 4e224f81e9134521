"""The pieces every experiment shares: profiles, the experiment record, generic problems."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from ..models import MODEL_CONFIGS, LSTMConfig, TransformerConfig, build_model
from ..config import ConfigError
from ..seeding import step_generator
from ..train import TrainConfig, to_device

PROFILES = ("smoke", "cpu", "paper")


@dataclass(frozen=True)
class Profile:
    task: Any                     # the task's frozen config dataclass
    model: TransformerConfig | LSTMConfig
    train: TrainConfig
    eval_prompts: int = 2000      # held-out prompts for the evaluation curves
    note: str = ""                # how this profile differs from the paper, if it does


# ---- in-context linear regression (chapter 0) ---------------------------------------------

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
        b = self._on_device[device][to_device(idx, device)]
        return b[:, :-1], b[:, 1:]

    def loss(self, model, batch) -> torch.Tensor:
        tokens, targets = batch
        logits = model(tokens)
        return torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), targets.flatten())


@dataclass(frozen=True)
class Experiment:
    """A named experiment: its profiles, how to make the training problem from a profile, and
    how to evaluate a trained model (the dict it returns is what the chapter plots)."""
    name: str
    chapter: str
    summary: str
    profiles: dict[str, Profile] = field(repr=False)
    make_problem: Callable[[Profile], Any] | None = field(repr=False)
    evaluate: Callable[[torch.nn.Module, Profile], dict] | None = field(repr=False)
    # A results-only experiment trains no network that a chapter loads: ``compute`` turns the
    # profile into the results dict, and the artifact holds results.json and no weights. The
    # spin-glass chapter uses it for solves that take minutes (the heat map, the curves over
    # N and over P), so the chapter only loads them, with the same provenance as a model.
    compute: Callable[[Profile], dict] | None = field(default=None, repr=False)
    # Called every ``eval_every`` steps during training; its dicts land in the results as
    # ``curve`` (the locate-and-project chapter's accuracy curve with its abrupt rise).
    monitor: Callable[[torch.nn.Module, Profile], dict] | None = field(default=None, repr=False)

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


def provenance(exp: Experiment, profile: str, *, command: str | None, commit: str, device, wall_time_s: float,
               params: int) -> dict:
    """What the manifest records of how an artifact was made: by which command, from which commit,
    on which device, in how long, when, and with how many parameters."""
    import datetime as dt

    from ..provenance import device_description

    return {"experiment": exp.name, "profile": profile, "chapter": exp.chapter,
            "command": command or f"icl-book train {exp.name} --profile {profile}",
            "commit": commit, "device": device_description(device), "wall_time_s": round(wall_time_s, 1),
            "torch": torch.__version__, "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "params": params}


def run_computation(exp: Experiment, profile: str, *, store, command: str | None = None) -> dict:
    """Run a results-only experiment (``exp.compute``) and store its results with provenance."""
    import time

    from ..provenance import git_commit
    from ..store import ArtifactStore

    p = exp.profile(profile)
    store = store or ArtifactStore()
    store.check_writable()   # before the computation, which may take minutes
    commit = git_commit()
    t0 = time.perf_counter()
    results = {"experiment": exp.name, "profile": profile, "task": p.task.to_dict(), "note": p.note,
               "evaluation": exp.compute(p)}
    return store.save(
        f"{exp.name}-{profile}", results=results,
        provenance=provenance(exp, profile, command=command, commit=commit, device="cpu",
                              wall_time_s=time.perf_counter() - t0, params=0))
