"""Classical learners for s-sparse linear regression, batched over prompts and called like the
trained models (``predict(xs [B, i, d], ys [B, i], x_query [B, d]) -> [B]``).

- ``lasso(alpha)``: ``min_w (1/2i)‖y - Xw‖² + α‖w‖₁`` by FISTA (accelerated proximal gradient),
  until every prompt's duality gap is below ``tol`` of its objective at zero;
- ``orthogonal_matching_pursuit(s)``: greedily add the coordinate most correlated with the
  residual and refit by least squares on the chosen ones, up to ``s`` coordinates, stopping a
  prompt early once its residual is below ``tol`` of its labels' norm.

Both solve the objectives scikit-learn's ``Lasso(fit_intercept=False)`` and
``OrthogonalMatchingPursuit(fit_intercept=False)`` solve (the tests compare them).
"""

from __future__ import annotations

import torch

from .regression import Predictor, _f64


def lasso(alpha: float, tol: float = 1e-6, max_iter: int = 100_000) -> Predictor:
    """Stops when every prompt's duality gap is below ``tol`` times its objective at ``w = 0``
    (``‖y‖²/2i``), the rule scikit-learn's solver uses: an objective within that of the optimum."""
    if alpha <= 0:
        raise ValueError(f"lasso needs alpha > 0, got {alpha}")
    if tol <= 0 or max_iter < 1:
        raise ValueError(f"lasso needs tol > 0 and max_iter >= 1, got {tol}, {max_iter}")

    def predict(xs, ys, xq):
        xs, ys, xq = _f64(xs, ys, xq)
        B, i, d = xs.shape
        if i == 0:
            return torch.zeros(B, dtype=torch.float64)
        gram = xs.transpose(1, 2) @ xs / i                                   # [B, d, d]
        corr = (xs.transpose(1, 2) @ ys.unsqueeze(-1)).squeeze(-1) / i         # [B, d]
        step = 1 / torch.linalg.eigvalsh(gram)[:, -1:].clamp_min(1e-12)        # 1 / Lipschitz constant
        scale = (ys * ys).sum(-1) / (2 * i)                                  # the objective at w = 0

        def gap(w):
            """Primal objective minus the dual's at the scaled residual (zero exactly at the optimum)."""
            r = ys - (xs @ w.unsqueeze(-1)).squeeze(-1)                      # [B, i]
            primal = (r * r).sum(-1) / (2 * i) + alpha * w.abs().sum(-1)
            c = (xs.transpose(1, 2) @ r.unsqueeze(-1)).squeeze(-1).abs().amax(-1) / i   # ‖Xᵀr‖∞ / i
            theta = r / torch.maximum(c / alpha, torch.ones_like(c)).unsqueeze(-1)      # dual feasible
            dual = (ys * theta).sum(-1) / i - (theta * theta).sum(-1) / (2 * i)
            return primal - dual

        w = z = torch.zeros(B, d, dtype=torch.float64)
        t = torch.ones(B, 1, dtype=torch.float64)
        for it in range(max_iter):
            u = z - step * ((gram @ z.unsqueeze(-1)).squeeze(-1) - corr)
            w_next = u.sign() * (u.abs() - step * alpha).clamp_min(0)          # soft threshold
            # Adaptive restart (O'Donoghue & Candès 2015): where the momentum points uphill, drop it.
            # Plain FISTA's iterates crawl on the underdetermined prompts; restarted, they converge linearly.
            uphill = ((z - w_next) * (w_next - w)).sum(-1, keepdim=True) > 0
            t = torch.where(uphill, torch.ones_like(t), t)
            t_next = (1 + torch.sqrt(1 + 4 * t * t)) / 2
            z = w_next + (t - 1) / t_next * (w_next - w)
            w, t = w_next, t_next
            if it % 20 == 19 and bool((gap(w) <= tol * scale).all()):       # the check costs about a step
                break
        else:
            raise RuntimeError(f"lasso(alpha={alpha}) did not reach a duality gap of {tol} in {max_iter} steps")
        return (w * xq).sum(-1)

    return predict


def orthogonal_matching_pursuit(s: int, tol: float = 1e-10) -> Predictor:
    if s < 1:
        raise ValueError(f"orthogonal matching pursuit needs s >= 1, got {s}")

    def predict(xs, ys, xq):
        xs, ys, xq = _f64(xs, ys, xq)
        B, i, d = xs.shape
        chosen = torch.zeros(B, d, dtype=torch.bool)
        w = torch.zeros(B, d, dtype=torch.float64)
        residual = ys.clone()
        floor = tol * ys.norm(dim=-1)                                        # [B]
        rows = torch.arange(B)
        for _ in range(min(s, d)):
            active = residual.norm(dim=-1) > floor                           # prompts still to fit
            if not active.any():
                break
            score = (xs.transpose(1, 2) @ residual.unsqueeze(-1)).squeeze(-1).abs()
            score[chosen] = -1.0
            chosen[rows[active], score.argmax(-1)[active]] = True
            # Least squares on the chosen coordinates: zero the other columns, take the pinv.
            w = (torch.linalg.pinv(xs * chosen.unsqueeze(1)) @ ys.unsqueeze(-1)).squeeze(-1)
            residual = ys - (xs @ w.unsqueeze(-1)).squeeze(-1)
        return (w * xq).sum(-1)

    return predict


def sparse_posterior_mean(s: int, noise_std: float = 0.0, jitter: float = 1e-8) -> Predictor:
    """The exact Bayes predictor of s-sparse linear regression as ``LinearRegressionTask`` draws it: the
    support ``S`` a uniform s-subset of the ``d`` coordinates, ``w_S ~ N(0, I)``, noise ``N(0, σ²)``.
    For every subset at once (``[B, C(d, s), ...]``, s x s solves): the posterior mean of ``w_S`` is ridge
    on ``S`` with ``λ = σ²``, and ``p(y | X, S) = N(y; 0, σ² I + X_S X_Sᵀ)``, whose quadratic form and
    log-determinant the Woodbury identity and the determinant lemma bring down to s x s (terms equal for
    every subset dropped); the prediction is the posterior-weighted mean over subsets. Without noise
    ``σ² = jitter``: the noiseless limit to about ``jitter`` (a subset that cannot fit the labels gets a
    weight of order ``exp(-1 / jitter)``)."""
    import itertools

    if s < 1:
        raise ValueError(f"sparse_posterior_mean needs s >= 1, got {s}")
    var = max(noise_std ** 2, jitter)

    def predict(xs, ys, xq):
        xs, ys, xq = _f64(xs, ys, xq)
        B, i, d = xs.shape
        if i == 0:
            return torch.zeros(B, dtype=torch.float64)
        subsets = torch.tensor(list(itertools.combinations(range(d), s)))            # [M, s]
        xS = xs[:, :, subsets].permute(0, 2, 1, 3)                                     # [B, M, i, s]
        gram = xS.transpose(-1, -2) @ xS + var * torch.eye(s, dtype=torch.float64)   # [B, M, s, s]
        corr = (xS.transpose(-1, -2) @ ys[:, None, :, None])                         # [B, M, s, 1]
        chol = torch.linalg.cholesky(gram)
        w = torch.cholesky_solve(corr, chol)[..., 0]                                   # [B, M, s]
        quad = ((ys * ys).sum(-1)[:, None] - (corr[..., 0] * w).sum(-1)) / var        # yᵀ(σ²I + XXᵀ)⁻¹y
        logdet = 2 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
        post = torch.softmax(-0.5 * (quad + logdet), dim=-1)                          # [B, M]
        return (post * (xq[:, subsets] * w).sum(-1)).sum(-1)

    return predict
