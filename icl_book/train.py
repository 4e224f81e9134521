"""The book's one training loop. Beside it: ``config`` (typed fields, overrides, ``ConfigError``),
``seeding`` (the seed streams), ``checkpoints`` (the checkpoint folders) and ``distributed``
(data parallel); here, the loop itself, its schedule, and seeds trained side by side.

``train(model, problem, config, run_dir)`` knows nothing about the model or the task. The
``problem`` supplies two things: ``batch(step, batch_size, seed, device)``, a pure function of
the step (so a resumed run sees exactly the batches it would have seen), and
``loss(model, batch)``. Everything else lives here: the AdamW optimiser, the learning-rate
schedule (a pure function of the step), gradient clipping, bf16 autocast, fused AdamW and
``torch.compile`` on CUDA, atomic checkpoints every ``checkpoint_every`` steps, ``resume``,
a progress bar and a JSON metrics log.

A checkpoint is a folder ``checkpoint-<step>/`` (weights and optimiser state, the run's state,
its metrics) written under a temporary name and renamed into place whole, so a kill at any
moment leaves the last complete checkpoint. One process trains into a run directory at a time
(``.lock``); a second is refused with one line.

On the CPU a run is deterministic: the same seed gives bit-identical weights, and a run
interrupted and resumed ends with the same weights as one that never stopped.

Between log steps the loop never makes the host wait for the device: the learning rate is a 0-d
tensor on the device, overwritten in place; problems move the batches they draw on the host with
``to_device`` (pinned memory, a non-blocking copy); the losses stay on the device until a log step
(or a checkpoint) reads them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import time
import warnings
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable, Protocol

import torch
from tqdm.auto import tqdm

from .checkpoints import STATE, discard_checkpoints, has_checkpoint, load_checkpoint, save_checkpoint
from .config import ConfigError, check_types
from .distributed import barrier, global_mean, shard, world
from .files import file_lock, shown
from .seeding import DROPOUT_STREAM, MAX_SEED, seed_for

SCHEDULES = ("cosine", "linear", "constant")
PRECISIONS = ("auto", "fp32", "bf16")
COMPILE_MODES = ("auto", "off", "default", "reduce-overhead", "max-autotune")


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during training; ``checkpoint`` is the step this run can resume from (or None)."""

    def __init__(self, checkpoint: int | None):
        super().__init__(checkpoint)
        self.checkpoint = checkpoint


class Paused(Exception):
    """The run reached its wall-clock ``deadline`` and stopped at a checkpoint (``checkpoint``, the
    step to resume from); nothing is evaluated or stored until a later call finishes it."""

    def __init__(self, checkpoint: int):
        super().__init__(f"paused at the checkpoint of step {checkpoint}")
        self.checkpoint = checkpoint


MAX_LR = 1.0  # AdamW diverges far below this; a larger rate is a typo (3e4 for 3e-4)
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
        check_types(self)
        for f in fields(self):
            if isinstance(getattr(self, f.name), float) and not math.isfinite(getattr(self, f.name)):
                raise ConfigError(f"TrainConfig.{f.name} must be finite, got {getattr(self, f.name)!r}")
        if self.lr > MAX_LR:
            raise ConfigError(f"TrainConfig.lr must be at most {MAX_LR} (AdamW diverges far below), got {self.lr!r}")
        positive = ("steps", "batch_size", "lr", "log_every")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"TrainConfig.{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("warmup_steps", "weight_decay", "grad_clip", "eval_every", "checkpoint_every", "seed"):
            if getattr(self, name) < 0:
                raise ConfigError(f"TrainConfig.{name} must be >= 0, got {getattr(self, name)!r}")
        if self.seed > MAX_SEED:   # torch.manual_seed takes 64 bits; seed streams mix it further
            raise ConfigError(f"TrainConfig.seed must be at most 2**63 - 1, got {self.seed!r}")
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


