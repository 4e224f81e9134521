"""The kernel-regression chapter (Han, Wang, Zhao & Ji, TMLR 2025): a transformer pretrained on a
mixture of HMMs where the theory's assumptions hold, beside the exact Bayes predictor.

The GINC chapter's models are trained on long HMM documents that never reset, with the released
code's sparse matrices (about a third of the transition entries exactly zero). The theory of this
chapter wants the opposite on both counts: every transition positive, and a delimiter that sends
the chain back to the task's start state, so that the demonstrations of a prompt are independent
given the task. The GINC generator already makes such documents: a ``make_prompts`` prompt *is*
one (each example restarts at ``(U{entities}, s0)`` under ``θ``, a delimiter follows it), and with
the paper's ``R = 100`` permutations (``GINCConfig()``) no transition is zero. So the pretraining
corpus is ``make_prompts`` output with many examples, and the exact predictor of every prompt is
``icl_book.bayes.kernel_regression.posterior_predictive`` over the tasks ``(θ, s0)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import lru_cache

import numpy as np
import torch

from ..bayes.kernel_regression import TaskFamily, posterior_predictive, split_prompts
from ..models import TransformerConfig
from ..tasks import GINCConfig, build_hmms, make_prompts
from ..train import TrainConfig
from .base import Experiment, LanguageModelProblem, Profile
from .ginc import last_token_predictions

EVAL_SEED = 30_000   # evaluation prompt sets; the corpus uses data_seed (never an EVAL_SEED + ...)


@dataclass(frozen=True)
class KernelTask:
    hmm: GINCConfig = field(default_factory=GINCConfig)   # R = 100: no transition is exactly zero
    k: int = 3                    # example length: x is k - 1 tokens, y one
    n_doc: int = 64               # examples per pretraining document (a prompt of make_prompts)
    n_docs: int = 20_000          # pretraining documents
    data_seed: int = 0
    eval_n: tuple[int, ...] = (0, 1, 2, 4, 8, 16, 32, 64)
    eval_prompts: int = 300       # prompts per n

    def __post_init__(self):
        if not isinstance(self.k, int) or self.k < 2 or not isinstance(self.n_doc, int) or self.n_doc < 1:
            raise ValueError(f"KernelTask needs k >= 2 and n_doc >= 1, got k={self.k!r}, n_doc={self.n_doc!r}")
        if max(self.eval_n) > self.n_doc:
            raise ValueError(f"KernelTask.eval_n goes to {max(self.eval_n)}, past the documents' {self.n_doc} "
                             f"examples (the model's context)")

    @property
    def doc_len(self) -> int:
        return self.n_doc * (self.k + 1) + self.k - 1

    def to_dict(self) -> dict:
        return asdict(self)


@lru_cache(maxsize=2)
def _corpus(task: KernelTask) -> torch.Tensor:
    docs = make_prompts(build_hmms(task.hmm), task.k, task.n_doc, task.n_docs, seed=task.data_seed).tokens
    return torch.from_numpy(np.ascontiguousarray(docs))


def kernel_problem(p: Profile) -> LanguageModelProblem:
    return LanguageModelProblem(_corpus(p.task))


def eval_prompt_set(task: KernelTask, n: int, n_prompts: int | None = None, offset: int = 0):
    """The held-out prompts of ``n`` examples (``offset`` picks another disjoint set)."""
    return make_prompts(build_hmms(task.hmm), task.k, n, n_prompts or task.eval_prompts,
                        seed=EVAL_SEED + 1000 * offset + n)


def evaluate_kernel(model, p: Profile) -> dict:
    """Accuracy against the label (argmax under θ*) and agreement with the exact Bayes prediction,
    for every n of the grid; the exact predictor's own accuracy beside them."""
    model.eval()
    task = p.task
    ginc = build_hmms(task.hmm)
    family = TaskFamily.from_ginc_prompts(ginc)
    rows = {"model_accuracy": [], "bayes_accuracy": [], "model_bayes_agreement": []}
    for n in task.eval_n:
        pr = eval_prompt_set(task, n)
        ex, xt = split_prompts(pr.tokens, task.k, n)
        bayes = posterior_predictive(family, ex, xt).prediction
        pred = last_token_predictions(model, pr.tokens, batch=256)
        rows["model_accuracy"].append(round(float(np.mean(pred == pr.labels)), 5))
        rows["bayes_accuracy"].append(round(float(np.mean(bayes == pr.labels)), 5))
        rows["model_bayes_agreement"].append(round(float(np.mean(pred == bayes)), 5))
    return {"n": list(task.eval_n), "n_prompts": task.eval_prompts, **rows,
            "min_transition": family.min_transition()}


SMOKE_TASK = KernelTask(hmm=GINCConfig(vocab_size=20, n_entities=4, n_properties=4, n_concepts=4,
                                       n_pretrain_concepts=2), n_doc=8, n_docs=64, eval_n=(0, 2, 8),
                        eval_prompts=32)
CPU_TASK = KernelTask()


def _cfg(task: KernelTask, **kw) -> TransformerConfig:
    return TransformerConfig(vocab_size=task.hmm.model_vocab_size, n_ctx=task.doc_len, **kw)


KERNEL_CPU_STEPS = 6000   # 0.22 s a step on one thread: about 22 minutes

KERNEL_PROFILES = {
    "smoke": Profile(SMOKE_TASK, _cfg(SMOKE_TASK, n_layer=2, n_head=2, d_model=32),
                     TrainConfig(steps=40, batch_size=8, lr=3e-3, warmup_steps=4, log_every=20, checkpoint_every=20)),
    "cpu": Profile(CPU_TASK, _cfg(CPU_TASK, n_layer=4, n_head=4, d_model=64),
                   TrainConfig(steps=KERNEL_CPU_STEPS, batch_size=16, lr=2e-3, warmup_steps=150, schedule="linear",
                               min_lr_ratio=0.0, log_every=50, checkpoint_every=500),
                   note="GINC's R = 100 HMMs (V = 50, 5 pretraining concepts) in documents of 64 examples "
                        "that reset to the task's start; 4 layers, width 64"),
    "paper": Profile(CPU_TASK, _cfg(CPU_TASK, n_layer=12, n_head=12, d_model=768, dropout=0.1),
                     TrainConfig(steps=20_000, batch_size=32, lr=3e-4, warmup_steps=1000, schedule="cosine",
                                 log_every=100, checkpoint_every=1000),
                     note="the paper trains no model (it analyses GPT-J); a GPT-2-small-sized model on the same "
                          "corpus"),
}

KERNEL_EXPERIMENT = Experiment("kernel-hmm", "kernel_regression",
                               "Kernel regression: a transformer pretrained on HMM tasks whose delimiters reset "
                               "to the task's start, with no zero transitions (Han et al. 2025)",
                               KERNEL_PROFILES, kernel_problem, evaluate_kernel)
