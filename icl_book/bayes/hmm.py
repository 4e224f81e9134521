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
zero under its own concept. ``icl_book.tasks.ginc.concept_predictive`` computes the other
quantity, the prompt-distribution predictive of one concept from a given start, which labels
the prompts.

The forward algorithm (``icl_book.hmm``) runs for all concepts and prompts at once in float64,
exact in log space. ``epsilon`` smooths the transitions, ``T <- (1 - ε) T + ε / S``, which
makes every prompt possible under every concept. A prompt impossible under every concept of the mixture has no
posterior: its row is NaN and its prediction -1.

Token ids follow ``icl_book.tasks.ginc``: id 0 is the pad/end token (probability 0), symbol
``o`` is id ``o + 1``. Distributions are returned over the ``V + 1`` token ids.
"""

from __future__ import annotations

from dataclasses import dataclass
import numpy as np
from scipy.special import logsumexp

from ..hmm import _propagate, forward_filter
from ..tasks.ginc import GINC


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


def pretraining_predictive(ginc: GINC, tokens: np.ndarray, epsilon: float = 0.0,
                           concepts=None, chunk: int = 1024) -> HMMPredictive:
    """The pretraining posterior predictive at the end of each prompt ``tokens [P, L]``.

    ``concepts`` is the mixture (default ``ginc.pretrain_mixture``, uniform prior); ``epsilon``
    smooths its transitions. Prompts are processed ``chunk`` at a time, so memory holds one chunk's
    per-concept predictives, not every prompt's."""
    concepts = ginc.pretrain_mixture if concepts is None else np.atleast_1d(np.asarray(concepts))
    tokens = np.asarray(tokens)
    B = ginc.property_transitions[concepts][:, None]          # [C, 1, Q, Q]
    start = ginc.start[concepts][:, None]                     # [C, 1, S]
    log_lik, probs = np.empty((len(tokens), len(concepts))), np.empty((len(tokens), ginc.cfg.model_vocab_size))
    for i in range(0, len(tokens), chunk):          # one chunk's per-concept predictives at a time
        lik, nxt = forward_filter(tokens[i:i + chunk], ginc.entity_transition, B, start, ginc.state_tokens,
                                  ginc.cfg.model_vocab_size, epsilon)          # [C, p], [C, p, V + 1]
        log_lik[i:i + chunk] = lik.T
        with np.errstate(invalid="ignore"):                                   # -inf - -inf: impossible prompt
            post = np.exp(lik.T - logsumexp(lik.T, axis=1, keepdims=True))
        probs[i:i + chunk] = np.einsum("pc,cpo->po", post, nxt)
    with np.errstate(invalid="ignore"):
        posterior = np.exp(log_lik - logsumexp(log_lik, axis=1, keepdims=True))
    possible = np.isfinite(log_lik).any(axis=1)
    prediction = np.where(possible, np.nan_to_num(probs, nan=-1.0).argmax(1), -1)
    return HMMPredictive(probs, prediction, posterior, log_lik, concepts)


def document_predictive(ginc: GINC, tokens: np.ndarray, epsilon: float = 0.0, concepts=None,
                        mixture: bool = True) -> np.ndarray:
    """The exact pretraining predictive at every position of documents ``tokens [P, L]``:
    ``[P, L - 1, V + 1]``, entry ``t`` the distribution of ``tokens[:, t + 1]`` given ``tokens[:, :t + 1]``
    (what a language model reading ``tokens[:, :-1]`` outputs). The posterior over the mixture's
    concepts is updated token by token, as in ``pretraining_predictive``.

    ``mixture=False`` gives the concept-blind reference instead: one HMM whose property matrix is the
    mixture's mean ``B``, the best a predictor can do that tracks the hidden state but never infers
    the concept (its start is the mixture's mean start)."""
    concepts = ginc.pretrain_mixture if concepts is None else np.atleast_1d(np.asarray(concepts))
    tokens = np.asarray(tokens)
    if tokens.ndim != 2 or tokens.shape[1] < 2:
        raise ValueError(f"document_predictive needs tokens [P, L] with L >= 2, got shape {tokens.shape}")
    cfg = ginc.cfg
    E, Q, n_tok = cfg.n_entities, cfg.n_properties, cfg.model_vocab_size
    B = ginc.property_transitions[concepts].astype(np.float64)
    start = ginc.start[concepts].astype(np.float64)
    if not mixture:
        B, start = B.mean(0, keepdims=True), start.mean(0, keepdims=True)
    C, (P, L) = len(B), tokens.shape
    emits = np.zeros((n_tok, E * Q))
    emits[ginc.state_tokens, np.arange(E * Q)] = 1.0
    masks = emits.reshape(n_tok, E, Q)
    A = np.asarray(ginc.entity_transition, dtype=np.float64)
    alpha = np.broadcast_to(start.reshape(C, 1, E, Q), (C, P, E, Q)).copy()
    log_post = np.zeros((C, P))                                  # log p(θ) + log p(tokens so far | θ), up to a constant
    out = np.empty((P, L - 1, n_tok))
    for t in range(L - 1):
        alpha = alpha * masks[tokens[:, t]]
        z = alpha.sum(axis=(-2, -1))                              # [C, P]
        with np.errstate(divide="ignore"):
            log_post += np.log(z)
        alpha /= np.where(z > 0, z, 1.0)[..., None, None]
        alpha = _propagate(alpha, A, B[:, None], epsilon)
        with np.errstate(invalid="ignore"):
            post = np.exp(log_post - logsumexp(log_post, axis=0, keepdims=True))    # [C, P]
        out[:, t] = np.einsum("cp,cpo->po", post, alpha.reshape(C, P, E * Q) @ emits.T)
    return out