def to_device(tensor: torch.Tensor, device: str | torch.device) -> torch.Tensor:
    """``tensor``, made on the host, on ``device`` without making the host wait for the GPU.

    A plain ``.to("cuda")`` from ordinary (pageable) memory ends with a stream synchronisation: the
    host waits until every kernel queued before it has run, once a step. Through pinned memory and a
    non-blocking copy the copy is queued like a kernel instead (PyTorch's pinned-memory allocator keeps
    the host buffer alive until the copy has run). On the CPU this is ``.to`` and copies nothing.
    Problems call it for the batches they draw on the host, so a GPU run sees the very batches of a
    CPU run (the same CPU generators) without a sync per step."""
    device = torch.device(device)
    if device.type != "cuda" or tensor.device.type != "cpu":
        return tensor.to(device)
    return tensor.pin_memory().to(device, non_blocking=True)


def lr_tensor(lr: float, device: torch.device) -> torch.Tensor:
    """The learning rate as a 0-d tensor on ``device``, which the loop overwrites in place each step:
    setting it is then a device operation, not a new Python number for the optimiser (no host sync,
    no recompilation of a compiled step, and a captured CUDA graph reads each new value). float64 on
    the CPU, where AdamW turns it back into a Python number, so the arithmetic and the weights are
    bit for bit those of a float rate; float32 elsewhere, the type the fused CUDA AdamW reads."""
    device = torch.device(device)
    return torch.tensor(lr, dtype=torch.float64 if device.type == "cpu" else torch.float32, device=device)


class Problem(Protocol):
    def batch(self, step: int, batch_size: int, seed: int, device: torch.device) -> Any: ...
    def loss(self, model: torch.nn.Module, batch: Any) -> torch.Tensor: ...


@dataclass
class TrainResult:
    model: torch.nn.Module
    metrics: dict
    wall_time_s: float
    resumed_from: int
    seeds_together: tuple[int, ...] = ()  # the seeds trained side by side with this one (itself included)


def _compile_mode(cfg: TrainConfig, device: torch.device) -> str | None:
    mode = cfg.compile
    if mode == "auto":
        mode = "default" if device.type == "cuda" else "off"
    return None if mode == "off" else mode


def _diverged(loss: float, step: int, cfg: TrainConfig) -> FloatingPointError:
    return FloatingPointError(f"training diverged: the loss became {loss} by step {step}; lower the learning "
                              f"rate (now lr={cfg.lr}), e.g. --set lr={cfg.lr / 3:.2g}, and start with --fresh")


def train(model: torch.nn.Module, problem: Problem, cfg: TrainConfig, run_dir: str | Path, *,
          device: str | torch.device = "cpu", resume: bool = False, fresh: bool = False, progress: bool = True,
          identity: dict | None = None, evaluate: Callable[[torch.nn.Module], dict] | None = None,
          stop_after: int | None = None) -> TrainResult:
    """Train ``model`` on ``problem`` for ``cfg.steps`` steps, checkpointing into ``run_dir``.

    ``identity`` (any JSON) names the run; resuming checks it matches (on the CPU the thread
    count is part of it). ``resume`` continues the last checkpoint and refuses when there is
    none; ``fresh`` discards it, once every check of this run has passed. ``evaluate`` is called
    every ``cfg.eval_every`` steps and at the end; its dict goes into the metrics log.
    ``stop_after`` ends the run early after that many steps, as an interruption would (tests).
    A Ctrl-C comes out as ``Interrupted``, naming the checkpoint to resume from.
    """
    return train_seeds([model], problem, [cfg], [run_dir], device=device, resume=resume, fresh=fresh,
                       progress=progress, identities=[identity], evaluate=evaluate, stop_after=stop_after)[0]


def can_stack(model: torch.nn.Module) -> str | None:
    """Why ``model`` cannot train side by side with copies of itself under ``torch.func.vmap``
    (None when it can): a recurrent layer has no batching rule, and dropout under vmap would draw
    one noise for all seeds, not each seed's own stream."""
    for name, m in model.named_modules():
        if isinstance(m, torch.nn.RNNBase):
            return f"{name or type(model).__name__} is a recurrent layer ({type(m).__name__}), which vmap cannot batch"
        p = getattr(m, "p", None) if isinstance(m, torch.nn.modules.dropout._DropoutNd) else getattr(m, "dropout", None)
        if isinstance(p, float) and p > 0:
            return f"the model uses dropout ({name or 'model'}: {p}), and each seed must draw its own dropout noise"
    return None


