"""The book's one training loop.

``train(model, problem, config, run_dir)`` knows nothing about the model or the task. The
``problem`` supplies two things: ``batch(step, batch_size, seed, device)``, a pure function of
the step (so a resumed run sees exactly the batches it would have seen), and
``loss(model, batch)``. Everything else lives here: the AdamW optimiser, the learning-rate
schedule (a pure function of the step), gradient clipping, bf16 autocast, fused AdamW and
``torch.compile`` on CUDA, atomic checkpoints every ``checkpoint_every`` steps, ``resume``,
a progress bar and a JSON metrics log.

On the CPU a run is deterministic: the same seed gives bit-identical weights, and a run
interrupted and resumed ends with the same weights as one that never stopped.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import math
import time
import warnings
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np
import torch
from tqdm.auto import tqdm

from .store import atomic_write, dump_json, load_state_tensors, state_tensors, tensors_to_bytes
from safetensors.torch import load as load_safetensors_bytes

SCHEDULES = ("cosine", "linear", "constant")
PRECISIONS = ("auto", "fp32", "bf16")
COMPILE_MODES = ("auto", "off", "default", "reduce-overhead", "max-autotune")


class ConfigError(ValueError):
    """A config value of the wrong type or out of range."""


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 1000            # optimiser steps
    batch_size: int = 64         # sequences per step
    lr: float = 1e-3             # peak learning rate
    warmup_steps: int = 100      # linear warm-up from 0 to lr
    schedule: str = "cosine"     # decay after warm-up: cosine | linear | constant
    min_lr_ratio: float = 0.1    # final lr as a fraction of the peak (cosine, linear)
    weight_decay: float = 0.0    # AdamW decoupled weight decay
    beta1: float = 0.9
    beta2: float = 0.999
    grad_clip: float = 1.0       # max global gradient norm; 0 disables clipping
    seed: int = 0                # seeds the initial weights, the data stream and dropout
    log_every: int = 50          # steps between metric records
    eval_every: int = 0          # steps between evaluations; 0: only at the end
    checkpoint_every: int = 500  # steps between checkpoints; 0: only at the end
    precision: str = "auto"      # auto (bf16 on CUDA, fp32 on CPU) | fp32 | bf16
    compile: str = "auto"        # torch.compile mode; auto: "default" on CUDA, off on CPU (where
                                 # it pays only for long runs; if it fails, training goes on eagerly)

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            want = {"int": int, "float": (int, float), "str": str}[f.type]
            if isinstance(value, bool) or not isinstance(value, want):
                raise ConfigError(f"TrainConfig.{f.name} must be {f.type}, got {value!r}")
        positive = ("steps", "batch_size", "lr", "log_every")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"TrainConfig.{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("warmup_steps", "weight_decay", "grad_clip", "eval_every", "checkpoint_every", "seed"):
            if getattr(self, name) < 0:
                raise ConfigError(f"TrainConfig.{name} must be >= 0, got {getattr(self, name)!r}")
        if self.warmup_steps > self.steps:
            raise ConfigError(f"TrainConfig.warmup_steps ({self.warmup_steps}) exceeds steps ({self.steps})")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ConfigError(f"TrainConfig.min_lr_ratio must lie in [0, 1], got {self.min_lr_ratio!r}")
        for name in ("beta1", "beta2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"TrainConfig.{name} must lie in [0, 1), got {getattr(self, name)!r}")
        for name, allowed in (("schedule", SCHEDULES), ("precision", PRECISIONS), ("compile", COMPILE_MODES)):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"TrainConfig.{name} must be one of {', '.join(allowed)}; "
                                  f"got {getattr(self, name)!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def with_overrides(config, overrides: dict[str, str]):
    """Return a copy of a frozen config dataclass with ``{"field": "text value"}`` applied.
    Values are parsed as Python literals (``3e-4``, ``True``, ``"cosine"`` or bare ``cosine``)
    and then validated by the dataclass itself."""
    names = {f.name for f in fields(config)}
    changes = {}
    for key, text in overrides.items():
        if key not in names:
            raise ConfigError(f"{type(config).__name__} has no field {key!r}; fields: {', '.join(sorted(names))}")
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text  # a bare word such as cosine
        current = getattr(config, key)
        if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        changes[key] = value
    try:
        return dataclasses.replace(config, **changes)
    except TypeError as e:
        raise ConfigError(str(e)) from e


def learning_rate(step: int, cfg: TrainConfig) -> float:
    """The learning rate at ``step`` (0-based): linear warm-up, then the chosen decay."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.schedule == "constant":
        return cfg.lr
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    floor = cfg.lr * cfg.min_lr_ratio
    if cfg.schedule == "linear":
        return floor + (cfg.lr - floor) * (1 - progress)
    return floor + (cfg.lr - floor) * 0.5 * (1 + math.cos(math.pi * progress))


