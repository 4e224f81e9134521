"""The exact Bayes reference for GINC: the pretraining posterior predictive of the HMM mixture.

The in-context predictor of Xie et al. is the posterior predictive of the *pretraining*
distribution, ``p(o | prompt) = Σ_θ p(θ | prompt) p(o | prompt, θ)``, with
``p(θ | prompt) ∝ p(θ) p(prompt | θ)`` and ``p(θ)`` uniform over the pretraining concepts. Here
``p(prompt | θ)`` reads the whole prompt ``x_1 y_1 / ... / x_n y_n / x_test`` as **one
document of concept θ's HMM**: the first token comes from θ's start distribution, every later
token from a hidden transition, and each ``/`` is emitted by some hidden state of property 0.
That is what a language model fit to the pretraining data would compute. The prompt
distribution itself is different (its examples are independent, each restarting at
``(U{entities}, s0)``, with a delimiter inserted deterministically); that mismatch is the
paper's point, and with the released code's sparse matrices it can give a prompt probability
zero under its own concept. ``concept_predictive`` computes the other quantity, the
prompt-distribution predictive of one concept from a given start, which labels the prompts.

The forward algorithm runs for all concepts and prompts at once in float64: the filtering
distribution is renormalised at every step and the normalisers are summed in log space, so
``log p(prompt | θ)`` is exact and nothing underflows. ``kron(A, B_θ)`` is applied as
``A^T α B_θ`` on ``α`` shaped ``[E, Q]`` (5x fewer flops than the dense 100 x 100 matrix).
``epsilon`` smooths the transitions, ``T <- (1 - ε) T + ε / S``, which makes every prompt
possible under every concept. A prompt impossible under every concept of the mixture has no
posterior: its row is NaN and its prediction -1.

Token ids follow ``icl_book.tasks.ginc``: id 0 is the pad/end token (probability 0), symbol
``o`` is id ``o + 1``. Distributions are returned over the ``V + 1`` token ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import logsumexp

if TYPE_CHECKING:  # the tasks module imports this one, not the other way round
    from icl_book.tasks.ginc import GINC


def _propagate(alpha: np.ndarray, A: np.ndarray, B: np.ndarray, epsilon: float) -> np.ndarray:
    """One transition: ``α' [.., v', s'] = Σ α[.., v, s] A[v, v'] B[.., s, s']``, smoothed.
    ``alpha [C, P, E, Q]``, ``B [C, P or 1, Q, Q]``."""
    out = np.matmul(np.matmul(A.T, alpha), B)
    if epsilon:
        S = alpha.shape[-1] * alpha.shape[-2]
        out = (1 - epsilon) * out + (epsilon / S) * alpha.sum(axis=(-2, -1), keepdims=True)
    return out


def forward_filter(tokens: np.ndarray, entity_transition: np.ndarray, property_transitions: np.ndarray,
                   start: np.ndarray, state_tokens: np.ndarray, n_tokens: int,
                   epsilon: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Forward algorithm for HMMs with transitions ``kron(A, B)`` and deterministic emissions.

    ``tokens [P, L]`` (L >= 1), ``entity_transition A [E, E]``, ``property_transitions
    B [C, P or 1, Q, Q]`` (per concept, optionally per prompt), ``start [C, P or 1, S]``,
    ``state_tokens [S]`` the token each state emits, ``n_tokens`` the size of the token space.
    Returns ``log p(tokens | θ)`` ``[C, P]`` and ``p(next token | tokens, θ)`` ``[C, P, n_tokens]``
    (all zeros where the prompt is impossible under θ)."""
    tokens = np.asarray(tokens)
    if tokens.ndim != 2 or tokens.shape[1] < 1:
        raise ValueError(f"forward_filter needs tokens [P, L] with L >= 1, got shape {tokens.shape}")
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"forward_filter needs 0 <= epsilon <= 1, got {epsilon!r}")
    E, Q = entity_transition.shape[0], property_transitions.shape[-1]
    S, C, P = E * Q, property_transitions.shape[0], tokens.shape[0]
    emits = np.zeros((n_tokens, S))                               # emits[o, h] = 1 if h emits token o
    emits[state_tokens, np.arange(S)] = 1.0
    masks = emits.reshape(n_tokens, E, Q)
    A = np.asarray(entity_transition, dtype=np.float64)
    B = np.asarray(property_transitions, dtype=np.float64)

    log_lik = np.zeros((C, P))

    def normalise(alpha):
        z = alpha.sum(axis=(-2, -1))                              # [C, P]
        with np.errstate(divide="ignore"):
            np.add(log_lik, np.log(z), out=log_lik)               # log 0 = -inf: impossible under θ
        alpha /= np.where(z > 0, z, 1.0)[..., None, None]         # dead rows stay all-zero
        return alpha

    alpha = np.broadcast_to(np.asarray(start, dtype=np.float64).reshape(C, -1, E, Q), (C, P, E, Q))
    alpha = normalise(alpha * masks[tokens[:, 0]])
    for t in range(1, tokens.shape[1]):
        alpha = _propagate(alpha, A, B, epsilon)
        alpha *= masks[tokens[:, t]]
        alpha = normalise(alpha)
    nxt = _propagate(alpha, A, B, epsilon).reshape(C, P, S) @ emits.T   # [C, P, n_tokens]
    return log_lik, nxt


