"""Checkpoints of the training loop: a folder ``checkpoint-<step>/`` (weights and optimiser state as
safetensors, the run's state and its metrics as JSON) written under a temporary name and renamed
into place whole, so a kill at any moment leaves the last complete one; loading checks that it
belongs to the same run (its identity, its thread count) and is complete."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from safetensors.torch import load as load_safetensors_bytes

from .config import ConfigError
from .files import atomic_write, dump_json, shown
from .store import load_state_tensors, state_tensors, tensors_to_bytes


CHECKPOINT = "checkpoint.safetensors"
STATE = "checkpoint.json"
METRICS = "metrics.json"
_SET = re.compile(r"checkpoint-(\d{8})")


def checkpoints(run_dir: Path) -> list[Path]:
    """The complete checkpoint folders in ``run_dir``, oldest first (a partial one has a temporary name)."""
    return sorted(p for p in run_dir.glob("checkpoint-*") if _SET.fullmatch(p.name) and p.is_dir()) \
        if run_dir.is_dir() else []


def save_checkpoint(run_dir: Path, model, optimizer, step: int, identity: dict, metrics: dict,
                     pending: list[float]):
    tensors = {f"model.{k}": v for k, v in state_tensors(model).items()}
    opt = optimizer.state_dict()
    for idx, state in opt["state"].items():
        for key, value in state.items():
            tensors[f"optim.{idx}.{key}"] = value.detach().to("cpu").reshape(value.shape).contiguous()
    groups = [{**g, "lr": float(g["lr"])} for g in opt["param_groups"]]  # the lr tensor, as the number it holds
    state = {"step": step, "identity": identity, "param_groups": groups, "pending_losses": pending}
    final = run_dir / f"checkpoint-{step:08d}"
    tmp = Path(tempfile.mkdtemp(dir=run_dir, prefix=f".{final.name}.", suffix=".tmp"))
    try:
        atomic_write(tmp / CHECKPOINT, tensors_to_bytes(tensors))
        atomic_write(tmp / STATE, dump_json(state))
        atomic_write(tmp / METRICS, dump_json(metrics))
        if final.exists():
            shutil.rmtree(final)
        os.rename(tmp, final)  # the whole set appears at once
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for old in checkpoints(run_dir):
        if old != final:
            shutil.rmtree(old)


def expected_log_steps(step: int, cfg) -> list[int]:
    return [s for s in range(1, step + 1) if s % cfg.log_every == 0 or s == cfg.steps]


def load_checkpoint(run_dir: Path, model, optimizer, identity: dict,
                     cfg) -> tuple[int, dict, list[float]]:
    where = checkpoints(run_dir)[-1]
    state = json.loads((where / STATE).read_text())
    if state["identity"] != identity:
        theirs, ours = state["identity"].get("threads"), identity.get("threads")
        if {**state["identity"], "threads": ours} == identity:
            raise ConfigError(f"{shown(where)} was trained with {theirs} CPU threads and this run has {ours}: "
                              f"sums in another order would not reproduce the uninterrupted run; resume with "
                              f"--threads {theirs}")
        raise ConfigError(f"{shown(run_dir)} holds a checkpoint of a different run; its config differs from this one. "
                          f"Start afresh with --fresh, or resume with the same experiment, profile and overrides.")
    metrics = json.loads((where / METRICS).read_text())
    logged = [h["step"] for h in metrics["history"]]
    if state["step"] != int(where.name[len("checkpoint-"):]) or logged != expected_log_steps(state["step"], cfg):
        raise ConfigError(f"{shown(where)} is inconsistent (its metrics log {len(logged)} records for step "
                          f"{state['step']}); start afresh with --fresh")
    tensors = load_safetensors_bytes((where / CHECKPOINT).read_bytes())
    load_state_tensors(model, {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, str(where))
    opt_state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, idx, name = key.split(".", 2)
            opt_state.setdefault(int(idx), {})[name] = value
    optimizer.load_state_dict({"state": opt_state, "param_groups": state["param_groups"]})
    return state["step"], metrics, state["pending_losses"]


def has_checkpoint(run_dir: str | Path) -> int | None:
    """The step of the last complete checkpoint in ``run_dir``, or None."""
    sets = checkpoints(Path(run_dir))
    return int(sets[-1].name[len("checkpoint-"):]) if sets else None


def discard_checkpoints(run_dir: Path) -> None:
    for old in checkpoints(run_dir):
        shutil.rmtree(old)
    for leftover in run_dir.glob(".checkpoint-*.tmp"):  # a set a kill left half written
        shutil.rmtree(leftover, ignore_errors=True)
    for legacy in (CHECKPOINT, STATE, METRICS):  # the flat layout of earlier versions
        (run_dir / legacy).unlink(missing_ok=True)