def train_seeds(models: list[torch.nn.Module], problem: Problem, cfgs: list[TrainConfig], run_dirs: list[str | Path],
                *, device: str | torch.device = "cpu", resume: bool = False, fresh: bool = False,
                progress: bool = True, identities: list[dict | None] | None = None,
                evaluate: Callable[[torch.nn.Module], dict] | list | None = None, stop_after: int | None = None,
                together: bool | None = None, deadline: float | None = None) -> list[TrainResult]:
    """Train several copies of one model that differ only in their seed, each into its own run
    directory, with its own checkpoints, metrics and result: the same as ``train`` on each alone.

    Side by side (``together``; by default whenever ``can_stack`` allows and there are several):
    each step stacks the seeds' parameters and batches along a new leading axis and evaluates
    ``problem.loss`` once under ``torch.func.vmap``, so every matrix product is one batched
    product over the seeds. Stacked parameters with vmap rather than a batched model class: the
    book keeps one transformer, and every problem's loss (written for one model) runs unchanged
    on a seed's slice. Each seed keeps its own ``nn.Module`` and AdamW (the stack is rebuilt
    from them each step, and the gradients flow back to them), so clipping, the optimiser step,
    evaluation and checkpoints are the single-seed code on each, and a seed's checkpoint is
    exactly the one its single-seed run writes (either can resume the other). A seed's weights
    agree with its single-seed run to float rounding over the first steps (the batched products sum
    in another order) and drift apart over a long run, as any two float orders do.
    Models ``can_stack`` refuses (the LSTM, dropout) train one after another, same interface.
    ``evaluate`` is one callable for every seed or a list with one per seed. ``deadline`` (a
    ``time.monotonic()`` value): past it, checkpoint and raise ``Paused`` (chunked GPU stays).

    Data parallel (``torchrun --nproc-per-node N``, ``torch.distributed`` initialised): each
    process makes the whole global batch of ``cfg.batch_size`` (a pure function of the step, as
    in one process) and trains on its ``1/N`` of the rows through ``DistributedDataParallel``,
    which averages the gradients, so a step is the single-process step on the same global batch.
    Only rank 0 takes the run directory's lock, evaluates and writes checkpoints; a checkpoint is
    the single-process one (the logged losses are the global batch's), so a run resumes under
    any number of processes. Seeds then train one after another.
    """
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device cuda was asked for, but PyTorch sees no CUDA device")
    if resume and fresh:
        raise ConfigError("resume and fresh exclude each other")
    if not (len(models) == len(cfgs) == len(run_dirs)) or not models:
        raise ValueError(f"train_seeds needs one config and run directory per model, got {len(models)} models, "
                         f"{len(cfgs)} configs, {len(run_dirs)} run directories")
    if len({json.dumps({**c.to_dict(), "seed": 0}, sort_keys=True) for c in cfgs}) != 1:
        raise ConfigError("seeds trained together must share every training setting but the seed")
    if len({c.seed for c in cfgs}) != len(cfgs):
        raise ConfigError(f"each seed once: got seeds {[c.seed for c in cfgs]}")
    run_dirs = [Path(d) for d in run_dirs]
    if len(set(run_dirs)) != len(run_dirs):
        raise ConfigError("each seed needs its own run directory")
    for run_dir in run_dirs:
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise ConfigError(f"run directory {shown(run_dir)} is a file (or lies under one); "
                              f"pass another --run-dir or move the file") from None
    identities = identities or [None] * len(models)
    evaluates = evaluate if isinstance(evaluate, (list, tuple)) else [evaluate] * len(models)
    idents = []
    for cfg, ident in zip(cfgs, identities):
        ident = {"train": cfg.to_dict(), **(ident or {})}
        if device.type == "cpu":
            ident["threads"] = torch.get_num_threads()
        idents.append(ident)
    rank, size = world()
    why_not = can_stack(models[0]) if size == 1 else "a data-parallel run trains one seed at a time"
    if cfgs[0].batch_size % size:
        raise ConfigError(f"the global batch ({cfgs[0].batch_size}) must split evenly over the {size} processes")
    if together and why_not:
        raise ConfigError(f"these seeds cannot train side by side: {why_not}")
    together = len(models) > 1 and why_not is None if together is None else together
    groups = [list(range(len(models)))] if together else [[i] for i in range(len(models))]
    with contextlib.ExitStack() as locks:
        for run_dir in run_dirs if rank == 0 else ():  # rank 0 writes for every process
            locks.enter_context(file_lock(run_dir / ".lock", wait=False,
                                          busy=f"another process is training into {shown(run_dir)}; wait for it "
                                               f"to finish, or pass another --run-dir"))
        lanes = [_Lane.open(models[i], cfgs[i], run_dirs[i], idents[i], device, resume, fresh, evaluates[i])
                 for i in range(len(models))]
        if len({lane.start for lane in lanes}) != 1:
            raise ConfigError("the seeds' checkpoints are at different steps ("
                              + ", ".join(f"seed {lane.cfg.seed}: {lane.start}" for lane in lanes)
                              + "); resume each seed alone")
        barrier()  # every process has read its checkpoint before rank 0 may discard or replace it
        for lane in lanes:
            lane.discard_if(fresh and rank == 0)  # every check has passed: only now is an old run given up
        results: list[TrainResult] = []
        for group in groups:
            results += _loop([lanes[i] for i in group], problem, device, progress, stop_after, deadline)
        return results


