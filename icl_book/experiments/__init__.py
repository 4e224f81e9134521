"""Named experiments: a task, a model and a training config, in three profiles.

- ``smoke``: seconds on a CPU; the tests train it.
- ``cpu``: the artifacts the book ships, each trainable on two CPU cores in minutes.
- ``paper``: the paper's scale, for one GPU.

``run(name, profile)`` trains one, evaluates it, and writes the artifact ``{name}-{profile}``
with its provenance. Chapters load that artifact; they never train.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..provenance import git_commit
from ..store import ArtifactStore
from ..config import ConfigError, with_overrides
from ..distributed import world
from ..train import train_seeds
from .base import PROFILES, Experiment, LanguageModelProblem, Profile, model_kind, provenance, run_computation
from .ginc import GINC_EXPERIMENTS
from .retrieval import RETRIEVAL_EXPERIMENTS
from .classification import CLASSIFICATION_EXPERIMENTS
from .linreg import LINREG, RegressionProblem, eval_prompts, evaluate_regression, summarise
from .spinglass import SPINGLASS, SPINGLASS_ARCH
from .taskdiv import TASKDIV_EXPERIMENTS
from .kernel_regression import KERNEL_ANALYSIS, KERNEL_EXPERIMENT, POOL_EXPERIMENTS
from .synthesis import TESTBED
from .regime import REGIME

__all__ = ["PROFILES", "Profile", "Experiment", "LanguageModelProblem", "RegressionProblem", "EXPERIMENTS",
           "get", "run", "run_seeds", "artifact_name", "model_kind", "eval_prompts", "evaluate_regression", "summarise"]

EXPERIMENTS: dict[str, Experiment] = {exp.name: exp for exp in (LINREG, *GINC_EXPERIMENTS, *RETRIEVAL_EXPERIMENTS, SPINGLASS, SPINGLASS_ARCH, *TASKDIV_EXPERIMENTS, *CLASSIFICATION_EXPERIMENTS, KERNEL_EXPERIMENT, KERNEL_ANALYSIS, *POOL_EXPERIMENTS, TESTBED, REGIME)}


def get(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise ConfigError(f"no experiment named {name!r}; choose one of {', '.join(sorted(EXPERIMENTS))}")
    return EXPERIMENTS[name]


def artifact_name(name: str, profile: str, seed: int = 0) -> str:
    """The artifact of ``name`` at ``profile`` trained with seed ``seed`` (the TrainConfig seed:
    initial weights, data stream and dropout): ``name-profile`` for seed 0, else ``name-profile-seedS``."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"a seed is an integer >= 0, got {seed!r}")
    return f"{name}-{profile}" if seed == 0 else f"{name}-{profile}-seed{seed}"


def run(name: str, profile: str, *, device: str = "cpu", resume: bool = False, fresh: bool = False,
        overrides: dict[str, str] | None = None, store: ArtifactStore | None = None,
        run_root: str | Path = "runs", progress: bool = True, command: str | None = None) -> dict | None:
    """Train ``name`` at ``profile``, evaluate it, and store artifact ``artifact_name(name, profile, seed)``."""
    exp = get(name)
    if exp.compute is not None:   # results only: nothing to train, resume or override
        exp.profile(profile)
        if overrides or resume:
            raise ConfigError(f"experiment {name!r} computes results and trains nothing: no --set or --resume")
        return run_computation(exp, profile, store=store, command=command)
    entries = run_seeds(name, profile, None, device=device, resume=resume, fresh=fresh, overrides=overrides,
                     store=store, run_root=run_root, progress=progress, commands=[command])
    return entries[0] if entries else None  # None: a data-parallel process other than rank 0


def run_seeds(name: str, profile: str, seeds: list[int] | None, *, device: str = "cpu", resume: bool = False,
              fresh: bool = False, overrides: dict[str, str] | None = None, store: ArtifactStore | None = None,
              run_root: str | Path = "runs", progress: bool = True, commands: list[str | None] | None = None,
              together: bool | None = None, deadline: float | None = None) -> list[dict]:
    """Train ``name`` at ``profile`` once per seed in ``seeds`` (None: the profile's own seed),
    side by side in this process where the model allows (``train.train_seeds``), and store each
    as its own artifact with its own provenance; ``commands[i]`` is the command that remakes seed i."""
    exp = get(name)
    p = exp.profile(profile)
    if exp.compute is not None:
        raise ConfigError(f"experiment {name!r} computes results and trains nothing: it has no seeds")
    if overrides:  # "lr" is a training field; "model.n_layer", "task.d" reach the other configs
        p = with_overrides(p, {k if k.split(".")[0] in ("model", "task", "train") else f"train.{k}": v
                               for k, v in overrides.items()})
    if seeds is not None and overrides and any(k in ("seed", "train.seed") for k in overrides):
        raise ConfigError("give the seed once: --seeds or --set seed=..., not both")
    seeds = [p.train.seed] if seeds is None else list(seeds)
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds takes distinct integers, got {seeds}")
    profiles = [dataclasses.replace(p, train=dataclasses.replace(p.train, seed=s)) for s in seeds]
    names = [artifact_name(name, profile, s) for s in seeds]
    store = store or ArtifactStore()
    if world()[0] == 0:   # the writer finds a store it cannot write now, not after the training
        store.check_writable()
        store.check_apart(names, run_root)
    commit = git_commit()  # the code as it was when training started
    models = [exp.build_model(q) for q in profiles]
    identities = [{"experiment": name, "profile": profile, "task": q.task.to_dict(), "model": q.model.to_dict()}
                  for q in profiles]
    monitors = [(lambda m, q=q: exp.monitor(m, q)) if exp.monitor is not None else None for q in profiles]
    trained = train_seeds(models, exp.problem(p), [q.train for q in profiles], [Path(run_root) / n for n in names],
                          device=device, resume=resume, fresh=fresh, progress=progress, identities=identities,
                          evaluate=monitors, together=together, deadline=deadline)
    if world()[0] != 0:  # a data-parallel run: rank 0 evaluates and writes the artifacts
        return []
    entries = []
    for q, art, result, command in zip(profiles, names, trained, commands or [None] * len(seeds)):
        results = {"experiment": name, "profile": profile, "task": q.task.to_dict(), "model": q.model.to_dict(),
                   "train": q.train.to_dict(), "note": q.note, "history": result.metrics["history"],
                   "evaluation": exp.evaluate(result.model, q),
                   **({"curve": result.metrics["evals"]} if exp.monitor is not None else {})}
        made = provenance(exp, profile, command=command, commit=commit, device=device, wall_time_s=result.wall_time_s,
                          params=sum(t.numel() for t in result.model.parameters()))
        if len(result.seeds_together) > 1:  # wall_time_s is then the joint run's
            made["seeds_together"] = list(result.seeds_together)
        if world()[1] > 1:  # data parallel over this many processes (the same global batch)
            made["processes"] = world()[1]
        entries.append(store.save(art, results=results, provenance=made, model=result.model.cpu(),
                                  model_spec={"kind": model_kind(q.model), "config": q.model.to_dict()}))
    return entries
