"""The exact Bayes predictor for in-context sparse retrieval, segmentation included.

The prompt's generative process (``icl_book.tasks.retrieval``) is a semi-Markov chain: a
preamble, then examples of random length, each ``input ▷ label [◁]``. For every hidden
coordinate ``j`` the forward algorithm runs over example boundaries,

    A_j[s'] = log Σ_ℓ exp(A_j[s] + log p(input of length ℓ at s) + log p(▷, label | x[j])) - log #lengths,
    with s' = s + ℓ + 2 (+1 with ◁),

so the posterior over (j, the test input's start) at any ``▷`` sums over every segmentation of
the prompt that the tokens allow. Nothing is told where the true delimiters are. The number of
examples is given a flat prior (every segmentation is weighed by its tokens alone).

With a unique delimiter and fixed lengths there is one segmentation, and the posterior over
``j`` is uniform on the consistent set ``C_n = {j : x_ij = y_i for all i}`` (noise-free labels)
or proportional to ``(1 - ε)^{c_j} (ε / (q - 1))^{n - c_j}`` with ``c_j`` the matches (label
noise ``ε``): a softmax over match counts with inverse temperature ``log((1 - ε)(q - 1)/ε)``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

from ..stats import argmax_accuracy  # noqa: F401  (re-exported: the chapter reads it here)
from ..tasks.retrieval import RetrievalPrompts, RetrievalTask

_NEVER = -np.inf


@dataclass
class RetrievalPosterior:
    predictive: np.ndarray   # [B, Q, vocab] P(next token = y | prompt up to the query), label tokens
    coordinate: np.ndarray   # [B, Q, J] posterior over the hidden coordinate j*
    test_length: np.ndarray  # [B, Q, L] posterior over the test input's length (where it starts)
    log_evidence: np.ndarray  # [B, Q] log p(prompt up to and including the query ▷) (unnormalised)

    def accuracy(self, labels: np.ndarray) -> np.ndarray:
        return argmax_accuracy(self.predictive, labels)


def posterior(task: RetrievalTask, tokens: np.ndarray, query: np.ndarray) -> RetrievalPosterior:
    """The Bayes posterior and predictive at each query position (a ``▷`` the model answers)."""
    if task.sparsity > 1:
        raise ValueError("posterior() handles 1-sparse retrieval; for s > 1 use subset_predictive (basic format)")
    tokens = np.asarray(tokens)
    B, T = tokens.shape
    q, d, J = task.q, task.d, task.n_candidates
    lengths = np.arange(task.shortest, d + 1)                       # [L]
    log_len = -np.log(len(lengths))
    tail = 2 + int(task.end_delimiter)

    # log p(token) for a token inside an input or the preamble; an impossible token is counted
    # apart (so that segment sums never subtract infinities).
    is_symbol = tokens < q
    is_delim = tokens == task.delim
    with np.errstate(divide="ignore"):
        lp = np.where(is_symbol, np.log((1 - task.rho) / q), np.where(is_delim, np.log(task.rho), 0.0))
    bad = ~(is_symbol | (is_delim & (task.rho > 0)))
    lp = np.where(bad, 0.0, lp)
    cum_lp = np.concatenate([np.zeros((B, 1)), np.cumsum(lp, 1)], 1)          # [B, T + 1]
    cum_bad = np.concatenate([np.zeros((B, 1), int), np.cumsum(bad, 1)], 1)

    def segment(start: np.ndarray, stop: np.ndarray) -> np.ndarray:
        """log p(tokens[start:stop] are input tokens); start, stop broadcast against [B, ...]."""
        start, stop = np.clip(start, 0, T), np.clip(stop, 0, T)
        b = np.arange(B).reshape((B,) + (1,) * (np.ndim(start) - 1))
        ok = cum_bad[b, stop] == cum_bad[b, start]
        return np.where(ok, cum_lp[b, stop] - cum_lp[b, start], _NEVER)

    def token_at(pos: np.ndarray) -> np.ndarray:
        b = np.arange(B).reshape((B,) + (1,) * (np.ndim(pos) - 1))
        return np.where((pos >= 0) & (pos < T), tokens[b, np.clip(pos, 0, T - 1)], -1)

    jj = np.arange(J)
    label_tokens = task.label_token(np.arange(q + 1))               # symbol a (a = q: ▷) -> label token
    eps = task.label_noise
    with np.errstate(divide="ignore"):
        log_hit, log_miss = np.log1p(-eps), (np.log(eps / (q - 1)) if eps else _NEVER)

    def label_logp(x_tok: np.ndarray, y_tok: np.ndarray) -> np.ndarray:
        """log p(label token y | input token x at the hidden coordinate)."""
        want = np.where(x_tok == task.delim, label_tokens[q], label_tokens[np.clip(x_tok, 0, q)])
        legal_x = (x_tok < q) | ((x_tok == task.delim) & (task.rho > 0))
        legal_y = np.isin(y_tok, label_tokens[:q]) if eps else True
        return np.where(~legal_x, _NEVER, np.where(y_tok == want, log_hit, np.where(legal_y, log_miss, _NEVER)))

    # Forward pass over example starts s = 1 .. T (A[b, j, s]).
    A = np.full((B, J, T + 1), _NEVER)
    pre = np.arange(task.preamble + 1)
    starts0 = 1 + pre
    fits = starts0 <= T
    A[:, :, starts0[fits]] = (segment(np.ones((B, 1), int), starts0[None, fits]) - np.log(len(pre)))[:, None, :]
    A[tokens[:, 0] != task.bos] = _NEVER
    for s_next in range(2, T + 1):
        s = s_next - lengths - tail                                  # [L] candidate starts
        ok = s >= 1
        if not ok.any():
            continue
        s, ell = s[ok], lengths[ok]
        prev = A[:, :, s]                                            # [B, J, L]
        inp = segment(np.broadcast_to(s, (B, len(s))), np.broadcast_to(s + ell, (B, len(s))))  # [B, L]
        delim_ok = np.where(token_at(np.broadcast_to(s + ell, (B, len(s)))) == task.delim, 0.0, _NEVER)
        x_tok = token_at(s[None, None, :] + jj[None, :, None] + np.zeros((B, 1, 1), int))        # [B, J, L]
        y_tok = token_at(np.broadcast_to(s + ell + 1, (B, len(s))))[:, None, :]
        lab = label_logp(x_tok, y_tok)
        end_ok = (np.where(token_at(np.broadcast_to(s + ell + 2, (B, len(s)))) == task.end, 0.0, _NEVER)
                  if task.end_delimiter else 0.0)
        total = prev + (inp + delim_ok + end_ok)[:, None, :] + lab
        # A start can follow an example or the preamble: add to what the preamble put there.
        A[:, :, s_next] = np.logaddexp(A[:, :, s_next], logsumexp(total, axis=2) + log_len)

    # The answer at each query p: the test input is tokens[p - ℓ : p] for some length ℓ.
    Q = query.shape[1]
    s = query[:, :, None] - lengths[None, None, :]                   # [B, Q, L]
    b = np.arange(B)[:, None, None]
    prev = np.where(s[..., None] >= 1, A[b[..., None], jj[None, None, None, :], np.clip(s, 0, T)[..., None]], _NEVER)
    weights = (prev + (segment(s, query[:, :, None]) + log_len)[..., None])  # [B, Q, L, J]
    x_test = token_at(s[..., None] + jj[None, None, None, :])        # [B, Q, L, J]
    log_ev = logsumexp(weights.reshape(B, Q, -1), axis=2)
    with np.errstate(invalid="ignore"):
        post = np.exp(weights - log_ev[..., None, None])
    post = np.nan_to_num(post)
    vocab = task.vocab_size
    predictive = np.zeros((B, Q, vocab))
    want = np.where(x_test == task.delim, label_tokens[q], label_tokens[np.clip(x_test, 0, q)])
    for y in np.unique(label_tokens[: q + (1 if task.rho > 0 else 0)]):
        p_y = np.where(want == y, 1 - eps, eps / (q - 1))
        predictive[..., y] = np.sum(post * p_y, axis=(2, 3))
    return RetrievalPosterior(predictive=predictive, coordinate=post.sum(2), test_length=post.sum(3),
                              log_evidence=log_ev)


def consistent_set_sizes(prompts: RetrievalPrompts, task: RetrievalTask) -> np.ndarray:
    """|C_n| for n = 0 .. n_examples, counted directly from the inputs and labels: ``[B, n + 1]``
    (fixed-length, noise-free prompts; the candidates are the first ``n_candidates`` coordinates)."""
    J = task.n_candidates
    x = prompts.inputs[:, :-1, :J]                                   # [B, n, J] the examples' inputs
    y = prompts.labels[:, :-1, None]
    match = task.label_token(x) == y
    alive = np.concatenate([np.ones(match[:, :1].shape, bool), np.cumprod(match, axis=1).astype(bool)], 1)
    return alive.sum(-1)


def subset_predictive(task: RetrievalTask, prompts: RetrievalPrompts) -> tuple[np.ndarray, np.ndarray]:
    """s-sparse tokenised retrieval in the basic format: the Bayes predictive ``[B, n + 1, vocab]``
    (uniform prior over the s-subsets of the candidates; each consistent subset votes for the
    sum of its test coordinates mod q) and the number of consistent subsets ``[B, n + 1]``."""
    if task.preamble or task.min_len is not None or task.end_delimiter or task.label_alphabet != "shared":
        raise ValueError("subset_predictive reads the basic format (fixed lengths, no preamble, one delimiter)")
    subsets = np.array(list(itertools.combinations(range(task.n_candidates), task.sparsity)))   # [M, s]
    sums = prompts.inputs[:, :, subsets].sum(-1) % task.q                   # [B, n + 1, M]
    match = sums == prompts.labels[..., None]
    B, Q, M = match.shape
    alive = np.concatenate([np.ones((B, 1, M), bool), np.cumprod(match[:, :-1], axis=1).astype(bool)], 1)
    weights = alive / alive.sum(-1, keepdims=True)
    predictive = np.zeros((B, Q, task.vocab_size))
    for a in range(task.q):
        predictive[..., a] = (weights * (sums == a)).sum(-1)
    return predictive, alive.sum(-1)
