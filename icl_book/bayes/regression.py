"""Exact and classical predictors for in-context linear regression.

Every predictor is called the same way, ``predict(xs, ys, x_query) -> y_hat``, with a
context ``xs [B, i, d]``, ``ys [B, i]`` of ``i >= 0`` examples and queries ``x_query [B, d]``,
so one evaluation loop (``incontext_errors``) serves them and the trained models alike.
All of them compute in float64 on the CPU, whatever the inputs' device.

Under the prior ``w ~ N(0, tau^2 I)`` and noise ``N(0, sigma^2)`` the posterior mean of ``w``
is ridge regression with ``lambda = sigma^2 / tau^2``; with no noise it is the minimum-norm
least-squares solution. That is the Bayes-optimal predictor for squared error.
"""

from __future__ import annotations

from typing import Callable

import torch

Predictor = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def _f64(*ts):
    return tuple(t.detach().to("cpu", torch.float64) for t in ts)


def ridge(lam: float) -> Predictor:
    """Ridge regression; ``lam = 0`` is minimum-norm least squares (the pseudo-inverse)."""
    if lam < 0:
        raise ValueError(f"ridge needs lam >= 0, got {lam}")

    def predict(xs, ys, xq):
        xs, ys, xq = _f64(xs, ys, xq)
        if xs.shape[1] == 0:
            return torch.zeros(xq.shape[0], dtype=torch.float64)
        if lam == 0:
            w = torch.linalg.pinv(xs) @ ys.unsqueeze(-1)                    # [B, d, 1]
        else:
            d = xs.shape[-1]
            gram = xs.transpose(1, 2) @ xs + lam * torch.eye(d, dtype=torch.float64)
            w = torch.linalg.solve(gram, xs.transpose(1, 2) @ ys.unsqueeze(-1))
        return (xq.unsqueeze(1) @ w).reshape(-1)

    return predict


def bayes_posterior_mean(noise_std: float, prior_std: float = 1.0) -> Predictor:
    """The Bayes-optimal predictor for the Gaussian prior: ridge with sigma^2 / tau^2."""
    return ridge((noise_std / prior_std) ** 2)


least_squares = ridge(0.0)


def nearest_neighbours(k: int = 3) -> Predictor:
    """Average the labels of the ``k`` context inputs closest to the query (Garg et al. use 3)."""

    def predict(xs, ys, xq):
        xs, ys, xq = _f64(xs, ys, xq)
        if xs.shape[1] == 0:
            return torch.zeros(xq.shape[0], dtype=torch.float64)
        dist = (xs - xq.unsqueeze(1)).norm(dim=-1)                          # [B, i]
        idx = dist.topk(min(k, xs.shape[1]), largest=False).indices
        return ys.gather(1, idx).mean(dim=1)

    return predict


def averaging(xs, ys, xq):
    """Garg et al.'s averaging estimator: ``w_hat = mean_i y_i x_i``, then ``w_hat . x_query``."""
    xs, ys, xq = _f64(xs, ys, xq)
    if xs.shape[1] == 0:
        return torch.zeros(xq.shape[0], dtype=torch.float64)
    w = (ys.unsqueeze(-1) * xs).mean(dim=1)
    return (w * xq).sum(-1)


def prior_mean(xs, ys, xq):
    """Ignore the context: predict the prior mean of ``y``, zero."""
    return torch.zeros(xq.shape[0], dtype=torch.float64)


def incontext_errors(predict: Predictor, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """Squared error of ``predict`` on each ``y_i`` from the ``i`` pairs before it: ``[B, n]``."""
    n = xs.shape[1]
    cols = [predict(xs[:, :i], ys[:, :i], xs[:, i]) for i in range(n)]
    return (torch.stack(cols, dim=1) - _f64(ys)[0]) ** 2


def expected_bayes_error_noiseless(d: int, i: int) -> float:
    """Closed form: with no noise and w ~ N(0, I), the minimum-norm predictor's expected
    squared error after ``i`` examples is ``max(d - i, 0)`` (the prior variance left in the
    directions the examples have not spanned)."""
    return float(max(d - i, 0))
