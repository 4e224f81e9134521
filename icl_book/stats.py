"""The book's summaries of many prompts: the one interval on a mean (over prompts or seeds, along the
first axis), and accuracy that splits ties."""

from __future__ import annotations

import numpy as np
import torch

Z95 = 1.96   # the standard normal's 97.5 % quantile, to the two decimals every artifact was made with


def mean_and_interval(values, *, bootstrap: int = 0, seed: int = 0) -> dict:
    """Mean over the first axis of ``values [N, ...]`` with a 95 % interval: ``{"mean", "lo", "hi"}``
    as lists (or floats for ``[N]``).

    ``bootstrap = 0``: the normal approximation, mean ± z·s/√N (s the sample standard deviation;
    a single value has a zero-width interval). ``bootstrap = B``: the percentile interval of ``B``
    resampled means, drawn by torch from ``seed`` (for errors whose distribution over prompts is
    skewed, as squared errors are)."""
    if bootstrap < 0:
        raise ValueError(f"mean_and_interval needs bootstrap >= 0, got {bootstrap}")
    if bootstrap:
        e = values if torch.is_tensor(values) else torch.as_tensor(np.asarray(values, dtype=np.float64))
        g = torch.Generator().manual_seed(seed)
        idx = torch.randint(len(e), (bootstrap, len(e)), generator=g)
        lo, hi = torch.quantile(e[idx].mean(dim=1), torch.tensor([0.025, 0.975], dtype=e.dtype), dim=0)
        return {"mean": e.mean(0).tolist(), "lo": lo.tolist(), "hi": hi.tolist()}
    v = np.asarray(values, dtype=np.float64)
    if len(v) == 0:
        raise ValueError("mean_and_interval needs at least one value")
    mean = v.mean(0)
    half = Z95 * v.std(0, ddof=1) / np.sqrt(len(v)) if len(v) > 1 else np.zeros_like(mean)
    return {"mean": mean.tolist(), "lo": (mean - half).tolist(), "hi": (mean + half).tolist()}


def argmax_accuracy(predictive: np.ndarray, labels: np.ndarray, rtol: float = 1e-9, atol: float = 1e-12) -> np.ndarray:
    """1 where the predictive's argmax is the true label, ties split evenly (``[...]`` for
    ``predictive [..., V]`` and ``labels [...]``): the expected accuracy of a uniformly random
    tie-break, the same on every machine, where a plain argmax would pick whichever of the tied
    values float rounding put first. Values within ``rtol``/``atol`` of the best count as tied."""
    best = predictive.max(-1, keepdims=True)
    ties = np.isclose(predictive, best, rtol=rtol, atol=atol)
    hit = np.take_along_axis(ties, np.broadcast_to(labels, ties.shape[:-1])[..., None], -1)[..., 0]
    return hit / ties.sum(-1)
