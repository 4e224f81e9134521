"""The regime of every trained artifact, stored once (results only): how close each shipped model got
to its exact reference on its own pretraining distribution (``icl_book.analysis.regime``), with the
compute it was trained with. Every model-side claim reads its models' entries here
(``ClaimSpec.reads``): a model short of its regime makes the claim "not reached".

Each family draws its own fresh data from ``RegimeSettings.seed``, a stream no training batch, no
evaluation and no claim uses; the exact references are vectorised (forward algorithm over documents,
Bayes over prompts), so the whole table computes in a few minutes on one thread.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
import torch

from ..analysis import regime as R
from ..models import batched
from .base import Experiment, Profile

# The family of each trained experiment, by name (an exact name, or a prefix ending in "-").
FAMILIES = (("ginc-", "hmm-lm"), ("kernel-hmm", "kernel-lm"), ("kernel-pool-", "kernel-lm"),
            ("retrieval-", "retrieval"), ("segment-", "retrieval"), ("sparse-linreg", "sparse-regression"),
            ("linreg", "linear-regression"), ("taskdiv-", "linear-regression"), ("classify-", "classification"))


def family_of(experiment: str) -> str | None:
    """The regime family of an experiment's artifacts (None: not a trained model)."""
    from . import EXPERIMENTS

    if experiment in EXPERIMENTS and EXPERIMENTS[experiment].compute is not None:
        return None                                  # results only: nothing trained to measure
    for prefix, family in FAMILIES:
        if experiment == prefix or (prefix.endswith("-") and experiment.startswith(prefix)):
            return family
    return None


@dataclass(frozen=True)
class RegimeSettings:
    """Whose artifacts are measured and on how much fresh data."""
    profile: str = "cpu"            # every trained artifact of this profile in the store
    lm_docs: int = 64               # held-out GINC documents (768 tokens each)
    kernel_docs: int = 256          # held-out kernel-regression documents (48 examples each)
    prompts: int = 1000             # fresh retrieval and regression prompts
    seed: int = 50_000              # the regime's own data stream

    def to_dict(self) -> dict:
        return asdict(self)


@torch.no_grad()
def document_losses(model, docs: np.ndarray, batch: int = 16) -> np.ndarray:
    """Per document ``docs [N, L]``: a language model's mean cross-entropy on ``docs[:, 1:]`` read from
    ``docs[:, :-1]`` (nats per token), ``[N]``."""
    def read(m, x):
        logp = torch.log_softmax(m(x[:, :-1]).double(), -1)
        return -logp.gather(-1, x[:, 1:, None])[..., 0].mean(1)

    return batched(model.eval(), read, docs, batch_size=batch).numpy()


def _hmm_lm(model, results: dict, s: RegimeSettings) -> tuple[dict, dict]:
    from ..tasks import build_hmms, pretraining_tokens
    from .ginc import stored_task

    task = stored_task(results)
    ginc = build_hmms(task.hmm)
    docs = pretraining_tokens(ginc, s.lm_docs, task.block_len, s.seed).tokens
    exact, blind = R.hmm_document_losses(ginc, docs)
    return R.excess_loss("hmm-lm", document_losses(model, docs), exact, blind), {"per_sequence": task.block_len - 1,
                                                                                  "unit": "tokens"}


def _kernel_lm(model, results: dict, s: RegimeSettings) -> tuple[dict, dict]:
    from ..bayes.kernel_regression import TaskFamily
    from ..tasks import GINCConfig, build_hmms, make_prompts
    from .kernel_regression import KernelTask

    t = results["task"]
    task = KernelTask(**{**t, "hmm": GINCConfig(**t["hmm"]), "eval_n": tuple(t["eval_n"])})
    ginc = build_hmms(task.hmm)
    docs = make_prompts(ginc, task.k, task.n_doc, s.kernel_docs, seed=s.seed).tokens
    exact, blind = R.kernel_document_losses(TaskFamily.from_ginc_prompts(ginc), docs, task.k, task.n_doc)
    return (R.excess_loss("kernel-lm", document_losses(model, docs, batch=64), exact, blind),
            {"per_sequence": task.doc_len - 1, "unit": "tokens"})


def _retrieval(model, results: dict, s: RegimeSettings) -> tuple[dict, dict]:
    from ..bayes.retrieval import posterior, subset_predictive
    from ..tasks.retrieval import RetrievalTask
    from ..seeding import EVAL_STREAM, seed_for
    from .retrieval import query_logits

    task = RetrievalTask(**results["task"])
    prompts = task.sample(s.prompts, seed_for(s.seed, 0, EVAL_STREAM))
    bayes = (posterior(task, prompts.tokens, prompts.query).predictive if task.sparsity == 1
             else subset_predictive(task, prompts)[0])
    m = R.excess_loss("retrieval", R.logit_losses(query_logits(model.eval(), prompts), prompts.labels),
                      R.label_losses(bayes, prompts.labels),
                      R.label_losses(R.coordinate_blind(task, prompts), prompts.labels))
    return m, {"per_sequence": 1, "unit": "prompts"}


