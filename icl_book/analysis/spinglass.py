"""Order parameters and observables of the spin glass of linear attention (Li, Bai, Huang 2025):
the contrast ratio, test errors, the Hessian's zero modes. The glass itself and its exact
solutions are in ``icl_book.bayes.spinglass``; its gradient training in
``icl_book.train_linear_attention``."""

from __future__ import annotations

import math

import torch

from ..models.linear_attention import GramStats, PromptSet, f64 as _f64

# An eigenvalue of the Hessian (1/P) sum s s^T counts as zero when it is at most this
# fraction of the largest one. In float64 the exact zeros come out below 1e-16 (relative) at
# D = 20; the non-zero ones stay above 1e-5 except within a few prompts of P = D (D + 1),
# where the feature matrix is nearly square and its smallest eigenvalue dips (7.7e-9 seen at
# P = 420, D = 20). 1e-12 separates the two there too; 1e-9 miscounted one such draw.
ZERO_EIG_RTOL = 1e-12

def contrast_ratio(W: torch.Tensor) -> torch.Tensor:
    """``cos(W, I) = tr(W) / (|W|_F sqrt(D + 1))`` for ``W [..., D + 1, D + 1]``: ``[...]``.
    1 for a multiple of the identity (the in-context solution), ~0 for a random matrix."""
    if W.dim() < 2 or W.shape[-1] != W.shape[-2]:
        raise ValueError(f"contrast_ratio needs square matrices [..., D + 1, D + 1], got {tuple(W.shape)}")
    trace = torch.diagonal(W, dim1=-2, dim2=-1).sum(-1)
    return trace / (torch.linalg.matrix_norm(W) * math.sqrt(W.shape[-1]))


def prediction_error(W: torch.Tensor, prompts: PromptSet) -> float:
    """Mean squared error of the merged model with weights ``W [D + 1, D + 1]`` on the query
    labels of ``prompts`` (fresh tasks, to measure in-context learning)."""
    y_hat = prompts.features().to(torch.float64) @ _f64(W).reshape(-1)
    return float(((y_hat - _f64(prompts.y_query)) ** 2).mean())


def hessian(s: torch.Tensor) -> torch.Tensor:
    """``(1/P) sum_mu s s^T [n, n]`` in float64: the Hessian of ``E`` without the ridge."""
    s = _f64(s)
    return s.T @ s / s.shape[0]


def zero_mode_fraction(s: torch.Tensor, rtol: float = ZERO_EIG_RTOL) -> float:
    """The fraction of eigenvalues of the Hessian that are zero, to ``rtol`` relative to the
    largest (see ``ZERO_EIG_RTOL``)."""
    eig = torch.linalg.eigvalsh(hessian(s))
    return float((eig <= rtol * eig.max()).to(torch.float64).mean())


def zero_mode_fraction_law(d: int, n_prompts: int) -> float:
    """``max(1 - P/(D + 1)^2, 1/(D + 1))``. Each prompt's feature is a rank-one matrix
    ``c x_q^T`` with ``c`` in ``R^(D + 1)`` and ``x_q`` in ``R^D``, so ``P`` generic prompts
    span ``min(P, D (D + 1))`` dimensions; the ``D + 1`` weights of the last column are never
    reached, which is the floor ``(D + 1)/(D + 1)^2``."""
    n = (d + 1) ** 2
    return max(1.0 - n_prompts / n, 1.0 / (d + 1))


def gram_prediction_error(W: torch.Tensor, test: GramStats) -> torch.Tensor:
    """Mean squared error of weights ``W [D + 1, D + 1]`` on every test set: ``[R]``."""
    w = _f64(W).reshape(1, -1).expand(test.repeats, -1)
    return test.loss(w)
