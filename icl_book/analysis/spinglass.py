"""The spin glass of linear attention (Li, Bai, Huang, PRE 2025, arXiv 2408.02288).

The pretraining loss of the merged linear-attention model with a ridge term ``lam0``,

    E(W) = (1/2P) sum_mu (y_q^mu - W . s^mu)^2 + (lam0/2) |W|^2,

is, up to the constant ``(1/2P) sum_mu (y_q^mu)^2``, the Hamiltonian of ``n = (D + 1)^2``
real-valued spins ``W_i`` (``W`` flattened row-major, as ``features`` flattens ``s``):

    H(W) = -sum_{i<j} J_ij W_i W_j - sum_i h_i W_i + 1/2 sum_i lam_i W_i^2,
    J_ij = -(1/P) sum_mu s_i s_j,   h_i = (1/P) sum_mu y_q s_i,   lam_i = lam0 - J_ii.

``H`` is quadratic, so the Boltzmann distribution ``exp(-beta H)`` is Gaussian with mean
``A^-1 h`` and covariance ``(beta A)^-1``, ``A = (1/P) sum s s^T + lam0 I = lam0 I - J``; its
mean is ridge regression on the features. ``boltzmann_gaussian`` computes it exactly.

``message_passing`` is the paper's solver, vectorised: per spin a mean ``m_i`` and a variance
``v_i``, updated all at once from

    m_i <- (beta h_i + beta sum_{j!=i} J_ij m_j) / (beta lam_i - beta^2 sum_{j!=i} J_ij^2 v_j)
    v_i <- 1 / (beta lam_i - beta^2 sum_{j!=i} J_ij^2 v_j)

with damping ``theta`` (the new value is ``theta * old + (1 - theta) * update``).
``message_passing_loop`` is the same iteration written spin by spin, as the paper's code has
it; it exists to be checked against and timed.

Note on what message passing converges to. At a fixed point the mean equation reads
``(lam_i - d_i) m_i - sum_j J_ij m_j = h_i`` with ``d_i = beta sum_j J_ij^2 v_j``: the exact
mean solves the same equation with ``d_i = 0``. The update above has no Onsager reaction term
(``- beta^2 m_i sum_j J_ij^2 v_j`` in the numerator), so its means sit a little off the exact
Gaussian means (a few per cent at the paper's settings, see the tests and the benchmark).
``onsager=True`` adds the term; its fixed point is then exactly ``A^-1 h``.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch

from ..models.linear_attention import (LinearAttentionConfig, PromptSet, build_linear_attention,
                                       sample_prompts)
from ..train import step_generator

# An eigenvalue of the Hessian (1/P) sum s s^T counts as zero when it is at most this
# fraction of the largest one. In float64 the exact zeros come out below 1e-16 (relative) at
# D = 20; the non-zero ones stay above 1e-5 except within a few prompts of P = D (D + 1),
# where the feature matrix is nearly square and its smallest eigenvalue dips (7.7e-9 seen at
# P = 420, D = 20). 1e-12 separates the two there too; 1e-9 miscounted one such draw.
ZERO_EIG_RTOL = 1e-12

_NEEDS_FEATURES = "expected features s [P, (D + 1)^2] and labels y_query [P]; got {} and {}"


def _f64(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to("cpu", torch.float64)


def _side(n_spins: int) -> int:
    side = math.isqrt(n_spins)
    if side * side != n_spins:
        raise ValueError(f"{n_spins} spins do not form a square (D + 1) x (D + 1) weight matrix")
    return side


# ---- the spin glass -------------------------------------------------------------------------

@dataclass(frozen=True)
class SpinGlass:
    """Couplings ``J [n, n]`` (diagonal included: it enters ``lam``), fields ``h [n]`` and
    self-couplings ``lam [n]`` of ``n = (D + 1)^2`` spins, all float64 on the CPU."""

    J: torch.Tensor
    h: torch.Tensor
    lam: torch.Tensor
    lam0: float
    n_prompts: int

    @property
    def n_spins(self) -> int:
        return self.h.shape[0]

    @property
    def d(self) -> int:
        return _side(self.n_spins) - 1

    def precision(self) -> torch.Tensor:
        """``A = (1/P) sum s s^T + lam0 I = lam0 I - J``, the Hessian of ``E``: ``[n, n]``."""
        return self.lam0 * torch.eye(self.n_spins, dtype=torch.float64) - self.J

    def hamiltonian(self, W: torch.Tensor) -> torch.Tensor:
        """``H(W)`` for weights ``W [..., D + 1, D + 1]`` or flat ``[..., n]``: ``[...]``."""
        w = _f64(W).reshape(*W.shape[:-2], -1) if W.shape[-2:] == (self.d + 1, self.d + 1) else _f64(W)
        off = self.J - torch.diag(torch.diagonal(self.J))
        pair = 0.5 * torch.einsum("...i,ij,...j->...", w, off, w)   # sum_{i<j} J_ij W_i W_j
        return -pair - w @ self.h + 0.5 * (w * w) @ self.lam


def spin_glass(s: torch.Tensor, y_query: torch.Tensor, lam0: float) -> SpinGlass:
    """The couplings, fields and self-couplings of the features ``s [P, n]`` and the query
    labels ``y_query [P]``, in float64."""
    if s.dim() != 2 or y_query.shape != (s.shape[0],):
        raise ValueError(_NEEDS_FEATURES.format(tuple(s.shape), tuple(y_query.shape)))
    if lam0 < 0:
        raise ValueError(f"spin_glass needs lam0 >= 0, got {lam0}")
    _side(s.shape[1])
    s, y = _f64(s), _f64(y_query)
    P = s.shape[0]
    J = -(s.T @ s) / P
    h = s.T @ y / P
    return SpinGlass(J=J, h=h, lam=lam0 - torch.diagonal(J), lam0=float(lam0), n_prompts=P)


def spin_glass_of(prompts: PromptSet, lam0: float) -> SpinGlass:
    """``spin_glass`` of a prompt set's features and query labels."""
    return spin_glass(prompts.features(), prompts.y_query, lam0)


