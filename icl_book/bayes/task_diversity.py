"""The two Bayes references of the task-diversity experiment (Raventós, Paul, Chen & Ganguli,
NeurIPS 2023), called like every predictor in ``icl_book.bayes``: ``predict(xs, ys, x_query)``.

Pretraining draws each prompt's task ``w`` from a finite pool ``{w^(1), ..., w^(M)}`` (uniform),
labels are ``y = w . x + N(0, sigma^2)``. Two priors, two Bayes-optimal predictors:

- **dMMSE**, Bayes for the pretraining distribution itself, the uniform prior on the pool: the
  posterior over pool members is a softmax of the log-likelihoods,
  ``w_hat = sum_i softmax_i(-(1/2 sigma^2) sum_j (y_j - w^(i) . x_j)^2) w^(i)``;
- **ridge**, Bayes for the Gaussian prior ``w ~ N(0, I)`` that the pool was drawn from:
  ``w_hat = (X^T X + sigma^2 I)^-1 X^T y``: ``icl_book.bayes.bayes_posterior_mean(sigma)``.

A model that has memorised the pool behaves like dMMSE; one that has learned the task family
behaves like ridge, also on tasks outside the pool. Everything is float64 on the CPU.
"""

from __future__ import annotations

import torch

from .regression import Predictor, _f64


def dmmse(pool: torch.Tensor, noise_std: float, chunk: int = 256) -> Predictor:
    """The posterior mean of ``w`` under the uniform prior on ``pool [M, d]``, then ``w_hat . x_query``.
    Computed in log space (log-likelihoods, then softmax); prompts go ``chunk`` at a time so the
    ``[B, M, i]`` residuals stay small."""
    if pool.dim() != 2 or len(pool) == 0:
        raise ValueError(f"dmmse needs a task pool [M, d] with M >= 1, got {tuple(pool.shape)}")
    if not noise_std > 0:
        raise ValueError(f"dmmse needs noise_std > 0 (the posterior is a hard arg max otherwise), got {noise_std}")
    (pool,) = _f64(pool)

    def predict(xs, ys, xq):
        xs, ys, xq = _f64(xs, ys, xq)
        out = torch.empty(len(xq), dtype=torch.float64)
        for s in range(0, len(xq), chunk):
            x, y = xs[s:s + chunk], ys[s:s + chunk]
            resid = y.unsqueeze(1) - torch.einsum("bid,md->bmi", x, pool)          # [b, M, i]
            log_lik = -(resid ** 2).sum(-1) / (2 * noise_std ** 2)               # [b, M]
            w_hat = log_lik.softmax(dim=-1) @ pool                               # [b, d]
            out[s:s + chunk] = (w_hat * xq[s:s + chunk]).sum(-1)
        return out

    return predict


def incontext_predictions(predict: Predictor, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """``predict``'s prediction of each ``y_i`` from the ``i`` pairs before it: ``[B, n]``."""
    return torch.stack([predict(xs[:, :i], ys[:, :i], xs[:, i]) for i in range(xs.shape[1])], dim=1)
