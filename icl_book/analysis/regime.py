"""How close a trained artifact got to the regime its theory describes, measured on its own
pretraining distribution.

Every theory of the book speaks of a model that has learned its pretraining distribution: Xie et
al.'s and Han et al.'s language models *are* the pretraining posterior predictive, Abernethy et
al.'s retrieval transformer computes the Bayes predictor, Garg et al.'s and Raventós et al.'s
regressors reach least squares or ridge, Yu et al. dissect a classifier that has stopped
improving. So every trained artifact gets one number, its distance to that reference, measured on
fresh draws of the distribution it was trained on, never on the prompts a claim then tests (so that
the gate of a claim is never the claim itself). One measure per family (``REGIMES``):

- language models on HMM documents (GINC, its ablations, the kernel-regression corpus and the
  testbed's pools): the excess loss per token over the exact pretraining predictive, on held-out
  documents (model cross-entropy minus the exact one on the same documents: an unbiased estimate of
  the mean KL divergence per position), with a 95 % interval over documents;
- retrieval and segmentation: the same excess, of the label loss at every true ``▷``, over exact
  Bayes, on fresh training prompts;
- sparse regression: the gap of the squared error (normalised by the variance of y) to the exact
  Bayes posterior mean;
- linear regression: the ratio of the squared error to the Bayes predictor's of the Gaussian prior
  (least squares without noise, ridge with it);
- classification: the accuracy gained over the last quarter of training, from the slope of the
  held-out accuracy curve recorded while training, with its interval.

The thresholds come from the theories' premise, not from our models: a model is in the regime when
the upper end of its measure's 95 % interval is at most the threshold (an interval that straddles it
is short: the gate never passes on noise). ``REGIME_SHARE`` is the one tolerance of the first four
families, in each family's units: the model may leave unused at most a tenth of what the context is
worth to the exact predictor (the *gain*: the loss of the exact predictor blind to the latent
variable the theory is about, minus the exact loss). Gains are exact references, computed on the
same draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..bayes.kernel_regression import TaskFamily, beliefs, split_prompts
from ..hmm import forward_filter
from ..stats import mean_and_interval

# ---- the thresholds, each stated once --------------------------------------------------------------

# Why a tenth: a model that leaves more than a tenth of what its context is worth to the exact
# predictor unused is not the Bayes predictor its theory analyses (the "0.9 of its own exact gain").
REGIME_SHARE = 0.1
# Why 0.01 nats: where the latent carries nothing (one concept, random tokens) the gain is 0, and the
# excess itself must be small: by Pinsker, 0.01 nats per token bounds the mean total variation to the
# exact predictive by sqrt(0.01 / 2) = 0.07.
NATS_FLOOR = 0.01
# Why 0.02: at its plateau a model gains, over another quarter of its training, less than the 95 %
# resolution of the claims' accuracies (1.96 sqrt(0.25 / 2000) = 0.022 on their 2,000 prompts).
PLATEAU_GAIN = 0.02


@dataclass(frozen=True)
class Regime:
    """One family's measure: what it is, its units, the rule that turns it into reached / short."""
    family: str
    measure: str
    units: str
    threshold: str


REGIMES: dict[str, Regime] = {r.family: r for r in (
    Regime("hmm-lm", "excess loss per token over the exact pretraining predictive on held-out documents "
                     "(mean KL per position)", "nats / token",
           f"max({REGIME_SHARE} × gain over the concept-blind predictor, {NATS_FLOOR})"),
    Regime("kernel-lm", "excess loss per token over the exact pretraining predictive on held-out documents "
                        "(mean KL per position)", "nats / token",
           f"max({REGIME_SHARE} × gain over the demonstration-blind predictor, {NATS_FLOOR})"),
    Regime("retrieval", "excess label loss over exact Bayes on fresh training prompts", "nats / label",
           f"max({REGIME_SHARE} × gain over the coordinate-blind predictor, {NATS_FLOOR})"),
    Regime("sparse-regression", "squared-error gap to the exact Bayes posterior mean on fresh training prompts",
           "squared error / s", f"{REGIME_SHARE} × gain over the prior mean"),
    Regime("linear-regression", "squared-error ratio to the Gaussian prior's Bayes predictor (least squares or "
                                "ridge) on fresh training prompts", "ratio",
           f"1 + {REGIME_SHARE} × gain over the prior mean / Bayes error"),
    Regime("classification", "held-out accuracy gained over the last quarter of training (slope of the "
                             "training-time curve)", "accuracy", f"{PLATEAU_GAIN}"),
)}


# ---- the judgements ---------------------------------------------------------------------------------

def _finish(family: str, value: float, lo: float, hi: float, threshold: float, n: int, **extra) -> dict:
    return {"family": family, "value": float(value), "lo": float(lo), "hi": float(hi),
            "threshold": float(threshold), "reached": bool(hi <= threshold), "n": int(n),
            "units": REGIMES[family].units, **extra}