def energy(W: torch.Tensor, s: torch.Tensor, y_query: torch.Tensor, lam0: float) -> torch.Tensor:
    """The pretraining energy ``E(W) = (1/2P) sum (y_q - W . s)^2 + (lam0/2) |W|^2``."""
    w, s, y = _f64(W).reshape(-1), _f64(s), _f64(y_query)
    return 0.5 * ((y - s @ w) ** 2).mean() + 0.5 * lam0 * (w @ w)


# ---- exact Boltzmann distribution -----------------------------------------------------------

@dataclass(frozen=True)
class Marginals:
    """Per-spin means and variances ``[n]``. For message passing also the number of sweeps,
    whether it converged, and the last change (max over spins of |update - old|)."""

    mean: torch.Tensor
    var: torch.Tensor
    iterations: int = 0
    converged: bool = True
    change: float = 0.0

    def mean_matrix(self) -> torch.Tensor:
        """The means as the weight matrix ``[D + 1, D + 1]``."""
        side = _side(self.mean.shape[0])
        return self.mean.reshape(side, side)

    def var_matrix(self) -> torch.Tensor:
        side = _side(self.var.shape[0])
        return self.var.reshape(side, side)


def _cholesky(A: torch.Tensor) -> torch.Tensor:
    L, info = torch.linalg.cholesky_ex(A)
    if int(info.max()) > 0:
        raise ValueError("the precision matrix A = (1/P) sum s s^T + lam0 I is not positive definite; "
                         "the Boltzmann distribution needs lam0 > 0 (the zero modes are flat otherwise)")
    return L


def boltzmann_gaussian(sg: SpinGlass, beta: float = 100.0) -> Marginals:
    """The exact marginals of ``exp(-beta H)``: means ``A^-1 h`` (one Cholesky factorisation
    and two triangular solves) and variances ``diag((beta A)^-1)``. The variances need the
    inverse factor ``L^-1``; no matrix is inverted for the means."""
    if beta <= 0:
        raise ValueError(f"boltzmann_gaussian needs beta > 0, got {beta}")
    L = _cholesky(sg.precision())
    mean = torch.cholesky_solve(sg.h.unsqueeze(1), L).squeeze(1)
    L_inv = torch.linalg.solve_triangular(L, torch.eye(sg.n_spins, dtype=torch.float64), upper=False)
    var = (L_inv ** 2).sum(dim=0) / beta            # diag(A^-1) = column sums of (L^-1)^2
    return Marginals(mean=mean, var=var)