def concept_predictive(ginc: "GINC", tokens: np.ndarray, concept, start: np.ndarray | None = None,
                       epsilon: float = 0.0) -> np.ndarray:
    """``p(next token | tokens, θ)`` ``[P, V + 1]`` under one concept per prompt.

    ``concept`` is an id or ``[P]`` ids; ``start [P, S]`` replaces the concepts' own start
    distributions (the prompt labels use ``(U{entities}, s0)``)."""
    tokens = np.asarray(tokens)
    P = tokens.shape[0]
    concept = np.broadcast_to(np.asarray(concept), (P,))
    start = ginc.start[concept] if start is None else np.asarray(start)
    _, nxt = forward_filter(tokens, ginc.entity_transition, ginc.property_transitions[concept][None],
                            start[None], ginc.state_tokens, ginc.cfg.model_vocab_size, epsilon)
    return nxt[0]


@dataclass(frozen=True, eq=False)
class HMMPredictive:
    probs: np.ndarray           # [P, V + 1] p(next token | prompt); NaN rows: prompt impossible
    prediction: np.ndarray      # [P] argmax token id; -1 where the prompt is impossible
    posterior: np.ndarray       # [P, C] p(θ | prompt) over `concepts`
    log_likelihood: np.ndarray  # [P, C] log p(prompt | θ) as one pretraining document
    concepts: np.ndarray        # [C] the mixture's concept ids

    @property
    def log_evidence(self) -> np.ndarray:
        """[P] ``log p(prompt)`` under the uniform mixture."""
        return logsumexp(self.log_likelihood, axis=1) - np.log(len(self.concepts))

    def mass_on(self, concept) -> np.ndarray:
        """[P] posterior mass on ``concept`` (an id or ``[P]`` ids; 0 if not in the mixture)."""
        concept = np.broadcast_to(np.asarray(concept), self.prediction.shape)
        hit = self.concepts[None, :] == concept[:, None]
        return np.where(hit, self.posterior, 0.0).sum(1)

    def accuracy(self, labels: np.ndarray) -> float:
        return float(np.mean(self.prediction == np.asarray(labels)))


def pretraining_predictive(ginc: "GINC", tokens: np.ndarray, epsilon: float = 0.0,
                           concepts=None, chunk: int = 1024) -> HMMPredictive:
    """The pretraining posterior predictive at the end of each prompt ``tokens [P, L]``.

    ``concepts`` is the mixture (default ``ginc.pretrain_mixture``, uniform prior); ``epsilon``
    smooths its transitions. Prompts are processed ``chunk`` at a time to bound memory."""
    concepts = ginc.pretrain_mixture if concepts is None else np.atleast_1d(np.asarray(concepts))
    tokens = np.asarray(tokens)
    B = ginc.property_transitions[concepts][:, None]          # [C, 1, Q, Q]
    start = ginc.start[concepts][:, None]                     # [C, 1, S]
    parts = [forward_filter(tokens[i:i + chunk], ginc.entity_transition, B, start, ginc.state_tokens,
                            ginc.cfg.model_vocab_size, epsilon) for i in range(0, len(tokens), chunk)]
    log_lik = np.concatenate([p[0] for p in parts], axis=1).T            # [P, C]
    nxt = np.concatenate([p[1] for p in parts], axis=1)                  # [C, P, V + 1]
    with np.errstate(invalid="ignore"):                                   # -inf - -inf: impossible prompt
        posterior = np.exp(log_lik - logsumexp(log_lik, axis=1, keepdims=True))
    probs = np.einsum("pc,cpo->po", posterior, nxt)
    possible = np.isfinite(log_lik).any(axis=1)
    prediction = np.where(possible, np.nan_to_num(probs, nan=-1.0).argmax(1), -1)
    return HMMPredictive(probs, prediction, posterior, log_lik, concepts)