def excess_loss(family: str, model: np.ndarray, exact: np.ndarray, blind: np.ndarray,
                floor: float | None = NATS_FLOOR) -> dict:
    """The excess of ``model`` over ``exact`` (per-item losses ``[N]``: documents or prompts, paired),
    its 95 % interval over items, and the threshold ``max(REGIME_SHARE × gain, floor)`` with ``gain``
    the mean of ``blind - exact`` on the same items."""
    model, exact, blind = (np.asarray(a, dtype=np.float64) for a in (model, exact, blind))
    if not (model.shape == exact.shape == blind.shape) or model.ndim != 1 or len(model) < 2:
        raise ValueError(f"excess_loss needs three [N] arrays with N >= 2, got {model.shape}, {exact.shape}, "
                         f"{blind.shape}")
    ci = mean_and_interval(model - exact)
    gain = float(np.mean(blind - exact))
    threshold = max(REGIME_SHARE * gain, floor or 0.0)
    return _finish(family, ci["mean"], ci["lo"], ci["hi"], threshold, len(model), gain=gain,
                   model_loss=float(model.mean()), exact_loss=float(exact.mean()), blind_loss=float(blind.mean()))


def error_ratio(model: np.ndarray, exact: np.ndarray, blind: np.ndarray, n_boot: int = 1000, seed: int = 0) -> dict:
    """``mean(model) / mean(exact)`` of per-prompt squared errors ``[N]`` (paired), with a 95 % percentile
    bootstrap interval over prompts; threshold ``1 + REGIME_SHARE × (blind - exact) / exact`` (the same
    tenth of the gain over the prior mean, read as a ratio)."""
    model, exact, blind = (np.asarray(a, dtype=np.float64) for a in (model, exact, blind))
    if not (model.shape == exact.shape == blind.shape) or model.ndim != 1 or len(model) < 2:
        raise ValueError("error_ratio needs three [N] arrays with N >= 2")
    rng = np.random.default_rng(seed)
    idx = rng.integers(len(model), size=(n_boot, len(model)))
    ratios = model[idx].mean(1) / exact[idx].mean(1)
    lo, hi = np.quantile(ratios, [0.025, 0.975])
    gain = float(blind.mean() - exact.mean())
    return _finish("linear-regression", model.mean() / exact.mean(), lo, hi, 1 + REGIME_SHARE * gain / exact.mean(),
                   len(model), gain=gain, model_error=float(model.mean()), exact_error=float(exact.mean()),
                   blind_error=float(blind.mean()))


def plateau_gain(steps, accuracy, total_steps: int) -> dict:
    """The accuracy gained over the last quarter of ``total_steps`` (the least-squares slope of the
    held-out accuracy over the curve's points in that quarter, times a quarter), with its 95 % interval
    (Student's t on the residuals, n - 2 degrees of freedom)."""
    from scipy.stats import t as student

    steps, accuracy = np.asarray(steps, dtype=np.float64), np.asarray(accuracy, dtype=np.float64)
    last = steps >= total_steps * 0.75
    x, y = steps[last], accuracy[last]
    if len(x) < 3:
        raise ValueError(f"plateau_gain needs at least 3 points of the curve in the last quarter, got {len(x)}")
    xc = x - x.mean()
    slope = float((xc * (y - y.mean())).sum() / (xc ** 2).sum())
    resid = y - y.mean() - slope * xc
    se = float(np.sqrt((resid ** 2).sum() / (len(x) - 2) / (xc ** 2).sum()))
    quarter = total_steps / 4
    half = student.ppf(0.975, len(x) - 2) * se * quarter
    return _finish("classification", slope * quarter, slope * quarter - half, slope * quarter + half, PLATEAU_GAIN,
                   len(x), final_accuracy=float(y[-1]))


# ---- exact references on the pretraining distribution ---------------------------------------------
#
# A language model reading ``docs[:, :-1]`` is scored on ``docs[:, 1:]``. By the chain rule the exact
# predictive's loss on a document is ``-(log p(doc) - log p(doc[0])) / (L - 1)``: the document's
# evidence, which the forward algorithm gives without any per-position distribution.