def boltzmann_covariance(sg: SpinGlass, beta: float = 100.0) -> torch.Tensor:
    """The full covariance ``(beta A)^-1 [n, n]``, from the Cholesky factor of ``A``."""
    return torch.cholesky_inverse(_cholesky(sg.precision())) / beta


# ---- message passing --------------------------------------------------------------------------

def _check_mp(beta, damping, tol, max_iter):
    if beta <= 0:
        raise ValueError(f"message passing needs beta > 0, got {beta}")
    if not 0 <= damping < 1:
        raise ValueError(f"message passing needs damping theta in [0, 1), got {damping}")
    if tol <= 0 or not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"message passing needs tol > 0 and max_iter >= 1, got {tol}, {max_iter}")


def message_passing(sg: SpinGlass, beta: float = 100.0, damping: float = 0.9, tol: float = 1e-6,
                    max_iter: int = 20_000, onsager: bool = False) -> Marginals:
    """The paper's damped message passing, every spin at once (two matrix-vector products a
    sweep). Starts from ``m = 0``, ``v = 1/(beta lam)``; stops when the largest change that
    an update proposes, over all means and variances, is below ``tol``. Stops unconverged
    (``converged=False``) after ``max_iter`` sweeps, or at once if a cavity precision
    ``beta lam_i - beta^2 sum_j J_ij^2 v_j`` turns non-positive (the variances would be
    negative: message passing has no solution there).

    The paper's code starts from random ``m, v`` and stops when the mean squared change of
    ``m`` plus that of ``v`` is below 1e-6, a looser rule, with at most 100 sweeps; where it
    converges, the fixed point is the same."""
    _check_mp(beta, damping, tol, max_iter)
    off = sg.J - torch.diag(torch.diagonal(sg.J))      # J_ij, j != i
    off2 = off * off
    # Both updates divided through by beta: with p_i = lam_i - beta sum_j J_ij^2 v_j,
    # m_i <- (h_i + sum_j J_ij m_j) / p_i and v_i <- 1 / (beta p_i). The state is one [2, n]
    # tensor (means, variances), so that the change and the damping are one operation each.
    state = torch.stack([torch.zeros_like(sg.h), 1.0 / (beta * sg.lam)])
    m, v = state[0], state[1]
    proposal = torch.empty_like(state)
    change = math.inf
    for it in range(1, max_iter + 1):
        prec = torch.addmv(sg.lam, off2, v, alpha=-beta)                # p_i   [n]
        if float(prec.min()) <= 0:
            return Marginals(m.clone(), v.clone(), it, False, change)
        field = torch.addmv(sg.h, off, m)                               # h_i + sum_j J_ij m_j
        if onsager:
            field.addcmul_(prec - sg.lam, m)                            # - beta m_i sum_j J_ij^2 v_j
        torch.div(field, prec, out=proposal[0])
        torch.reciprocal(prec.mul_(beta), out=proposal[1])
        change = float((proposal - state).abs_().max())
        state.lerp_(proposal, 1 - damping)                             # theta old + (1 - theta) new
        if change < tol:
            return Marginals(m.clone(), v.clone(), it, True, change)
    return Marginals(m.clone(), v.clone(), max_iter, False, change)


def message_passing_loop(sg: SpinGlass, beta: float = 100.0, damping: float = 0.9, tol: float = 1e-6,
                         max_iter: int = 20_000) -> Marginals:
    """The same iteration as ``message_passing`` (without the Onsager option), one spin at a
    time in a Python loop, as the paper's code runs it. A reference for tests and timing."""
    _check_mp(beta, damping, tol, max_iter)
    J, h, lam = sg.J.numpy(), sg.h.numpy(), sg.lam.numpy()
    n = len(h)
    m, v = np.zeros(n), 1.0 / (beta * lam)
    change = math.inf
    for it in range(1, max_iter + 1):
        m_new, v_new = np.empty(n), np.empty(n)
        for i in range(n):
            row = J[i]
            M_i = row @ m - row[i] * m[i]                       # sum_{j != i} J_ij m_j
            V_i = (row * row) @ v - row[i] ** 2 * v[i]          # sum_{j != i} J_ij^2 v_j
            cavity = beta * lam[i] - beta ** 2 * V_i
            if cavity <= 0:
                return Marginals(torch.from_numpy(m), torch.from_numpy(v), it, False, change)
            m_new[i] = (beta * h[i] + beta * M_i) / cavity
            v_new[i] = 1.0 / cavity
        change = max(np.abs(m_new - m).max(), np.abs(v_new - v).max())
        m = damping * m + (1 - damping) * m_new
        v = damping * v + (1 - damping) * v_new
        if change < tol:
            return Marginals(torch.from_numpy(m), torch.from_numpy(v), it, True, float(change))
    return Marginals(torch.from_numpy(m), torch.from_numpy(v), max_iter, False, float(change))