DATA_STREAM, DROPOUT_STREAM, EVAL_STREAM = 0, 1, 2


def seed_for(seed: int, step: int, stream: int = DATA_STREAM) -> int:
    """A 63-bit seed that depends only on (seed, step, stream): data, dropout and evaluation
    draw from separate streams, so evaluation prompts never coincide with training ones."""
    return int(np.random.SeedSequence([seed, step, stream]).generate_state(1, dtype=np.uint64)[0] >> 1)


def step_generator(seed: int, step: int, stream: int = DATA_STREAM) -> torch.Generator:
    """A CPU torch generator seeded by ``seed_for(seed, step, stream)``."""
    return torch.Generator().manual_seed(seed_for(seed, step, stream))


class Problem(Protocol):
    def batch(self, step: int, batch_size: int, seed: int, device: torch.device) -> Any: ...
    def loss(self, model: torch.nn.Module, batch: Any) -> torch.Tensor: ...


@dataclass
class TrainResult:
    model: torch.nn.Module
    metrics: dict
    wall_time_s: float
    resumed_from: int


CHECKPOINT = "checkpoint.safetensors"
STATE = "checkpoint.json"
METRICS = "metrics.json"


def _save_checkpoint(run_dir: Path, model, optimizer, step: int, identity: dict, metrics: dict,
                     pending: list[float]):
    tensors = {f"model.{k}": v for k, v in state_tensors(model).items()}
    opt = optimizer.state_dict()
    for idx, state in opt["state"].items():
        for key, value in state.items():
            tensors[f"optim.{idx}.{key}"] = value.detach().to("cpu").reshape(value.shape).contiguous()
    # Weights first, then the small JSON that points at them: a crash between the two leaves
    # the previous JSON, whose step no longer matches the tensors' metadata, and resume refuses.
    atomic_write(run_dir / CHECKPOINT, tensors_to_bytes(tensors, {"step": step}))
    state = {"step": step, "identity": identity, "param_groups": opt["param_groups"],
             "pending_losses": pending}
    atomic_write(run_dir / STATE, dump_json(state))
    atomic_write(run_dir / METRICS, dump_json(metrics))


