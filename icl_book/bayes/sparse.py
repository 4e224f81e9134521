"""Classical learners for s-sparse linear regression, batched over prompts and called like the
trained models (``predict(xs [B, i, d], ys [B, i], x_query [B, d]) -> [B]``).

- ``lasso(alpha)``: ``min_w (1/2i)‖y - Xw‖² + α‖w‖₁`` by FISTA (accelerated proximal gradient);
- ``orthogonal_matching_pursuit(s)``: greedily add the coordinate most correlated with the
  residual, refit by least squares on the chosen ones, ``min(s, i)`` times.
"""

from __future__ import annotations

import torch

from .regression import Predictor, _f64


def lasso(alpha: float, iters: int = 400) -> Predictor:
    if alpha <= 0:
        raise ValueError(f"lasso needs alpha > 0, got {alpha}")

    def predict(xs, ys, xq):
        xs, ys, xq = _f64(xs, ys, xq)
        B, i, d = xs.shape
        if i == 0:
            return torch.zeros(B, dtype=torch.float64)
        gram = xs.transpose(1, 2) @ xs / i                                   # [B, d, d]
        corr = (xs.transpose(1, 2) @ ys.unsqueeze(-1)).squeeze(-1) / i         # [B, d]
        step = 1 / torch.linalg.eigvalsh(gram)[:, -1:].clamp_min(1e-12)        # 1 / Lipschitz constant
        w = z = torch.zeros(B, d, dtype=torch.float64)
        t = 1.0
        for _ in range(iters):
            grad = (gram @ z.unsqueeze(-1)).squeeze(-1) - corr
            u = z - step * grad
            w_next = u.sign() * (u.abs() - step * alpha).clamp_min(0)          # soft threshold
            t_next = (1 + (1 + 4 * t * t) ** 0.5) / 2
            z = w_next + (t - 1) / t_next * (w_next - w)
            w, t = w_next, t_next
        return (w * xq).sum(-1)

    return predict


def orthogonal_matching_pursuit(s: int) -> Predictor:
    if s < 1:
        raise ValueError(f"orthogonal matching pursuit needs s >= 1, got {s}")

    def predict(xs, ys, xq):
        xs, ys, xq = _f64(xs, ys, xq)
        B, i, d = xs.shape
        chosen = torch.zeros(B, d, dtype=torch.bool)
        w = torch.zeros(B, d, dtype=torch.float64)
        residual = ys.clone()
        for _ in range(min(s, i)):
            score = (xs.transpose(1, 2) @ residual.unsqueeze(-1)).squeeze(-1).abs()
            score[chosen] = -1.0
            chosen[torch.arange(B), score.argmax(-1)] = True
            # Least squares on the chosen coordinates: zero the other columns, take the pinv.
            w = (torch.linalg.pinv(xs * chosen.unsqueeze(1)) @ ys.unsqueeze(-1)).squeeze(-1)
            residual = ys - (xs @ w.unsqueeze(-1)).squeeze(-1)
        return (w * xq).sum(-1)

    return predict