@dataclass
class _Lane:
    """One seed of a run: its model, optimiser, run directory and metrics."""
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    lr: torch.Tensor  # every param group's learning rate: one 0-d tensor, overwritten each step
    cfg: TrainConfig
    run_dir: Path
    identity: dict
    start: int
    metrics: dict
    pending: list[float]
    evaluate: Callable[[torch.nn.Module], dict] | None

    @classmethod
    def open(cls, model, cfg, run_dir, identity, device, resume, fresh, evaluate) -> "_Lane":
        model.to(device)
        decay, no_decay = [], []
        for name, p in model.named_parameters():
            (decay if p.dim() >= 2 and "embed" not in name and "pos" not in name else no_decay).append(p)
        lr = lr_tensor(cfg.lr, device)
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=lr, betas=(cfg.beta1, cfg.beta2), fused=device.type == "cuda")
        start, metrics, pending = 0, {"identity": identity, "history": [], "evals": [], "wall_time_s": 0.0}, []
        legacy = (run_dir / STATE).exists()
        if resume and has_checkpoint(run_dir) is None:
            raise ConfigError(f"{shown(run_dir)} holds no checkpoint to resume"
                              + (" (only one in an earlier layout: start afresh with --fresh)" if legacy else
                                 "; run the same command without --resume to start"))
        if resume:
            start, metrics, pending = load_checkpoint(run_dir, model, optimizer, identity, cfg)
        elif not fresh and (has_checkpoint(run_dir) is not None or legacy):
            raise ConfigError(f"{shown(run_dir)} already holds a checkpoint at step {has_checkpoint(run_dir) or '?'}: "
                              f"pass resume (--resume) to continue it, or remove it (--fresh) to start again")
        for group in optimizer.param_groups:  # a loaded checkpoint holds the rate as a number
            group["lr"] = lr
        return cls(model, optimizer, lr, cfg, run_dir, identity, start, metrics, pending, evaluate)

    def discard_if(self, fresh: bool) -> None:
        if fresh:
            discard_checkpoints(self.run_dir)


def _clip_and_step(lane: _Lane) -> None:
    if lane.cfg.grad_clip:
        torch.nn.utils.clip_grad_norm_(lane.model.parameters(), lane.cfg.grad_clip)
    lane.optimizer.step()
    lane.optimizer.zero_grad(set_to_none=True)


