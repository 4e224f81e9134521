"""The locate-and-project chapter (after Yu & Ananiadou, EMNLP 2024): transformers trained on
in-context classification with labels re-assigned in every prompt, one per training prior:

- ``classify-proportional``: the query's class is drawn in proportion to the demonstration
  counts (the counts are evidence about it);
- ``classify-independent``: the query's class is a fair coin whatever the counts.

The model is trained on every label of the prompt at once (cross-entropy on the label token
due after each ``SEP``); it is evaluated at the query. A monitor records held-out query accuracy
during training, so the artifact holds the curve with its abrupt rise.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from ..models import TransformerConfig
from ..tasks.classification import ClassificationPrompts, ClassificationTask
from ..train import EVAL_STREAM, TrainConfig, seed_for
from .base import Experiment, Profile

MONITOR_PROMPTS = 512     # held-out prompts for the accuracy curve during training


class ClassificationProblem:
    """Batches of classification prompts (a pure function of seed and step) and the label loss
    at every SEP."""

    def __init__(self, task: ClassificationTask):
        self.task = task
        self._seps: dict[torch.device, torch.Tensor] = {}

    def batch(self, step: int, batch_size: int, seed: int, device: torch.device):
        prompts = self.task.sample(batch_size, seed_for(seed, step))
        return torch.from_numpy(prompts.tokens).to(device), torch.from_numpy(prompts.targets).to(device)

    def loss(self, model, batch) -> torch.Tensor:
        tokens, targets = batch
        device = tokens.device
        if device not in self._seps:
            self._seps[device] = torch.from_numpy(self.task.seps).to(device)
        logits = model(tokens)[:, self._seps[device]]                                   # [B, n + 1, V]
        return torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), targets.flatten())


def eval_set(task: ClassificationTask, n_prompts: int, seed: int = 0, **probe) -> ClassificationPrompts:
    """Held-out prompts from the evaluation stream (never a training batch); ``probe`` keywords
    (``n_a``, ``order``, ``query``) fix parts of the draw."""
    return task.probe(n_prompts, seed_for(seed, 0, EVAL_STREAM), **probe)


@torch.no_grad()
def sep_logits(model, prompts: ClassificationPrompts, batch: int = 500) -> np.ndarray:
    """The model's next-token logits at every SEP: ``[B, n + 1, V]`` (float64)."""
    device = next(model.parameters()).device
    seps = torch.from_numpy(prompts.seps[0]).to(device)
    out = []
    for i in range(0, len(prompts.tokens), batch):
        tokens = torch.from_numpy(prompts.tokens[i:i + batch]).to(device)
        out.append(model(tokens)[:, seps].double().cpu().numpy())
    return np.concatenate(out)


def query_scores(logits: np.ndarray, prompts: ClassificationPrompts) -> dict:
    """At the query: whether the top token over the whole vocabulary is the target, whether the
    target beats the competing in-prompt label, and p(A) / (p(A) + p(B))."""
    q = logits[:, -1]
    b = np.arange(len(q))
    target, other = prompts.targets[:, -1], prompts.competing_label
    la, lb = q[b, prompts.class_label[:, 0]], q[b, prompts.class_label[:, 1]]
    return {"top1": (q.argmax(-1) == target).astype(float),
            "binary": (q[b, target] > q[b, other]).astype(float),
            "p_a": 1.0 / (1.0 + np.exp(lb - la))}


def _mean_ci(values: np.ndarray) -> dict:
    values = np.asarray(values, dtype=float)
    half = 1.96 * values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else 0.0
    return {"mean": float(values.mean()), "lo": float(values.mean() - half), "hi": float(values.mean() + half)}


