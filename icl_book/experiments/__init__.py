"""Named experiments: a task, a model and a training config, in three profiles.

- ``smoke``: seconds on a CPU; the tests train it.
- ``cpu``: the artifacts the book ships, each trainable on two CPU cores in minutes.
- ``paper``: the paper's scale, for one GPU.

``run(name, profile)`` trains one, evaluates it, and writes the artifact ``{name}-{profile}``
with its provenance. Chapters load that artifact; they never train.
"""

from __future__ import annotations

from pathlib import Path

from ..store import ArtifactStore, git_commit
from ..train import ConfigError, train, with_overrides
from .base import PROFILES, Experiment, LanguageModelProblem, Profile, model_kind, provenance, run_computation
from .ginc import GINC_EXPERIMENTS
from .retrieval import RETRIEVAL_EXPERIMENTS
from .classification import CLASSIFICATION_EXPERIMENTS
from .linreg import LINREG, RegressionProblem, eval_prompts, evaluate_regression, summarise
from .spinglass import SPINGLASS, SPINGLASS_ARCH
from .taskdiv import TASKDIV_EXPERIMENTS
from .kernel_regression import KERNEL_ANALYSIS, KERNEL_EXPERIMENT

__all__ = ["PROFILES", "Profile", "Experiment", "LanguageModelProblem", "RegressionProblem", "EXPERIMENTS",
           "get", "run", "artifact_name", "model_kind", "eval_prompts", "evaluate_regression", "summarise"]

EXPERIMENTS: dict[str, Experiment] = {exp.name: exp for exp in (LINREG, *GINC_EXPERIMENTS, *RETRIEVAL_EXPERIMENTS, SPINGLASS, SPINGLASS_ARCH, *TASKDIV_EXPERIMENTS, *CLASSIFICATION_EXPERIMENTS, KERNEL_EXPERIMENT, KERNEL_ANALYSIS)}


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
    if exp.compute is not None:   # results only: nothing to train, resume or override
        if overrides or resume:
            raise ConfigError(f"experiment {name!r} computes results and trains nothing: no --set or --resume")
        return run_computation(exp, profile, store=store, command=command)
    if overrides:  # "lr" is a training field; "model.n_layer", "task.d" reach the other configs
        p = with_overrides(p, {k if k.split(".")[0] in ("model", "task", "train") else f"train.{k}": v
                               for k, v in overrides.items()})
    run_dir = Path(run_root) / artifact_name(name, profile)
    commit = git_commit()  # the code as it was when training started
    model = exp.build_model(p)
    identity = {"experiment": name, "profile": profile, "task": p.task.to_dict(), "model": p.model.to_dict()}
    monitor = (lambda m: exp.monitor(m, p)) if exp.monitor is not None else None
    result = train(model, exp.problem(p), p.train, run_dir, device=device, resume=resume, fresh=fresh, progress=progress,
                   identity=identity, evaluate=monitor)
    results = {"experiment": name, "profile": profile, "task": p.task.to_dict(), "model": p.model.to_dict(),
               "train": p.train.to_dict(), "note": p.note, "history": result.metrics["history"],
               "evaluation": exp.evaluate(result.model, p),
               **({"curve": result.metrics["evals"]} if monitor is not None else {})}
    made = provenance(exp, profile, command=command, commit=commit, device=device, wall_time_s=result.wall_time_s,
                      params=sum(t.numel() for t in result.model.parameters()))
    store = store or ArtifactStore()
    return store.save(artifact_name(name, profile), results=results, provenance=made,
                      model=result.model.cpu(), model_spec={"kind": model_kind(p.model), "config": p.model.to_dict()})