class _Bound:
    """One seed's slice of the stacked parameters, called like the model (inside vmap)."""

    def __init__(self, base: torch.nn.Module, params: dict, buffers: dict):
        self.base, self.params, self.buffers = base, params, buffers
        self.training = base.training
        self.cfg = getattr(base, "cfg", None)

    def __call__(self, *args, **kwargs):
        return torch.func.functional_call(self.base, (self.params, self.buffers), args, kwargs)


def _stack_batches(batches: list) -> Any:
    from torch.utils._pytree import tree_flatten, tree_unflatten

    flat = [tree_flatten(b) for b in batches]
    leaves, spec = flat[0]
    if not all(isinstance(x, torch.Tensor) for x in leaves):
        raise TypeError("side-by-side seeds need batches made of tensors only")
    return tree_unflatten([torch.stack([f[0][k] for f in flat]) for k in range(len(leaves))], spec)


def _step_function(lanes: list[_Lane], problem: Problem, device: torch.device, use_bf16: bool, mode: str | None):
    """``step(batches) -> losses [S]``: one optimiser step of every lane. One lane: the plain
    forward and backward of its model; several: their stacked parameters under vmap."""
    models = [lane.model for lane in lanes]
    if len(lanes) == 1:
        def losses(batches):
            return problem.loss(forward_model, batches[0])[None]
        forward_model = models[0]
        if world()[1] > 1:  # gradients averaged over the processes during the backward pass
            from torch.nn.parallel import DistributedDataParallel

            forward_model = DistributedDataParallel(
                models[0], device_ids=[device.index if device.index is not None else torch.cuda.current_device()]
                if device.type == "cuda" else None)
        target = forward_model
    else:
        base = models[0]
        names = [n for n, _ in base.named_parameters()]
        params = [[p for _, p in m.named_parameters()] for m in models]
        buffers = dict(base.named_buffers())

        def per_seed(stacked, batch):
            return problem.loss(_Bound(base, stacked, buffers), batch)

        batched_loss = torch.func.vmap(per_seed, randomness="error")

        def losses(batches):
            stacked = {n: torch.stack([ps[j] for ps in params]) for j, n in enumerate(names)}
            with warnings.catch_warnings():  # vmap loops over the seeds where an op has no batching rule
                warnings.filterwarnings("ignore", message="There is a performance drop")
                return batched_loss(stacked, _stack_batches(batches))
        target = losses
    compiled = torch.compile(target, mode=mode) if mode else None

    def one_step(fn, batches):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            out = fn(batches)
        out.sum().backward()
        for lane in lanes:
            _clip_and_step(lane)
        # A copy: the loop keeps the losses until the next log step, and the output of a CUDA graph
        # (reduce-overhead, max-autotune) is overwritten by the graph's next replay.
        return out.detach().clone()

    graphs = mode in ("reduce-overhead", "max-autotune") and device.type == "cuda"

    def step(batches):
        nonlocal compiled
        if compiled is not None:
            if graphs:  # a new training iteration: the CUDA graphs may reuse the last one's memory
                torch.compiler.cudagraph_mark_step_begin()
            try:
                if len(lanes) == 1:
                    return one_step(lambda b: problem.loss(compiled, b[0])[None], batches)
                return one_step(compiled, batches)
            except Exception as e:  # noqa: BLE001 -- no C++ compiler, an unsupported op: go on eagerly
                first = str(e).splitlines()[0] if str(e) else ""
                warnings.warn(f"torch.compile (mode {mode!r}) failed, training without it: {type(e).__name__}: {first}")
                compiled = None
                for lane in lanes:
                    lane.optimizer.zero_grad(set_to_none=True)
        return one_step(losses, batches)

    return step