# ---- observables ------------------------------------------------------------------------------

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


# ---- gradient training -------------------------------------------------------------------------

@dataclass(frozen=True)
class GradientTrainingConfig:
    lr: float = 0.01             # Adam learning rate (the paper's)
    epochs: int = 300            # full-batch steps
    weight_decay: float = 0.0    # Adam's L2 term (the paper's wd); the minimiser is ridge with lam0 = wd / 2
    init_std: float | None = None  # None: the paper's 1/sqrt(D + 1)

    def __post_init__(self):
        if not self.lr > 0:
            raise ValueError(f"GradientTrainingConfig.lr must be > 0, got {self.lr!r}")
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise ValueError(f"GradientTrainingConfig.epochs must be a positive integer, got {self.epochs!r}")
        if self.weight_decay < 0:
            raise ValueError(f"GradientTrainingConfig.weight_decay must be >= 0, got {self.weight_decay!r}")


@dataclass(frozen=True)
class TrainingResult:
    W: torch.Tensor                   # [D + 1, D + 1] the trained merged matrix (W_q^T W_k if separate)
    W_init: torch.Tensor              # [D + 1, D + 1] the same at initialisation
    train_loss: torch.Tensor          # [epochs] MSE on the training prompts, before each step
    test_loss: torch.Tensor | None    # [epochs] MSE on the test prompts, after each step


