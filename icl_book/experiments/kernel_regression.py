"""The kernel-regression chapter (Han, Wang, Zhao & Ji, TMLR 2025): a transformer pretrained on a
mixture of HMMs where the theory's assumptions hold, beside the exact Bayes predictor.

The GINC chapter's models are trained on long HMM documents that never reset, with the released
code's sparse matrices (about a third of the transition entries exactly zero). The theory of this
chapter wants the opposite on both counts: every transition positive, and a delimiter that sends
the chain back to the task's start state, so that the demonstrations of a prompt are independent
given the task. The GINC generator already makes such documents: a ``make_prompts`` prompt *is*
one (each example restarts at ``(U{entities}, s0)`` under ``θ``, a delimiter follows it), and with
the paper's ``R = 100`` permutations no transition is zero. So the pretraining corpus is
``make_prompts`` output with many examples, and the exact predictor of every prompt is
``icl_book.bayes.kernel_regression.posterior_predictive`` over the tasks ``(θ, s0)``.

The cpu profile uses a small family (3 entities x 4 properties, V = 20, 3 pretraining concepts, so
9 tasks; smallest transition 1.4e-3): a 4-layer model trained for 800 steps on it already gained
from its demonstrations (0.66 at n = 0 to 0.85 at n = 8; exact Bayes 0.73 to 0.92), while on the
paper's 10 x 10 states at V = 50 (45 tasks, smallest transition 6e-8) 3,500 steps left it at 0.23 to
0.33 against Bayes' 0.32 to 1.00, the plateau the GINC chapter met with R = 100.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache

import numpy as np
import torch

from ..bayes.kernel_regression import TaskFamily, exact_prediction, posterior_predictive, split_prompts
from ..models import TransformerConfig
from ..tasks import GINCConfig, build_hmms, make_prompts
from ..train import TrainConfig
from .base import Experiment, LanguageModelProblem, Profile
from .ginc import last_token_predictions

EVAL_SEED = 30_000   # evaluation prompt sets; the corpus uses data_seed (never an EVAL_SEED + ...)


@dataclass(frozen=True)
class KernelTask:
    hmm: GINCConfig = field(default_factory=GINCConfig)   # R = 100 (the default): no transition is zero
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
CPU_TASK = KernelTask(hmm=GINCConfig(vocab_size=20, n_entities=3, n_properties=4, n_concepts=6, n_pretrain_concepts=3),
                      n_doc=48, eval_n=(0, 1, 2, 4, 8, 16, 32))   # positions past the longest eval prompt are trained


def _cfg(task: KernelTask, **kw) -> TransformerConfig:
    return TransformerConfig(vocab_size=task.hmm.model_vocab_size, n_ctx=task.doc_len, **kw)


KERNEL_CPU_STEPS = 6000   # 0.145 s a step on one thread beside another job: about 15 minutes

KERNEL_PROFILES = {
    "smoke": Profile(SMOKE_TASK, _cfg(SMOKE_TASK, n_layer=2, n_head=2, d_model=32),
                     TrainConfig(steps=40, batch_size=8, lr=3e-3, warmup_steps=4, log_every=20, checkpoint_every=20)),
    "cpu": Profile(CPU_TASK, _cfg(CPU_TASK, n_layer=4, n_head=4, d_model=64),
                   TrainConfig(steps=KERNEL_CPU_STEPS, batch_size=16, lr=2e-3, warmup_steps=150, schedule="linear",
                               min_lr_ratio=0.0, log_every=50, checkpoint_every=500),
                   note="GINC's R = 100 HMMs on 3 x 4 states (V = 20, 3 pretraining concepts, 9 tasks) in "
                        "documents of 48 examples that reset to the task's start; 4 layers, width 64"),
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


# ---- the task-diversity sweep: the same corpus from a growing pool of concepts -------------------
#
# The synthesis chapter's testbed. Every model of the sweep reads documents of this chapter's
# corpus, made from the first ``M`` of 16 concepts (``build_hmms`` draws concept c from its own
# seed, so the first concepts are the same whatever ``n_concepts`` is); the last four, 12..15,
# are never in a pool and score every model on tasks it has not seen. The pool of 3 is this
# chapter's own model: its corpus and recipe are the M = 3 sweep's, token for token (a test checks
# it), so it is not trained twice.

POOL_CONCEPTS = 16                 # concepts drawn for the sweep
HELD_OUT = (12, 16)                # concepts 12..15: in no pool
POOL_SIZES = (1, 2, 3, 6, 12)      # M, the pretraining pool of each sweep model
POOL_OF_KERNEL_HMM = 3             # the M of the chapter's own model


def pool_task(task: KernelTask, M: int) -> KernelTask:
    """``task``'s corpus, drawn from the first ``M`` of the sweep's concepts."""
    if not isinstance(M, int) or not 1 <= M <= HELD_OUT[0]:
        raise ValueError(f"a pool takes 1..{HELD_OUT[0]} concepts (the rest are held out), got {M!r}")
    return replace(task, hmm=replace(task.hmm, n_concepts=POOL_CONCEPTS, n_pretrain_concepts=M))


def held_out_config(hmm: GINCConfig) -> GINCConfig:
    """The sweep's HMMs with concepts ``HELD_OUT`` as the unseen ones (``make_prompts(...,
    concepts="unseen")`` then draws only from them)."""
    return replace(hmm, n_concepts=HELD_OUT[1], n_pretrain_concepts=HELD_OUT[0])


def pool_artifact(M: int, profile: str = "cpu") -> str:
    return f"kernel-hmm-{profile}" if M == POOL_OF_KERNEL_HMM else f"kernel-pool-m{M}-{profile}"


# The sweep's smoke profile must learn in context in seconds (the tests check that it does): near
# deterministic concepts (temperature 0.01) on 2 x 4 states, documents of 8 examples (read up to 6:
# the label after the last example is never in a document) and 1,500 steps.
TESTBED_SMOKE_TASK = replace(SMOKE_TASK, hmm=replace(SMOKE_TASK.hmm, n_entities=2, transition_temp=0.01),
                             n_docs=2000, eval_n=(0, 1, 2, 4, 6), eval_prompts=200)


def _pool_profiles(M: int) -> dict[str, Profile]:
    smoke = KERNEL_PROFILES["smoke"]
    out = {"smoke": replace(smoke, task=pool_task(TESTBED_SMOKE_TASK, M),
                            train=replace(smoke.train, steps=1500, batch_size=16, warmup_steps=20, checkpoint_every=500))}
    for name in ("cpu", "paper"):
        p = KERNEL_PROFILES[name]
        out[name] = replace(p, task=pool_task(p.task, M),
                            note=f"the kernel-hmm {name} recipe, its corpus drawn from the first {M} of "
                                 f"{POOL_CONCEPTS} concepts (concepts {HELD_OUT[0]}-{HELD_OUT[1] - 1} held out)")
    return out


POOL_EXPERIMENTS = tuple(
    Experiment(f"kernel-pool-m{M}", "synthesis",
               f"Task diversity on the kernel-regression corpus: pretraining on {M} concept{'s' * (M > 1)}",
               _pool_profiles(M), kernel_problem, evaluate_kernel)
    for M in POOL_SIZES if M != POOL_OF_KERNEL_HMM)


# ---- the analyses of the trained models, stored once (results only) -----------------------------

@dataclass(frozen=True)
class KernelAnalysis:
    """Which shipped models the chapter's experiments 1-5 and controls read, and on what prompts."""
    models: tuple[tuple[str, int, int], ...] = (("kernel-hmm-cpu", 3, 32), ("ginc-4l-cpu", 5, 16),
                                                ("ginc-12l-cpu", 5, 16))   # (artifact, k, n)
    n_prompts: int = 1000
    n_select: int = 700             # heads selected on 700 prompts, tested on 300 (the paper's Table 2)
    control_model: str = "kernel-hmm-cpu"
    control_n: int = 8              # demonstrations in the control prompts
    control_pool: int = 32          # demonstrations a retrieval chooses from
    substitution_rate: float = 0.3
    order_sets: int = 20            # sets of 4 demonstrations, each in all 24 orders
    order_tests: int = 100
    seed: int = 40_000

    def to_dict(self) -> dict:
        return asdict(self)


