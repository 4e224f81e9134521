"""Prompts changed on purpose: the controls that the kernel-regression and synthesis chapters run on
``make_prompts`` prompts (labels replaced or shuffled, inputs replaced, demonstrations retrieved by
similarity) and the segmentation lens's broken delimiters (Abernethy et al. 2024: before it can learn
from a prompt a learner must cut it into examples; delimiters that lie, go missing or move make the
cut harder). Each is a pure function of its tokens and seed."""

from __future__ import annotations

import numpy as np

from .ginc import DELIMITER_ID, delimiter_positions, example_spans


def relabel(tokens: np.ndarray, k: int, n: int, mode: str, letters: np.ndarray, seed: int) -> np.ndarray:
    """A copy of ``make_prompts`` tokens with the demonstrations' labels changed: ``"random"`` draws
    each ``y_i`` uniformly from ``letters`` (token ids), ``"permute"`` shuffles the labels among the
    demonstrations of each prompt (inputs and labels no longer match; the label counts stay)."""
    if mode not in ("random", "permute"):
        raise ValueError(f"relabel: mode must be 'random' or 'permute', got {mode!r}")
    out = np.array(tokens, copy=True)
    pos = example_spans(k, n)[:, 0] + k - 1
    rng = np.random.default_rng([seed, 1])
    if mode == "random":
        out[:, pos] = rng.choice(np.asarray(letters), size=(len(out), n))
    else:
        out[:, pos] = np.take_along_axis(out[:, pos], rng.permuted(np.tile(np.arange(n), (len(out), 1)), axis=1),
                                         axis=1)
    return out


def substitute_inputs(tokens: np.ndarray, k: int, n: int, rate: float, letters: np.ndarray, seed: int,
                      offsets=None) -> np.ndarray:
    """Out-of-distribution demonstrations: each input token of ``x_1 .. x_n`` (or only those at
    ``offsets`` within the input, 0 the first) replaced, with probability ``rate``, by a uniform draw
    from ``letters`` (the typo analogue; labels and ``x_test`` untouched)."""
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"substitute_inputs: rate must lie in [0, 1], got {rate!r}")
    offsets = np.arange(k - 1) if offsets is None else np.asarray(offsets)
    if offsets.min() < 0 or offsets.max() >= k - 1:
        raise ValueError(f"substitute_inputs: offsets must lie in 0..{k - 2}, got {offsets.tolist()}")
    out = np.array(tokens, copy=True)
    rng = np.random.default_rng([seed, 2])
    pos = (example_spans(k, n)[:, :1] + offsets).reshape(-1)
    hit = rng.random((len(out), len(pos))) < rate
    out[:, pos] = np.where(hit, rng.choice(np.asarray(letters), size=hit.shape), out[:, pos])
    return out


def retrieve(tokens: np.ndarray, k: int, n_pool: int, n: int, mode: str) -> np.ndarray:
    """Prompts of ``n`` demonstrations chosen from the ``n_pool`` of each prompt (same task): ``"random"``
    keeps the first ``n`` (they are i.i.d.), ``"similar"`` the ``n`` whose input agrees with ``x_test``
    on the most positions, counted from the last (ties: the earlier), kept in their order."""
    if mode not in ("random", "similar") or not 1 <= n <= n_pool:
        raise ValueError(f"retrieve: mode 'random' or 'similar' and 1 <= n <= n_pool, got {mode!r}, {n}, {n_pool}")
    tokens = np.asarray(tokens)
    P = len(tokens)
    ex = tokens[:, : n_pool * (k + 1)].reshape(P, n_pool, k + 1)
    x_test = tokens[:, n_pool * (k + 1):]
    if mode == "random":
        keep = np.tile(np.arange(n), (P, 1))
    else:
        match = ex[:, :, : k - 1] == x_test[:, None]                                 # [P, pool, k-1]
        weight = 2.0 ** np.arange(k - 1)                                             # the last position counts most
        score = (match * weight).sum(-1) - np.arange(n_pool) * 1e-6
        keep = np.sort(np.argsort(-score, axis=1, kind="stable")[:, :n], axis=1)
    chosen = np.take_along_axis(ex, keep[..., None], axis=1).reshape(P, n * (k + 1))
    return np.concatenate([chosen, x_test], axis=1)


SEGMENTATION_MODES = ("spurious", "missing", "shifted")


def perturb_delimiters(tokens: np.ndarray, k: int, n: int, mode: str, rate: float, letters=None,
                       seed: int = 0) -> np.ndarray:
    """A copy of ``make_prompts`` tokens ``[P, n (k+1) + k - 1]`` with the segmentation broken, at
    ``rate`` (each chance independent; ``x_test`` is never touched):

    - ``"spurious"``: each input token of ``x_1 .. x_n`` becomes the delimiter (the retrieval
      chapter's ρ: a delimiter that lies);
    - ``"missing"``: each demonstration's delimiter becomes a uniform draw from ``letters`` (token
      ids, the delimiter not among them): two examples run together;
    - ``"shifted"``: each demonstration's delimiter moves one place left, before its label
      (``x_i / y_i``), so ``y_i`` reads as the start of the next example; no token is lost."""
    if mode not in SEGMENTATION_MODES:
        raise ValueError(f"perturb_delimiters: mode must be one of {SEGMENTATION_MODES}, got {mode!r}")
    if not isinstance(rate, (int, float, np.integer, np.floating)) or not 0.0 <= rate <= 1.0:
        raise ValueError(f"perturb_delimiters: rate must lie in [0, 1], got {rate!r}")
    tokens = np.asarray(tokens)
    if tokens.ndim != 2 or tokens.shape[1] != n * (k + 1) + k - 1:
        raise ValueError(f"perturb_delimiters: expected [P, {n * (k + 1) + k - 1}] tokens for k={k}, n={n}, "
                         f"got {tokens.shape}")
    delims = delimiter_positions(k, n)
    if not (tokens[:, delims] == DELIMITER_ID).all():
        raise ValueError("perturb_delimiters: the tokens have no delimiter at every j (k + 1) + k; "
                         "not make_prompts prompts of this k and n")
    if mode == "missing":
        letters = None if letters is None else np.asarray(letters)
        if letters is None or letters.size == 0 or (letters == DELIMITER_ID).any():
            raise ValueError(f"perturb_delimiters: 'missing' needs letters without the delimiter "
                             f"{DELIMITER_ID}, got {None if letters is None else letters.tolist()}")
    out = np.array(tokens, copy=True)
    rng = np.random.default_rng([seed, 3])
    if mode == "spurious":
        pos = (example_spans(k, n)[:, :1] + np.arange(k - 1)).reshape(-1)
        hit = rng.random((len(out), len(pos))) < rate
        out[:, pos] = np.where(hit, DELIMITER_ID, out[:, pos])
    elif mode == "missing":
        hit = rng.random((len(out), n)) < rate
        out[:, delims] = np.where(hit, rng.choice(letters, size=hit.shape), out[:, delims])
    else:
        hit = rng.random((len(out), n)) < rate
        labels = out[:, delims - 1]
        out[:, delims - 1] = np.where(hit, DELIMITER_ID, labels)
        out[:, delims] = np.where(hit, labels, DELIMITER_ID)
    return out