def train_linear_attention(train: PromptSet, test: PromptSet | None = None,
                           config: GradientTrainingConfig = GradientTrainingConfig(), *,
                           merged: bool = True, generator: torch.Generator | None = None) -> TrainingResult:
    """Train linear attention on the query labels of ``train`` by full-batch Adam on the mean
    squared error, as the paper does, in float64. The loss is ``2 E(W)`` without the ridge,
    so with ``weight_decay = 0`` and enough prompts it runs to least squares on the features;
    the gradient on the zero-mode column is exactly zero, so Adam leaves it where it started."""
    cfg = LinearAttentionConfig(d=train.d, merged=merged, init_std=config.init_std)
    model = build_linear_attention(cfg, generator)
    # The features are fixed, so they are built once; s @ W.flatten() is model.predict(Z).
    s_train, y_train = _f64(train.features()), _f64(train.y_query)
    s_test = _f64(test.features()) if test is not None else None
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    W_init = model.weight().detach().clone()
    train_loss, test_loss = torch.empty(config.epochs), torch.empty(config.epochs)
    for epoch in range(config.epochs):
        loss = ((s_train @ model.weight().reshape(-1) - y_train) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        train_loss[epoch] = loss.detach()
        if s_test is not None:
            with torch.no_grad():
                test_loss[epoch] = ((s_test @ model.weight().reshape(-1) - _f64(test.y_query)) ** 2).mean()
    return TrainingResult(W=model.weight().detach().clone(), W_init=W_init, train_loss=train_loss,
                          test_loss=test_loss if s_test is not None else None)


# ---- the contrast-ratio heat map ----------------------------------------------------------------

@dataclass(frozen=True)
class ContrastRatioGrid:
    Ps: tuple[int, ...]     # numbers of pretraining prompts (columns)
    Ns: tuple[int, ...]     # context lengths (rows)
    values: torch.Tensor    # [repeats, len(Ns), len(Ps)] contrast ratio of the exact Boltzmann mean

    @property
    def mean(self) -> torch.Tensor:
        return self.values.mean(dim=0)

    @property
    def std(self) -> torch.Tensor:
        return self.values.std(dim=0)


def _checked_sizes(name: str, values) -> tuple[int, ...]:
    values = list(values)
    out = tuple(int(v) for v in values)
    if not out or any(v < 1 or v != x for v, x in zip(out, values)):
        raise ValueError(f"contrast_ratio_grid: {name} must be non-empty positive integers, got {values!r}")
    return out


def _nested_ridge_means(C: torch.Tensor, Q: torch.Tensor, y: torch.Tensor, Ps: list[int],
                        lam0: float) -> torch.Tensor:
    """Ridge means ``(S^T S / P + lam0 I)^-1 S^T y / P`` on the first ``P`` rows, for every
    ``P`` in the increasing list ``Ps``, where row ``mu`` of ``S`` is ``C[mu] (x) Q[mu]``
    (``C [P, a]``, ``Q [P, b]``, ``S [P, a b]``). Returns ``[len(Ps), a b]``.

    Up to ``P = a b`` it solves the ``P x P`` dual system ``(S S^T + P lam0 I) alpha = y``,
    ``m = S^T alpha``, whose Gram matrix is cheap for rank-one features:
    ``S S^T = (C C^T) * (Q Q^T)`` elementwise. Beyond, the ``ab x ab`` primal system, with
    ``S^T S`` accumulated block by block over the prompts. One factorisation per ``P``: on
    the CPU a loop of single Cholesky calls beats torch's batched one at this size."""
    n = C.shape[1] * Q.shape[1]
    S = (C.unsqueeze(2) * Q.unsqueeze(1)).reshape(-1, n)
    out = torch.empty(len(Ps), n, dtype=torch.float64)
    dual = [k for k, P in enumerate(Ps) if P <= n]
    if dual:
        top = Ps[dual[-1]]
        K = (C[:top] @ C[:top].T) * (Q[:top] @ Q[:top].T)                    # S S^T  [top, top]
        for k in dual:
            P = Ps[k]
            L = _cholesky(K[:P, :P] + P * lam0 * torch.eye(P, dtype=torch.float64))
            out[k] = S[:P].T @ torch.cholesky_solve(y[:P, None], L).squeeze(1)
    gram, b, start = torch.zeros(n, n, dtype=torch.float64), torch.zeros(n, dtype=torch.float64), 0
    A = torch.empty(n, n, dtype=torch.float64)
    for k, P in enumerate(Ps):
        if P <= n:
            continue
        gram.addmm_(S[start:P].T, S[start:P])                                    # += block^T block
        b.addmv_(S[start:P].T, y[start:P])
        start = P
        torch.div(gram, P, out=A)
        A.diagonal().add_(lam0)
        out[k] = torch.cholesky_solve((b / P).unsqueeze(1), _cholesky(A)).squeeze(1)
    return out


def _grid_repeat(d: int, P_sorted: list[int], Ns: tuple[int, ...], lam0: float, seed: int, r: int) -> torch.Tensor:
    """The contrast ratios ``[len(Ns), len(P_sorted)]`` of one repeat of the grid."""
    pr = sample_prompts(P_sorted[-1], d, max(Ns), step_generator(seed, r))
    yx = torch.cumsum(pr.ys.unsqueeze(-1) * pr.xs, dim=1)   # sum_{i<=k} y_i x_i   [P, N, D]
    yy = torch.cumsum(pr.ys ** 2, dim=1)                      # sum_{i<=k} y_i^2     [P, N]
    out = torch.empty(len(Ns), len(P_sorted), dtype=torch.float64)
    for i, N in enumerate(Ns):
        label_row = torch.cat([yx[:, N - 1], yy[:, N - 1, None]], dim=1) / (N + 1)   # (Z Z^T)[D, :] / (N + 1)
        m = _nested_ridge_means(label_row, pr.x_query, pr.y_query, P_sorted, lam0).reshape(-1, d + 1, d)
        trace = torch.diagonal(m, dim1=-2, dim2=-1).sum(-1)  # the zero column adds nothing
        out[i] = trace / (torch.linalg.matrix_norm(m) * math.sqrt(d + 1))
    return out


def contrast_ratio_grid(d: int, Ps, Ns, lam0: float = 1.0, repeats: int = 10, seed: int = 0,
                        workers: int = 2) -> ContrastRatioGrid:
    """The contrast ratio of the Boltzmann mean (the ridge solution ``A^-1 h``, exact, float64)
    on a grid of pretraining set sizes ``Ps`` and context lengths ``Ns``.

    Each repeat draws one set of ``max(Ps)`` prompts with ``max(Ns)`` examples each (from
    ``step_generator(seed, repeat)``); the grid point ``(P, N)`` uses its first ``P`` prompts,
    each cut to its first ``N`` examples, so it equals ``boltzmann_gaussian`` on
    ``prompts.subset(P, N)``. Nesting keeps the cost down: the features for every ``N`` come
    from running sums over the examples, the Gram matrices for every ``P`` from running sums
    over the prompts. Within a repeat the grid points share data (common random numbers),
    which makes the heat map smoother than independent draws would; each point on its own
    has the right distribution.

    Only the first ``D`` columns of ``W`` enter the solve: the last column is decoupled
    (``A = lam0 I`` there and ``h = 0``), so its mean is exactly zero.

    The repeats run ``workers`` at a time in threads, each on one intra-op torch thread
    (torch's thread count is set to 1 for the call and restored afterwards; the result does
    not depend on it). The ``(D + 1) D``-sized factorisations gain little from a second
    thread, so two repeats side by side beat one repeat on two threads; and on a machine
    busy with other work, two-thread OpenMP kernels were measured 4-20x slower here than
    one-thread ones, because their threads wait for each other at every small operation."""
    Ps, Ns = _checked_sizes("Ps", Ps), _checked_sizes("Ns", Ns)
    if not isinstance(d, int) or d < 1:
        raise ValueError(f"contrast_ratio_grid: d must be a positive integer, got {d!r}")
    if not lam0 > 0:
        raise ValueError(f"contrast_ratio_grid needs lam0 > 0 (the Gaussian is improper otherwise), got {lam0}")
    for name, value in (("repeats", repeats), ("workers", workers)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"contrast_ratio_grid: {name} must be a positive integer, got {value!r}")
    P_sorted = sorted(set(Ps))
    P_col = [P_sorted.index(P) for P in Ps]
    run = partial(_grid_repeat, d, P_sorted, Ns, lam0, seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        if workers == 1:
            per_repeat = [run(r) for r in range(repeats)]
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                per_repeat = list(pool.map(run, range(repeats)))
    finally:
        torch.set_num_threads(threads)
    values = torch.stack(per_repeat)[:, :, P_col]
    return ContrastRatioGrid(Ps=Ps, Ns=Ns, values=values)


# ---- many repeats at once, from the Gram matrix --------------------------------------------------
#
# The loss of the merged model is a quadratic form in the flattened weights w,
#     (1/P) sum_mu (y_q - w . s)^2 = w^T G w - 2 b . w + c,
#     G = S^T S / P,  b = S^T y / P,  c = y . y / P,
# so full-batch training needs only (G, b, c): one (D + 1)^2-sized matrix-vector product per
# step, whatever P is. Repeats are stacked along a leading axis and trained by one Adam; Adam
# acts entry by entry, so each repeat follows exactly the path it would follow alone.

@dataclass(frozen=True)
class GramStats:
    """``G [R, n, n]``, ``b [R, n]``, ``c [R]`` of ``R`` prompt sets (float64), and their ``P``."""

    G: torch.Tensor
    b: torch.Tensor
    c: torch.Tensor
    n_prompts: int

    @property
    def repeats(self) -> int:
        return self.G.shape[0]

    def loss(self, w: torch.Tensor) -> torch.Tensor:
        """The mean squared error of flat weights ``w [R, n]`` on each set: ``[R]``."""
        Gw = torch.bmm(self.G, w.unsqueeze(2)).squeeze(2)
        return (w * Gw).sum(1) - 2 * (self.b * w).sum(1) + self.c

    def spin_glass(self, r: int, lam0: float) -> SpinGlass:
        """The spin glass of set ``r`` (the same as ``spin_glass`` on its features)."""
        J = -self.G[r]
        return SpinGlass(J=J, h=self.b[r], lam=lam0 - torch.diagonal(J), lam0=float(lam0), n_prompts=self.n_prompts)


def gram_stats(prompt_sets: list[PromptSet]) -> GramStats:
    """The Gram statistics of prompt sets of equal size."""
    sizes = {p.n_prompts for p in prompt_sets}
    if len(sizes) != 1:
        raise ValueError(f"gram_stats needs prompt sets of one size, got sizes {sorted(sizes)}")
    G, b, c = [], [], []
    for p in prompt_sets:
        s, y = _f64(p.features()), _f64(p.y_query)
        G.append(s.T @ s / len(y)); b.append(s.T @ y / len(y)); c.append(y @ y / len(y))
    return GramStats(torch.stack(G), torch.stack(b), torch.stack(c), sizes.pop())


def sampled_gram_stats(n_prompts: int, d: int, n_context: int, generators: list[torch.Generator],
                       chunk: int = 1000) -> GramStats:
    """Gram statistics of ``len(generators)`` fresh prompt sets of ``n_prompts`` prompts each,
    drawn ``chunk`` prompts at a time (so ``P = 10^4`` prompts of 200 examples never sit in
    memory at once). Chunked draws are a different, equally distributed set than one
    ``sample_prompts(n_prompts, ...)`` call from the same generator."""
    n = (d + 1) ** 2
    G = torch.zeros(len(generators), n, n, dtype=torch.float64)
    b = torch.zeros(len(generators), n, dtype=torch.float64)
    c = torch.zeros(len(generators), dtype=torch.float64)
    for r, g in enumerate(generators):
        for start in range(0, n_prompts, chunk):
            p = sample_prompts(min(chunk, n_prompts - start), d, n_context, g)
            s, y = p.features(), p.y_query
            G[r].addmm_(s.T, s); b[r].addmv_(s.T, y); c[r] += y @ y
    return GramStats(G / n_prompts, b / n_prompts, c / n_prompts, n_prompts)


@dataclass(frozen=True)
class RepeatsResult:
    W: torch.Tensor            # [R, D + 1, D + 1] trained merged matrices (W_q^T W_k if separate)
    W_init: torch.Tensor       # [R, D + 1, D + 1] the same at initialisation
    train_loss: torch.Tensor   # [epochs, R] before each step
    test_loss: torch.Tensor    # [R] after the last step, on the test statistics


def train_repeats(train: GramStats, test: GramStats, config: GradientTrainingConfig = GradientTrainingConfig(), *,
                  merged: bool = True, generator: torch.Generator | None = None) -> RepeatsResult:
    """``train.repeats`` independent runs of ``train_linear_attention``, one per training set,
    all scored on the test statistics (one set, or one per repeat). The initial weights of
    repeat ``r`` are the ``r``-th model drawn from ``generator``, so with the same generator
    repeat ``r`` starts where the ``r``-th of a loop of ``train_linear_attention`` calls would."""
    R = train.repeats
    D1 = _side(train.G.shape[1])
    cfg = LinearAttentionConfig(d=D1 - 1, merged=merged, init_std=config.init_std)
    inits = [build_linear_attention(cfg, generator) for _ in range(R)]
    names = [name for name, _ in inits[0].named_parameters()]
    params = [torch.nn.Parameter(torch.stack([dict(m.named_parameters())[k].detach() for m in inits])) for k in names]

    def weight():
        return params[0] if merged else params[0].transpose(1, 2) @ params[1]     # W_q^T W_k  [R, D1, D1]

    opt = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    W_init = weight().detach().clone()
    train_loss = torch.empty(config.epochs, R, dtype=torch.float64)
    # The gradient by hand: dL/dw = 2 (G w - b), and for the separate model the chain rule
    # through W = W_q^T W_k; G w serves the loss and the gradient (autograd would need two
    # products with G, and the product is the whole cost of a step).
    with torch.no_grad():
        for epoch in range(config.epochs):
            W = weight()
            w = W.reshape(R, -1)
            Gw = torch.bmm(train.G, w.unsqueeze(2)).squeeze(2)
            train_loss[epoch] = (w * Gw).sum(1) - 2 * (train.b * w).sum(1) + train.c
            grad_W = (2 * (Gw - train.b)).reshape(R, D1, D1)
            if merged:
                params[0].grad = grad_W
            else:
                params[0].grad = params[1] @ grad_W.transpose(1, 2)     # dL/dW_q = W_k (dL/dW)^T
                params[1].grad = params[0] @ grad_W                     # dL/dW_k = W_q dL/dW
            opt.step()
    with torch.no_grad():
        W = weight().detach().clone()
        w = W.reshape(R, -1)
        test_loss = (test.loss(w) if test.repeats == R else
                     GramStats(test.G.expand(R, -1, -1), test.b.expand(R, -1), test.c.expand(R), test.n_prompts).loss(w))
    return RepeatsResult(W=W, W_init=W_init, train_loss=train_loss, test_loss=test_loss)


def gram_prediction_error(W: torch.Tensor, test: GramStats) -> torch.Tensor:
    """Mean squared error of weights ``W [D + 1, D + 1]`` on every test set: ``[R]``."""
    w = _f64(W).reshape(1, -1).expand(test.repeats, -1)
    return test.loss(w)