def _exact_predictions(results_task: dict, tokens: np.ndarray, k: int, n: int) -> np.ndarray:
    """The exact Bayes prediction of a model's own pretraining distribution on ``tokens``."""
    from ..bayes import pretraining_predictive
    from .ginc import GINCTask

    hmm = GINCConfig(**results_task["hmm"])
    ginc = build_hmms(hmm)
    if "n_doc" in results_task:                                # this chapter's corpus: independent examples
        return exact_prediction(TaskFamily.from_ginc_prompts(ginc), tokens, k, n)[0]
    epsilon = results_task.get("bayes_epsilon", GINCTask(hmm=hmm).bayes_epsilon)
    return pretraining_predictive(ginc, tokens, epsilon=epsilon).prediction


def _task_of(results_task: dict) -> GINCConfig:
    return GINCConfig(**results_task["hmm"])


def kernel_controls(model, hmm: GINCConfig, a: KernelAnalysis, head: tuple[int, int], k: int) -> dict:
    """Label flips and permutations, substituted inputs, retrieval of similar demonstrations and
    order sensitivity, for the model, its best head's vote and the exact predictor."""
    from ..analysis import kernel_regression as ka
    from ..tasks import perturbations as tp
    from ..tasks.ginc import example_spans
    from ..analysis.model_reader import read_model
    from ..tasks.ginc import DELIMITER_ID, make_order_prompts

    ginc = build_hmms(hmm)
    family = TaskFamily.from_ginc_prompts(ginc)
    letters = np.unique(ginc.state_tokens[ginc.state_tokens != DELIMITER_ID])
    V1, n = hmm.model_vocab_size, a.control_n
    layer, h = head

    def score(tokens, labels, n_demo):
        r = read_model(model, tokens)
        vote = ka.head_votes(r.attention, example_spans(k, n_demo), tokens[:, example_spans(k, n_demo)[:, 0] + k - 1],
                             V1)[:, layer, h]
        bayes, possible = exact_prediction(family, tokens, k, n_demo)
        return {"model": float(np.mean(r.prediction == labels)), "head_vote": float(np.mean(vote == labels)),
                "bayes": float(np.mean(bayes == labels)), "head_vote_agreement": float(np.mean(vote == r.prediction)),
                "bayes_impossible": float(np.mean(~possible)),
                "bayes_on_possible": float(np.mean((bayes == labels)[possible])) if possible.any() else None}

    pool = make_prompts(ginc, k, a.control_pool, a.n_prompts, seed=a.seed + 1)
    base = tp.retrieve(pool.tokens, k, a.control_pool, n, "random")
    out = {"n": n, "pool": a.control_pool, "head": [layer, h],
           "clean": score(base, pool.labels, n),
           "random_labels": score(tp.relabel(base, k, n, "random", letters, a.seed), pool.labels, n),
           "permuted_labels": score(tp.relabel(base, k, n, "permute", letters, a.seed), pool.labels, n),
           "substituted_inputs": score(tp.substitute_inputs(base, k, n, a.substitution_rate, letters, a.seed),
                                       pool.labels, n),
           "retrieved_similar": score(tp.retrieve(pool.tokens, k, a.control_pool, n, "similar"), pool.labels, n)}
    # rare tokens (Table 1's "rare words"): the last input token of a demonstration replaced by one of
    # the quarter of letters the pretraining corpus uses least; never the first, which a start emits
    counts = np.bincount(pool.tokens.reshape(-1), minlength=V1)[letters]
    rare = letters[np.argsort(counts, kind="stable")[: max(1, len(letters) // 4)]]
    out["rare_inputs"] = score(tp.substitute_inputs(base, k, n, a.substitution_rate, rare, a.seed + 3,
                                                    offsets=[k - 2]), pool.labels, n)
    out["rare_letters"] = rare.tolist()
    # order: the same 4 demonstrations in all 24 orders, the same tests after each
    op = make_order_prompts(ginc, k, 4, a.order_sets, a.order_tests, a.seed + 2)
    flat = op.tokens.reshape(-1, op.tokens.shape[-1])
    labels = np.broadcast_to(op.labels[:, None], op.tokens.shape[:3]).reshape(-1)
    r = read_model(model, flat)
    vote = ka.head_votes(r.attention, example_spans(k, 4), flat[:, example_spans(k, 4)[:, 0] + k - 1],
                         V1)[:, layer, h]
    shape = op.tokens.shape[:3]
    acc_model = (r.prediction == labels).reshape(shape).mean(2)                          # [sets, orders]
    acc_vote = (vote == labels).reshape(shape).mean(2)
    dm, dv = acc_model - acc_model.mean(1, keepdims=True), acc_vote - acc_vote.mean(1, keepdims=True)
    explained = float(1 - ((dm - dv * (dm * dv).sum() / max((dv ** 2).sum(), 1e-12)) ** 2).sum()
                      / max((dm ** 2).sum(), 1e-12))
    out["order"] = {"model_spread": (acc_model.max(1) - acc_model.min(1)).tolist(),
                    "vote_spread": (acc_vote.max(1) - acc_vote.min(1)).tolist(),
                    "explained_by_head": explained}
    return out


def compute_kernel_analysis(p: Profile) -> dict:
    """``models``: ``analyse_prompts`` of each shipped model (with the controls on ``control_model``),
    with the sha256 of the weights it read, so that a chapter can refuse an analysis of older
    weights; ``table3``: ``convergence`` in both configurations (the chapter recomputes them and
    checks they agree; the claims read them here)."""
    from ..analysis.kernel_regression import analyse_prompts
    from ..analysis.model_reader import book_reader
    from ..bayes.kernel_regression import PAPER_SETTING, WELL_CONDITIONED, convergence
    from ..store import PACKAGE_STORE, ArtifactStore

    a: KernelAnalysis = p.task
    store = ArtifactStore(PACKAGE_STORE)
    models = {}
    for name, k, n in a.models:
        results = store.results(name)
        hmm = _task_of(results["task"])
        model = store.model(name).eval()
        pr = make_prompts(build_hmms(hmm), k, n, a.n_prompts, seed=a.seed)
        bayes = _exact_predictions(results["task"], pr.tokens, k, n)
        models[name] = {**analyse_prompts(book_reader(model), pr.tokens, pr.labels, bayes, k, n,
                                          hmm.model_vocab_size, a.n_select),
                        "weights_sha256": store.entry(name)["files"]["weights.safetensors"]}
        if name == a.control_model:
            best = models[name]["best_head"]
            models[name]["controls"] = kernel_controls(model, hmm, a, (best["layer"], best["head"]), k)
    return {"models": models, "table3": {"well_conditioned": convergence(WELL_CONDITIONED),
                                         "paper": convergence(PAPER_SETTING)}}


KERNEL_ANALYSIS = Experiment(
    "kernel-analysis", "kernel_regression",
    "Kernel regression: the paper's five experiments and the controls on the shipped models; computed, not trained",
    {"cpu": Profile(KernelAnalysis(), None, None,
                    note="1,000 prompts per model, heads selected on 700 and tested on 300")},
    None, None, compute=compute_kernel_analysis)