def hmm_document_losses(ginc, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per document of a GINC corpus ``docs [N, L]``: the exact pretraining predictive's loss per token
    (the mixture over ``ginc.pretrain_mixture``, no smoothing: the documents come from these HMMs) and
    the concept-blind reference's (one HMM of the mixture's mean property matrix and mean start, the
    book's ``document_predictive(mixture=False)``). Under ``random_tokens`` both are ``log V``."""
    docs = np.asarray(docs)
    n_pos = docs.shape[1] - 1
    if ginc.cfg.random_tokens:
        flat = np.full(len(docs), np.log(ginc.cfg.vocab_size))
        return flat, flat.copy()
    mix = ginc.pretrain_mixture

    def evidence(B, start):                          # [C, Q, Q], [C, S] under a uniform prior -> [N]
        args = (ginc.entity_transition, B[:, None], start[:, None], ginc.state_tokens, ginc.cfg.model_vocab_size)
        from scipy.special import logsumexp
        whole, _ = forward_filter(docs, *args)
        first, _ = forward_filter(docs[:, :1], *args)
        return logsumexp(whole, axis=0) - logsumexp(first, axis=0)

    B, start = ginc.property_transitions[mix].astype(np.float64), ginc.start[mix].astype(np.float64)
    exact = -evidence(B, start) / n_pos
    blind = -evidence(B.mean(0, keepdims=True), start.mean(0, keepdims=True)) / n_pos
    return exact, blind


def kernel_document_losses(family: TaskFamily, docs: np.ndarray, k: int, n_examples: int) -> tuple[np.ndarray, np.ndarray]:
    """Per document of the kernel-regression corpus (``make_prompts`` output of ``n_examples`` examples of
    ``k`` tokens, each followed by its delimiter, then ``k - 1`` more tokens): the exact pretraining
    predictive's loss per token and the demonstration-blind reference's, which reads every example as a
    prompt with no demonstrations (the exact predictor at n = 0). The delimiters are certain; the
    examples are independent given the task, so ``log p(doc | c)`` is a sum of example likelihoods
    (``beliefs``) and the exact loss is the chain rule's over the uniform prior on tasks."""
    from scipy.special import logsumexp

    docs = np.asarray(docs)
    examples, tail = split_prompts(docs, k, n_examples)               # [N, n, k], [N, k - 1]
    N, C = len(docs), family.n_tasks
    ll_ex = beliefs(family, examples.reshape(N * n_examples, k))[1] if n_examples else np.zeros((0, C))
    _, ll_tail = beliefs(family, tail)
    _, ll_first = beliefs(family, docs[:, :1])
    parts = np.concatenate([ll_ex.reshape(N, n_examples, C), ll_tail[:, None]], 1)   # [N, n + 1, C]
    log_prior = -np.log(C)
    first = logsumexp(ll_first + log_prior, axis=1)
    exact = logsumexp(parts.sum(1) + log_prior, axis=1) - first
    blind = logsumexp(parts + log_prior, axis=2).sum(1) - first
    n_pos = docs.shape[1] - 1
    return -exact / n_pos, -blind / n_pos


def coordinate_blind(task, prompts) -> np.ndarray:
    """The predictive ``[B, n + 1, vocab]`` at every query of a learner that reads the test input's
    candidate coordinates (told where the input is) with the hidden coordinate at its prior: the exact
    predictor with no demonstrations. For s > 1 the label (a sum mod q) is uniform."""
    B, Q = prompts.labels.shape
    out = np.zeros((B, Q, task.vocab_size))
    labels = task.label_token(np.arange(task.q))
    if task.sparsity > 1:
        out[..., labels] = 1.0 / task.q
        return out
    J, eps = task.n_candidates, task.label_noise
    b, i = np.meshgrid(np.arange(B), np.arange(Q), indexing="ij")
    for j in range(J):
        np.add.at(out, (b, i, task.label_token(prompts.inputs[..., j])), (1 - eps) / J)
    if eps:      # a noisy label is one of the q - 1 other symbols, uniformly
        clean = out[..., labels].copy()
        out[..., labels] = clean + eps / (task.q - 1) * (1 - clean / (1 - eps))
    return out


def label_losses(predictive: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per prompt: the mean over its queries of ``-log predictive[label]`` ``[B]``."""
    p = np.take_along_axis(predictive, labels[..., None], -1)[..., 0]
    return -np.log(np.clip(p, 1e-300, None)).mean(1)


def logit_losses(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per prompt: the mean over its queries of the cross-entropy of ``logits [B, Q, V]`` ``[B]``."""
    logits = torch.as_tensor(logits, dtype=torch.float64)
    logp = torch.log_softmax(logits, -1).numpy()
    return -np.take_along_axis(logp, labels[..., None], -1)[..., 0].mean(1)


def interval_text(m: dict) -> str:
    """``value [lo, hi]`` of a measure, three significant figures."""
    return f"{m['value']:.3g} [{m['lo']:.3g}, {m['hi']:.3g}]"


__all__ = ["REGIME_SHARE", "NATS_FLOOR", "PLATEAU_GAIN", "REGIMES", "Regime", "excess_loss", "error_ratio",
           "plateau_gain", "hmm_document_losses", "kernel_document_losses", "coordinate_blind", "label_losses",
           "logit_losses", "interval_text"]