def _load_checkpoint(run_dir: Path, model, optimizer, identity: dict) -> tuple[int, dict, list[float]]:
    state = json.loads((run_dir / STATE).read_text())
    if state["identity"] != identity:
        raise ConfigError(f"{run_dir} holds a checkpoint of a different run; its config differs from this one. "
                          f"Start afresh with --fresh, or resume with the same experiment, profile and overrides.")
    from safetensors import safe_open

    with safe_open(str(run_dir / CHECKPOINT), "pt") as f:
        saved_step = int(f.metadata().get("step", -1))
    if saved_step != state["step"]:
        raise ConfigError(f"{run_dir}: checkpoint files disagree (step {saved_step} vs {state['step']}); "
                          f"start afresh with --fresh")
    tensors = load_safetensors_bytes((run_dir / CHECKPOINT).read_bytes())
    load_state_tensors(model, {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, str(run_dir))
    opt_state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, idx, name = key.split(".", 2)
            opt_state.setdefault(int(idx), {})[name] = value
    optimizer.load_state_dict({"state": opt_state, "param_groups": state["param_groups"]})
    metrics = json.loads((run_dir / METRICS).read_text())
    return state["step"], metrics, state["pending_losses"]


def has_checkpoint(run_dir: str | Path) -> int | None:
    """The step of the checkpoint in ``run_dir``, or None."""
    path = Path(run_dir) / STATE
    return json.loads(path.read_text())["step"] if path.exists() else None


def _compile_mode(cfg: TrainConfig, device: torch.device) -> str | None:
    mode = cfg.compile
    if mode == "auto":
        mode = "default" if device.type == "cuda" else "off"
    return None if mode == "off" else mode


def train(model: torch.nn.Module, problem: Problem, cfg: TrainConfig, run_dir: str | Path, *,
          device: str | torch.device = "cpu", resume: bool = False, progress: bool = True,
          identity: dict | None = None, evaluate: Callable[[torch.nn.Module], dict] | None = None,
          stop_after: int | None = None) -> TrainResult:
    """Train ``model`` on ``problem`` for ``cfg.steps`` steps, checkpointing into ``run_dir``.

    ``identity`` (any JSON) names the run; resuming checks it matches. ``evaluate`` is called
    every ``cfg.eval_every`` steps and at the end; its dict goes into the metrics log.
    ``stop_after`` ends the run early after that many steps, as an interruption would (tests).
    """
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device cuda was asked for, but PyTorch sees no CUDA device")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    identity = {"train": cfg.to_dict(), **(identity or {})}
    model.to(device)

    use_bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and device.type == "cuda")
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.dim() >= 2 and "embed" not in name and "pos" not in name else no_decay).append(p)
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), fused=device.type == "cuda")

    start, metrics, pending = 0, {"identity": identity, "history": [], "evals": [], "wall_time_s": 0.0}, []
    if resume and has_checkpoint(run_dir) is not None:
        start, metrics, pending = _load_checkpoint(run_dir, model, optimizer, identity)
    elif has_checkpoint(run_dir) is not None:
        raise ConfigError(f"{run_dir} already holds a checkpoint at step {has_checkpoint(run_dir)}: "
                          f"pass resume (--resume) to continue it, or remove it (--fresh) to start again")

    mode = _compile_mode(cfg, device)
    compiled = torch.compile(model, mode=mode) if mode else None

    def one_step(forward_model, batch):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            loss = problem.loss(forward_model, batch)
        loss.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.detach()

    def step_fn(batch):
        nonlocal compiled
        if compiled is not None:
            try:
                return one_step(compiled, batch)
            except Exception as e:  # noqa: BLE001 -- no C++ compiler, an unsupported op: go on eagerly
                first = str(e).splitlines()[0] if str(e) else ""
                warnings.warn(f"torch.compile (mode {mode!r}) failed, training without it: {type(e).__name__}: {first}")
                compiled = None
                optimizer.zero_grad(set_to_none=True)
        return one_step(model, batch)

    def run_eval(step):
        if evaluate is None:
            return
        model.eval()
        with torch.no_grad():
            metrics["evals"].append({"step": step, **evaluate(model)})
        model.train()

    t0, end = time.perf_counter(), cfg.steps if stop_after is None else min(cfg.steps, start + stop_after)
    model.train()
    bar = tqdm(range(start, end), initial=start, total=cfg.steps, disable=not progress, desc="train",
               dynamic_ncols=True)
    # Losses since the last log line; a checkpoint keeps them so a resumed log is the same.
    running = [torch.tensor(x) for x in pending]
    wall_before = metrics["wall_time_s"]
    for step in bar:
        lr = learning_rate(step, cfg)
        for group in optimizer.param_groups:
            group["lr"] = lr
        torch.manual_seed(seed_for(cfg.seed, step, DROPOUT_STREAM))  # dropout noise depends on the step only
        batch = problem.batch(step, cfg.batch_size, cfg.seed, device)
        running.append(step_fn(batch))
        done = step + 1
        if done % cfg.log_every == 0 or done == cfg.steps:
            loss = torch.stack(running).float().mean().item()
            running.clear()
            if not math.isfinite(loss):
                raise FloatingPointError(f"training loss became {loss} at step {done}; "
                                         f"lower the learning rate (lr={cfg.lr})")
            metrics["history"].append({"step": done, "loss": loss, "lr": lr})
            bar.set_postfix(loss=f"{loss:.4f}")
        if cfg.eval_every and done % cfg.eval_every == 0 and done < cfg.steps:
            run_eval(done)
        if done == cfg.steps:
            run_eval(done)
        if (cfg.checkpoint_every and done % cfg.checkpoint_every == 0) or done == end:
            metrics["wall_time_s"] = wall_before + time.perf_counter() - t0
            _save_checkpoint(run_dir, model, optimizer, done, identity, metrics,
                             [float(x) for x in running])
    bar.close()
    model.eval()
    metrics["wall_time_s"] = wall_before + time.perf_counter() - t0
    return TrainResult(model=model, metrics=metrics, wall_time_s=metrics["wall_time_s"], resumed_from=start)
