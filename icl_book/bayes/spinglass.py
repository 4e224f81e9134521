"""The spin glass of linear attention (Li, Bai, Huang, PRE 2025, arXiv 2408.02288): its exact solutions.

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
from dataclasses import dataclass

import numpy as np
import torch

from ..models.linear_attention import GramStats, PromptSet, f64 as _f64, weight_side as _side

_NEEDS_FEATURES = "expected features s [P, (D + 1)^2] and labels y_query [P]; got {} and {}"


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
    ``m`` plus that of ``v`` is below 1e-6, a looser rule, with at most 100 sweeps
    (``message_passing_as_published``); where both converge, the fixed point is the same."""
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


def message_passing_as_published(sg: SpinGlass, beta: float = 100.0, damping: float = 0.9, tol: float = 1e-6,
                                 max_sweeps: int = 100, generator: torch.Generator | None = None) -> Marginals:
    """The official script's procedure for the same update (its ``AMP_iteration``), vectorised:
    ``m`` and ``v`` start from independent ``N(0, 1)`` draws (from ``generator``; half the
    variances start negative), every spin is updated from the previous sweep's values, the error
    of a sweep is the mean squared change that the update proposes to ``m`` plus that to ``v``
    (before damping), and the iteration stops once it is at most ``tol`` or after ``max_sweeps``
    sweeps (the script's 100). There is no check on the cavity precisions: a sweep that divides by
    a non-positive one goes on with whatever it gives, and an error that turns NaN ends the loop
    as the script's ``while error > tol`` does. ``converged`` is the script's test of a run that
    counts, ``error < tol``; the script averages the contrast ratio over the runs that pass it."""
    _check_mp(beta, damping, tol, max_sweeps)
    off = sg.J - torch.diag(torch.diagonal(sg.J))
    off2 = off * off
    m = torch.randn(sg.n_spins, generator=generator, dtype=torch.float64)
    v = torch.randn(sg.n_spins, generator=generator, dtype=torch.float64)
    error, sweeps = math.inf, 0
    while error > tol and sweeps < max_sweeps:             # a NaN error ends it: NaN > tol is false
        cavity = beta * sg.lam - beta ** 2 * (off2 @ v)
        new_m = (beta * sg.h + beta * (off @ m)) / cavity
        new_v = 1.0 / cavity
        error = float(((new_m - m) ** 2).mean() + ((new_v - v) ** 2).mean())
        m = damping * m + (1 - damping) * new_m
        v = damping * v + (1 - damping) * new_v
        sweeps += 1
    return Marginals(m, v, sweeps, bool(error < tol), error)


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


def spin_glass_of_gram(stats: GramStats, r: int, lam0: float) -> SpinGlass:
    """The spin glass of set ``r`` of Gram statistics (the same as ``spin_glass`` on its features)."""
    J = -stats.G[r]
    return SpinGlass(J=J, h=stats.b[r], lam=lam0 - torch.diagonal(J), lam0=float(lam0), n_prompts=stats.n_prompts)


def nested_ridge_means(C: torch.Tensor, Q: torch.Tensor, y: torch.Tensor, Ps: list[int],
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
