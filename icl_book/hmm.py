"""The forward algorithm of the book's factorised HMMs: a leaf (numpy only).

The GINC generator uses it to label its prompts, the Bayes references to compute posteriors,
the analyses to measure divergences; it imports nothing of the package, so data flows one way.

A hidden state is a pair ``(v, s)`` of an entity and a property; transitions are
``kron(A, B_θ)`` (entity chain ``A``, property chain ``B_θ`` per concept) and emissions are
deterministic (``state_tokens[h]`` is the token state ``h`` emits). ``kron(A, B)`` is applied
as ``A^T α B`` on ``α`` shaped ``[E, Q]`` (5x fewer flops than the dense matrix). The filtering
distribution is renormalised at every step and the normalisers are summed in log space, so the
log-likelihood is exact and nothing underflows. ``epsilon`` smooths the transitions,
``T <- (1 - ε) T + ε / S``.
"""

from __future__ import annotations

import numpy as np


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
