"""The synthesis chapter's testbed: the five lenses on one family of prompts.

The family is the kernel-regression chapter's (HMM tasks whose delimiters reset to the task's
start; k = 3), and the models are its task-diversity sweep: the same recipe pretrained on the
first M of 16 concepts (``POOL_SIZES``; M = 3 is the chapter's own model). For every model this
stores, computed once from the shipped weights:

- **Bayes**: accuracy against n on prompts of its pool and of the held-out concepts, beside the
  exact predictor of its pool (its pretraining distribution) and the exact predictor that also
  knows the held-out concepts (the oracle of a prompt's true family);
- **kernel regression**: the best head's vote (``analysis.kernel_regression.analyse_prompts``) and the
  kernel chapter's controls with it (random and permuted labels, substituted and rare inputs,
  retrieval of similar demonstrations, the 24 orders of four demonstrations);
- **locate and project**: located heads, their ablation, value-output and query-key statistics
  (``analysis.locate.hmm_report``);
- **segmentation**: accuracy with delimiters that go missing or appear inside inputs
  (``analysis.kernel_regression.segmentation_controls``);
- **task diversity**: the sweep itself, read across M.

Nothing here is new analysis: each lens is its chapter's code, run on these models.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from ..bayes.kernel_regression import TaskFamily, exact_prediction
from ..tasks import GINCConfig, build_hmms, make_prompts
from .base import Experiment, Profile
from .ginc import last_token_predictions
from .kernel_regression import (HELD_OUT, POOL_CONCEPTS, POOL_SIZES, KernelAnalysis, held_out_config,
                                kernel_controls, pool_artifact)


@dataclass(frozen=True)
class Testbed:
    pools: tuple[int, ...] = POOL_SIZES
    k: int = 3
    eval_n: tuple[int, ...] = (0, 1, 2, 4, 8, 16, 32)
    n_prompts: int = 500            # per n, for the pool and the held-out curves
    kernel_n: int = 32              # demonstrations in the head-vote prompts (the kernel chapter's)
    locate_n: int = 8
    delimiter_n: int = 8
    delimiter_rates: tuple[float, ...] = (0.0, 0.1, 0.3, 0.5, 1.0)
    delimiter_prompts: int = 500
    seed: int = 50_000

    def to_dict(self) -> dict:
        return asdict(self)


def sweep_config(task_hmm: dict) -> GINCConfig:
    """A testbed model's HMMs with all of the sweep's concepts drawn (its pool stays its pool)."""
    return replace(GINCConfig(**task_hmm), n_concepts=POOL_CONCEPTS)


def _accuracy(pred: np.ndarray, labels: np.ndarray) -> float:
    return round(float(np.mean(pred == labels)), 5)


def _bayes(family: TaskFamily, tokens: np.ndarray, k: int, n: int) -> np.ndarray:
    return exact_prediction(family, tokens, k, n)[0]


def curves(model, hmm: GINCConfig, t: Testbed) -> dict:
    """Accuracy against n on the pool's concepts and on the held-out ones, for the model, the exact
    predictor of its pool and (held-out prompts) the exact predictor over pool and held-out concepts."""
    pool, held = build_hmms(hmm), build_hmms(held_out_config(hmm))
    M = hmm.n_pretrain_concepts
    pool_family = TaskFamily.from_ginc_prompts(pool)
    oracle = TaskFamily.from_ginc_prompts(held, concepts=np.r_[0:M, HELD_OUT[0]:HELD_OUT[1]])
    out = {"n": list(t.eval_n), "n_prompts": t.n_prompts, "pool": {}, "held_out": {}}
    rows = {"pool": {"model": [], "bayes_pool": []}, "held_out": {"model": [], "bayes_pool": [], "bayes_oracle": []}}
    for n in t.eval_n:
        for split, ginc, kind in (("pool", pool, "pretrain"), ("held_out", held, "unseen")):
            pr = make_prompts(ginc, t.k, n, t.n_prompts, seed=t.seed + 100 * n + (split == "held_out"),
                              concepts=kind)
            r = rows[split]
            r["model"].append(_accuracy(last_token_predictions(model, pr.tokens, batch=250), pr.labels))
            r["bayes_pool"].append(_accuracy(_bayes(pool_family, pr.tokens, t.k, n), pr.labels))
            if split == "held_out":
                r["bayes_oracle"].append(_accuracy(_bayes(oracle, pr.tokens, t.k, n), pr.labels))
    out.update(rows)
    return out


def analyse_model(model, hmm: GINCConfig, t: Testbed) -> dict:
    """Every lens on one testbed model (the module docstring lists them)."""
    from ..analysis import locate
    from ..analysis.kernel_regression import analyse_prompts, segmentation_controls
    from ..analysis.model_reader import book_reader

    ginc = build_hmms(hmm)
    a = KernelAnalysis()
    V = hmm.model_vocab_size
    pr = make_prompts(ginc, t.k, t.kernel_n, a.n_prompts, seed=a.seed)
    bayes = _bayes(TaskFamily.from_ginc_prompts(ginc), pr.tokens, t.k, t.kernel_n)
    kernel = analyse_prompts(book_reader(model), pr.tokens, pr.labels, bayes, t.k, t.kernel_n, V, a.n_select)
    best = kernel["best_head"]
    lp = make_prompts(ginc, t.k, t.locate_n, t.n_prompts, seed=t.seed + 7)
    return {"pool": hmm.n_pretrain_concepts,
            "curves": curves(model, hmm, t),
            "kernel": {key: kernel[key] for key in ("best_head", "model_accuracy", "bayes_accuracy",
                                                    "majority_vote_agreement", "vote_ceiling")},
            "controls": kernel_controls(model, hmm, a, (best["layer"], best["head"]), t.k),
            "locate": locate.hmm_report(model, lp.tokens, lp.labels, t.k, t.locate_n, seed=t.seed),
            "delimiters": segmentation_controls(model, ginc, t.k, t.delimiter_n, t.delimiter_rates,
                                                t.delimiter_prompts, seed=t.seed + 11)}


def compute_testbed(p: Profile) -> dict:
    """``analyse_model`` for every model of the sweep, with the sha256 of the weights it read."""
    from ..store import PACKAGE_STORE, ArtifactStore

    t: Testbed = p.task
    store = ArtifactStore(PACKAGE_STORE)
    models = {}
    for M in t.pools:
        name = pool_artifact(M)
        model = store.model(name).eval()
        hmm = sweep_config(store.results(name)["task"]["hmm"])
        if hmm.n_pretrain_concepts != M:
            raise ValueError(f"{name} was pretrained on {hmm.n_pretrain_concepts} concepts, not the sweep's {M}")
        models[name] = {**analyse_model(model, hmm, t), "weights_sha256": store.entry(name)["files"]["weights.safetensors"]}
    return {"models": models}


TESTBED = Experiment(
    "testbed-analysis", "synthesis",
    "Five lenses on one testbed: every chapter's analysis on the task-diversity sweep of the kernel-regression "
    "corpus; computed, not trained",
    {"cpu": Profile(Testbed(), None, None,
                    note=f"the kernel-regression corpus pretrained on {', '.join(map(str, POOL_SIZES))} of "
                         f"{POOL_CONCEPTS} concepts; {Testbed().n_prompts} prompts per n and split")},
    None, None, compute=compute_testbed)