def _loop(lanes: list[_Lane], problem: Problem, device: torch.device, progress: bool, stop_after, deadline=None):
    """The training loop, over one seed or several side by side (``lanes``)."""
    cfg = lanes[0].cfg  # every setting but the seed is shared
    use_bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and device.type == "cuda")
    step_fn = _step_function(lanes, problem, device, use_bf16, _compile_mode(cfg, device))
    label = lambda lane: "" if len(lanes) == 1 else f" (seed {lane.cfg.seed})"

    rank, size = world()

    def run_eval(lane, step):
        if lane.evaluate is None or rank != 0:
            return
        lane.model.eval()
        with torch.no_grad():
            lane.metrics["evals"].append({"step": step, **lane.evaluate(lane.model)})
        lane.model.train()

    def diverged(loss, step, lane):
        e = _diverged(loss, step, cfg)
        return FloatingPointError(str(e).replace("training diverged", f"training diverged{label(lane)}", 1))

    start = lanes[0].start
    t0, end = time.perf_counter(), cfg.steps if stop_after is None else min(cfg.steps, start + stop_after)
    for lane in lanes:
        lane.model.train()
    bar = tqdm(range(start, end), initial=start, total=cfg.steps, disable=not progress,
               desc="train" if len(lanes) == 1 else f"train {len(lanes)} seeds", dynamic_ncols=True)
    # Losses since the last log line, left on the device and read only at a log step (or a
    # checkpoint, which keeps them so that a resumed log is the same).
    running = [[torch.tensor(x, device=device) for x in lane.pending] for lane in lanes]
    walls = [lane.metrics["wall_time_s"] for lane in lanes]
    try:
        for step in bar:
            lr = learning_rate(step, cfg)
            for lane in lanes:
                lane.lr.fill_(lr)  # in place, on the device: no host sync, and nothing new to recompile
            torch.manual_seed(seed_for(lanes[0].cfg.seed, step, DROPOUT_STREAM))  # dropout noise depends on the step only
            batches = [shard(problem.batch(step, cfg.batch_size, lane.cfg.seed, device), rank, size)
                       for lane in lanes]
            losses = step_fn(batches)
            done = step + 1
            for i, lane in enumerate(lanes):
                running[i].append(losses[i])
                if done % cfg.log_every == 0 or done == cfg.steps:
                    loss = global_mean(torch.stack(running[i]).float()).mean().item()
                    running[i].clear()
                    if not math.isfinite(loss):
                        raise diverged(loss, done, lane)
                    lane.metrics["history"].append({"step": done, "loss": loss, "lr": lr})
                    if i == 0:
                        bar.set_postfix(loss=f"{loss:.4f}")
                if (cfg.eval_every and done % cfg.eval_every == 0 and done < cfg.steps) or done == cfg.steps:
                    run_eval(lane, done)
            pause = deadline is not None and done < end and time.monotonic() > deadline
            if deadline is not None and size > 1 and done % cfg.log_every:
                pause = False  # the processes agree at log steps only: reading the flag is a host sync
            elif deadline is not None and size > 1:  # every process pauses at the same step
                import torch.distributed as dist

                flag = torch.tensor([float(pause)], device=device)
                dist.all_reduce(flag, op=dist.ReduceOp.MAX)
                pause = bool(flag.item())
            if (cfg.checkpoint_every and done % cfg.checkpoint_every == 0) or done == end or pause:
                for i, lane in enumerate(lanes):
                    lane.metrics["wall_time_s"] = walls[i] + time.perf_counter() - t0
                    pending = [float(x) for x in global_mean(torch.stack(running[i]))] if running[i] else []
                    if not all(math.isfinite(x) for x in pending):  # never checkpoint a diverged model
                        raise diverged(next(x for x in pending if not math.isfinite(x)), done, lane)
                    if rank == 0:
                        save_checkpoint(lane.run_dir, lane.model, lane.optimizer, done, lane.identity,
                                         lane.metrics, pending)
                barrier()
            if pause:
                raise Paused(done)
    except KeyboardInterrupt:
        raise Interrupted(has_checkpoint(lanes[0].run_dir)) from None
    finally:
        bar.close()
    results = []
    for i, lane in enumerate(lanes):
        lane.model.eval()
        lane.metrics["wall_time_s"] = walls[i] + time.perf_counter() - t0
        results.append(TrainResult(model=lane.model, metrics=lane.metrics, wall_time_s=lane.metrics["wall_time_s"],
                                   resumed_from=start, seeds_together=tuple(x.cfg.seed for x in lanes)))
    return results
