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


# ---- the test error of a fixed W, exactly -------------------------------------------------------
#
# On a fresh prompt (w ~ N(0, I_D), x ~ N(0, I_D), y = w . x / sqrt(D), no noise) the prediction of
# W = [[A, .], [b^T, .]] (A the top-left D x D block, b the first D entries of the label row; the
# last column never reaches the output) is y_hat = x_q^T g with
#     g = (A^T S u + (u^T S u) b) / (N + 1),   S = X^T X (Wishart, N degrees of freedom),  u = w / sqrt(D),
# and y_q = x_q^T u. The query is independent of the rest, so the error is E |u - g|^2, and the
# moments E[S] = N I, E[S^2] = N (N + D + 1) I, E[(u^T S u)^2] = N (N + 2) (D + 2) / D (odd moments
# of u vanish) give
#     E (y_q - y_hat)^2 = 1 - 2 N tr(A) / (D (N + 1))
#                           + [N (N + D + 1) |A|_F^2 + N (N + 2) (D + 2) |b|^2] / (D (N + 1)^2).

def expected_test_error(W: torch.Tensor, n_context: int) -> torch.Tensor:
    """The expected squared error of the merged model with weights ``W [..., D + 1, D + 1]`` on a
    fresh noise-free prompt with ``n_context`` examples (the closed form above): ``[...]``.
    What a test set of infinitely many fresh prompts would measure."""
    if W.dim() < 2 or W.shape[-1] != W.shape[-2] or W.shape[-1] < 2:
        raise ValueError(f"expected_test_error needs square matrices [..., D + 1, D + 1], got {tuple(W.shape)}")
    if not isinstance(n_context, int) or n_context < 1:
        raise ValueError(f"expected_test_error needs n_context >= 1 examples, got {n_context!r}")
    W = _f64(W)
    D, N = W.shape[-1] - 1, n_context
    A, b = W[..., :D, :D], W[..., D, :D]
    trace = torch.diagonal(A, dim1=-2, dim2=-1).sum(-1)
    return (1 - 2 * N * trace / (D * (N + 1))
            + (N * (N + D + 1) * (A ** 2).sum((-2, -1)) + N * (N + 2) * (D + 2) * (b ** 2).sum(-1))
            / (D * (N + 1) ** 2))


def bayes_test_error(d: int, n_context: int) -> float:
    """The Bayes error on the same prompts: ``max(0, 1 - N/D)``. Labels carry no noise, so from
    ``N >= D`` generic examples the task is determined exactly; with fewer, the posterior of
    ``u = w / sqrt(D)`` keeps variance ``1/D`` on each of the ``D - N`` unseen directions."""
    return max(0.0, 1.0 - n_context / d)


def zfb_preconditioner(cov: torch.Tensor, n_context: int) -> torch.Tensor:
    """Zhang, Frei & Bartlett's (JMLR 2024) preconditioner ``Gamma = ((1 + 1/N) Lambda + tr(Lambda)/N I)^-1``
    for inputs of covariance ``Lambda`` (``cov [D, D]``): trained one-layer linear self-attention
    converges to ``y_hat = x_q^T Gamma (1/N) sum_i y_i x_i``, one step of preconditioned gradient descent."""
    cov = _f64(cov)
    if cov.dim() != 2 or cov.shape[0] != cov.shape[1]:
        raise ValueError(f"zfb_preconditioner needs a covariance [D, D], got {tuple(cov.shape)}")
    N = n_context
    eye = torch.eye(cov.shape[0], dtype=torch.float64)
    return torch.linalg.inv((1 + 1 / N) * cov + torch.trace(cov) / N * eye)


def ideal_weights(d: int, n_context: int) -> torch.Tensor:
    """The ideal ``W [D + 1, D + 1]`` of this chapter's model: Zhang, Frei & Bartlett's
    preconditioner for ``Lambda = I`` in the top-left block, rescaled from their ``1/N`` to the
    model's ``1/(N + 1)`` (so ``c* I`` with ``c* = (N + 1)/(N + D + 1)``), zero elsewhere. It is the
    minimiser of ``expected_test_error``, which there equals ``(D + 1)/(N + D + 1)``."""
    W = torch.zeros(d + 1, d + 1, dtype=torch.float64)
    W[:d, :d] = (n_context + 1) / n_context * zfb_preconditioner(torch.eye(d), n_context)
    return W
