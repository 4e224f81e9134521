"""Condition 1 of Xie et al. (2022) read on the book's HMMs: how far apart the concepts' examples
are (``example_divergence``), and the constants the paper's delimiter assumptions name
(``delimiter_constants``), each the tightest value our HMMs allow."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..hmm import forward_filter
from ..tasks.ginc import GINC, sample_examples


def example_divergence(ginc: GINC, k: int, n_samples: int, seed: int, concepts=None) -> np.ndarray:
    """Monte Carlo estimate of Condition 1's ``Σ_{j=1..k} KL_j(θ*‖θ)`` for every pair of ``concepts``
    (default: the pretraining ones): ``[C*, C, 2]``, the mean and its standard error.

    By the chain rule the sum over j of the expected KL between the j-th token's conditional
    distributions is the KL between the distributions of one whole example of ``k`` tokens: under
    the prompt distribution (a ``k``-step chain of ``θ*`` from ``(U{entities}, s0)``, ``s0``
    uniform in ``1..Q-1``) and under concept ``θ`` from the same start. So it is estimated as the
    mean of ``log p(O | θ*) - log p(O | θ)`` over ``n_samples`` examples ``O`` drawn from ``θ*``,
    each likelihood exact (forward algorithm). An example impossible under ``θ`` makes it ``inf``."""
    concepts = ginc.pretrain_concepts if concepts is None else np.atleast_1d(np.asarray(concepts))
    out = np.empty((len(concepts), len(concepts), 2))
    for a, c_star in enumerate(concepts):
        tokens, start = sample_examples(ginc, c_star, k, n_samples, seed)
        log_lik, _ = forward_filter(tokens, ginc.entity_transition,
                                    ginc.property_transitions[concepts][:, None],
                                    np.broadcast_to(start, (len(concepts),) + start.shape), ginc.state_tokens,
                                    ginc.cfg.model_vocab_size)
        with np.errstate(invalid="ignore"):
            ratio = log_lik[a][None] - log_lik                                   # [C, samples]
        finite = np.isfinite(ratio).all(axis=1)
        safe = np.where(finite[:, None], ratio, 0.0)
        out[a, :, 0] = np.where(finite, safe.mean(axis=1), np.inf)
        out[a, :, 1] = np.where(finite, safe.std(axis=1, ddof=1) / np.sqrt(n_samples), np.nan)
    return out


@dataclass(frozen=True)
class DelimiterConstants:
    """The book's reading of the paper's constants for one HMM family (``[C]`` arrays over concepts).

    The paper takes ``c1 .. c8`` as given by its assumptions; here each is the tightest value our
    HMMs allow. With ``D`` the delimiter states (property 0) and ``B_θ`` the property matrix:
    ``c1(θ) = min_s B_θ[s, 0]`` and ``c2(θ) = max_s B_θ[s, 0]`` bound the probability of moving into
    ``D`` (the entity chain does not matter), ``c3 .. c4`` bound the start distributions' mass on
    ``D`` over all concepts, and ``c8(θ) = min_{s0 >= 1} B_θ[0, s0]`` is the probability of moving
    from a delimiter to the property at which every example restarts."""
    c1: np.ndarray
    c2: np.ndarray
    c3: float
    c4: float
    c8: np.ndarray

    @property
    def eps_start(self) -> np.ndarray:
        """[C] ``ε_start(θ) = log(1 / c8(θ))``."""
        with np.errstate(divide="ignore"):
            return -np.log(self.c8)

    def eps_delim(self) -> np.ndarray:
        """[C*, C] ``ε_delim(θ*, θ) = 2 (log c2(θ) - log c1(θ*)) + log c4 - log c3``."""
        with np.errstate(divide="ignore"):
            return 2 * (np.log(self.c2)[None, :] - np.log(self.c1)[:, None]) + np.log(self.c4) - np.log(self.c3)


def delimiter_constants(ginc: GINC, concepts=None) -> DelimiterConstants:
    concepts = ginc.pretrain_concepts if concepts is None else np.atleast_1d(np.asarray(concepts))
    B = ginc.property_transitions[concepts]                      # [C, Q, Q]
    start_on_delim = ginc.start.reshape(-1, ginc.cfg.n_entities, ginc.cfg.n_properties)[:, :, 0].sum(1)
    return DelimiterConstants(c1=B[:, :, 0].min(1), c2=B[:, :, 0].max(1), c3=float(start_on_delim.min()),
                              c4=float(start_on_delim.max()), c8=B[:, 0, 1:].min(1))


def kl_divergence(exact: np.ndarray, log_q: np.ndarray) -> np.ndarray:
    """``KL(p ‖ q) = Σ_o p(o) (log p(o) - log q(o))`` over the last axis: ``exact`` holds the exact
    predictive's probabilities ``p``, ``log_q`` a model's log-probabilities over the same tokens.
    Tokens of probability 0 under ``p`` add nothing; a token ``q`` rules out (``log q = -inf``) where
    ``p > 0`` makes it infinite, as it should."""
    exact = np.asarray(exact, dtype=np.float64)
    log_q = np.asarray(log_q, dtype=np.float64)
    if exact.shape != log_q.shape:
        raise ValueError(f"kl_divergence needs matching shapes, got {exact.shape} and {log_q.shape}")
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(exact > 0, exact * (np.log(np.where(exact > 0, exact, 1.0)) - log_q), 0.0)
    return terms.sum(-1)


def kl_per_position(exact: np.ndarray, log_q: np.ndarray) -> dict:
    """The KL divergence from the exact predictive ``exact [P, L, V+1]`` to a model's ``log_q`` at every
    position of ``P`` held-out documents: its mean over documents at each position, the mean over
    every position and its standard error over documents (a document's positions are not
    independent, its mean is)."""
    kl = kl_divergence(exact, log_q)                               # [P, L]
    per_doc = kl.mean(1)
    return {"per_position": kl.mean(0).tolist(), "mean": float(per_doc.mean()),
            "sem": float(per_doc.std(ddof=1) / np.sqrt(len(per_doc))) if len(per_doc) > 1 else float("nan")}