def monitor_classification(model, profile: Profile) -> dict:
    """Held-out query accuracy and loss, for the curve recorded during training."""
    prompts = eval_set(profile.task, MONITOR_PROMPTS, seed=1)
    logits = sep_logits(model, prompts)
    s = query_scores(logits, prompts)
    q = torch.from_numpy(logits[:, -1])
    loss = torch.nn.functional.cross_entropy(q, torch.from_numpy(prompts.targets[:, -1])).item()
    return {"query_accuracy": float(s["binary"].mean()), "query_top1": float(s["top1"].mean()), "query_loss": loss}


def evaluate_classification(model, profile: Profile) -> dict:
    """Query accuracy (binary: the target beats the competing label; top-1 over the vocabulary)
    with 95 % intervals, accuracy at every SEP (after i demonstrations) and accuracy against n_A."""
    task = profile.task
    prompts = eval_set(task, profile.eval_prompts)
    logits = sep_logits(model, prompts)
    s = query_scores(logits, prompts)
    at_sep = (logits.argmax(-1) == prompts.targets).mean(0)
    by_count = {}
    for n_a in range(1, task.n_demos):
        sel = prompts.n_a == n_a
        by_count[str(n_a)] = float(s["binary"][sel].mean()) if sel.any() else None
    return {"query_accuracy": _mean_ci(s["binary"]), "query_top1": _mean_ci(s["top1"]),
            "accuracy_at_sep": at_sep.tolist(), "accuracy_by_n_a": by_count, "chance": 0.5,
            "n_prompts": int(len(prompts.tokens))}


# ---- profiles ---------------------------------------------------------------------------------

def _model(task: ClassificationTask, **kw) -> TransformerConfig:
    return TransformerConfig(vocab_size=task.vocab_size, n_ctx=task.seq_len, **kw)


# Smoke: a small vocabulary (8 clusters of 4) and a small model, seconds on a CPU; it learns
# to beat chance but has not had the time for the cpu model's abrupt rise.
SMOKE_TASK = ClassificationTask(n_clusters=8, cluster_size=4)
_SMOKE_TRAIN = TrainConfig(steps=300, batch_size=64, lr=3e-3, warmup_steps=30, schedule="constant",
                           log_every=50, eval_every=100, checkpoint_every=0)
_CPU_TRAIN = TrainConfig(steps=4500, batch_size=256, lr=1e-3, warmup_steps=100, schedule="constant",
                         log_every=50, eval_every=100, checkpoint_every=500)
_PAPER_TRAIN = TrainConfig(steps=20_000, batch_size=512, lr=1e-3, warmup_steps=500, log_every=200,
                           eval_every=500, checkpoint_every=2000)


def _profiles(prior: str) -> dict[str, Profile]:
    task = ClassificationTask(prior=prior)
    smoke = dataclasses.replace(SMOKE_TASK, prior=prior)
    return {
        "smoke": Profile(smoke, _model(smoke, n_layer=2, n_head=4, d_model=64), _SMOKE_TRAIN, eval_prompts=400),
        "cpu": Profile(task, _model(task, n_layer=3, n_head=4, d_model=128), _CPU_TRAIN, eval_prompts=2000,
                       note="the book's synthetic stand-in for the paper's LLM prompts: a 3-layer, 4-head, "
                            "128-wide pre-LN decoder trained from scratch"),
        "paper": Profile(task, _model(task, n_layer=4, n_head=8, d_model=256), _PAPER_TRAIN, eval_prompts=5000,
                         note="the paper analyses pretrained GPT-2 and Llama models, which the book cannot "
                              "download; this is a larger model of the same synthetic task (one GPU)"),
    }


PRIOR_SUMMARY = {"proportional": "the query's class in proportion to the demonstration counts",
                 "independent": "the query's class independent of the counts"}

CLASSIFICATION_EXPERIMENTS = [
    Experiment(f"classify-{prior}", "locate_project",
               f"in-context classification with re-assigned labels; {PRIOR_SUMMARY[prior]} "
               f"(after Yu & Ananiadou 2024)",
               _profiles(prior), lambda p: ClassificationProblem(p.task), evaluate_classification,
               monitor=monitor_classification)
    for prior in ("proportional", "independent")
]