def _regression_errors(model, results: dict, s: RegimeSettings, bayes_predictor):
    from ..bayes import incontext_predictions
    from ..tasks import LinearRegressionTask
    from ..seeding import EVAL_STREAM, step_generator
    from .linreg import model_predictions

    task = LinearRegressionTask(**results["task"])
    xs, ys, _ = task.sample(s.prompts, step_generator(s.seed, 0, EVAL_STREAM))
    y = ys.double()
    err = lambda pred: ((pred - y) ** 2).mean(1).numpy()
    return task, err(model_predictions(model.eval(), task, xs, ys)), \
        err(incontext_predictions(bayes_predictor(task), xs, ys)), err(torch.zeros_like(y))


def _sparse_regression(model, results: dict, s: RegimeSettings) -> tuple[dict, dict]:
    from ..bayes.sparse import sparse_posterior_mean

    task, ours, exact, blind = _regression_errors(model, results, s,
                                                  lambda t: sparse_posterior_mean(t.sparsity, t.noise_std))
    scale = task.sparsity                                   # the variance of y, as the chapter normalises
    return (R.excess_loss("sparse-regression", ours / scale, exact / scale, blind / scale, floor=None),
            {"per_sequence": 1, "unit": "prompts"})


def _linear_regression(model, results: dict, s: RegimeSettings) -> tuple[dict, dict]:
    from ..bayes import bayes_posterior_mean

    _, ours, exact, blind = _regression_errors(model, results, s, lambda t: bayes_posterior_mean(t.noise_std))
    return R.error_ratio(ours, exact, blind), {"per_sequence": 1, "unit": "prompts"}


def _classification(model, results: dict, s: RegimeSettings) -> tuple[dict, dict]:
    curve = results["curve"]
    m = R.plateau_gain([c["step"] for c in curve], [c["query_accuracy"] for c in curve], results["train"]["steps"])
    return m, {"per_sequence": 1, "unit": "prompts"}


MEASURES = {"hmm-lm": _hmm_lm, "kernel-lm": _kernel_lm, "retrieval": _retrieval,
            "sparse-regression": _sparse_regression, "linear-regression": _linear_regression,
            "classification": _classification}


def trained_artifacts(store, profile: str) -> list[str]:
    """Every artifact of ``profile`` in ``store`` that holds trained weights of a known family."""
    out = []
    for name in store.names():
        e = store.entry(name)
        if (e.get("profile") == profile and "weights.safetensors" in e.get("files", {})
                and family_of(e.get("experiment", "")) is not None):
            out.append(name)
    return sorted(out)


def measure_artifact(store, name: str, s: RegimeSettings) -> dict:
    """One artifact's regime: its family's measure, with the weights it read and the compute it was
    trained with (examples seen, the wall time of its run)."""
    entry, results = store.entry(name), store.results(name)
    family = family_of(entry["experiment"])
    torch.manual_seed(0)
    measure, per = MEASURES[family](store.model(name), results, s)
    train = results["train"]
    compute = {"steps": train["steps"], "batch_size": train["batch_size"], "unit": per["unit"],
               "amount": train["steps"] * train["batch_size"] * per["per_sequence"],
               "wall_time_s": entry.get("wall_time_s"), "device": entry.get("device"),
               "seeds_together": entry.get("seeds_together")}
    return {**measure, "experiment": entry["experiment"], "measure": R.REGIMES[family].measure,
            "weights_sha256": entry["files"]["weights.safetensors"], "compute": compute}


def compute_regime(p: Profile) -> dict:
    """``artifacts``: ``measure_artifact`` of every trained artifact of the profile in the package's
    store (what ships), in name order; ``regimes``: the families' measures and rules."""
    from ..store import PACKAGE_STORE, ArtifactStore

    s: RegimeSettings = p.task
    store = ArtifactStore(PACKAGE_STORE)
    return {"artifacts": {name: measure_artifact(store, name, s) for name in trained_artifacts(store, s.profile)},
            "regimes": {k: asdict(v) for k, v in R.REGIMES.items()},
            "thresholds": {"share": R.REGIME_SHARE, "nats_floor": R.NATS_FLOOR, "plateau_gain": R.PLATEAU_GAIN}}


REGIME = Experiment(
    "regime", "appendix",
    "The regime of every trained artifact: its distance to its exact reference on its own pretraining "
    "distribution, the threshold it needs, and the compute it was trained with; computed, not trained",
    {"cpu": Profile(RegimeSettings("cpu"), None, None,
                    note="every cpu model in the store; 64 held-out GINC documents, 256 kernel documents, "
                         "1,000 fresh prompts per retrieval or regression model"),
     "paper": Profile(replace(RegimeSettings("paper"), lm_docs=100, kernel_docs=1000, prompts=2000), None, None,
                      note="every paper-profile model in the store (one GPU trains them); more data per model")},
    None, None, compute=compute_regime)
