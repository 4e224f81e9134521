"""In-context linear regression (Garg et al. 2022), the task of chapter 0.

A prompt holds ``n_points`` pairs ``(x_i, y_i)`` with ``x_i ~ N(0, I_d)`` and
``y_i = w . x_i + noise``, where ``w ~ N(0, I_d)`` is drawn afresh for every prompt
(``n_tasks=0``) or from a fixed pool of ``n_tasks`` vectors (the task-diversity knob of
Raventós et al. 2023). The model reads the pairs as one sequence of ``2 n`` vectors of size
``d + 1``; an x token carries ``(x, 0)``, a y token carries ``(0, ..., 0, y)``::

    >>> task = LinearRegressionTask(d=2, n_points=2)
    >>> xs = torch.tensor([[[1., 2.], [3., 4.]]]); ys = torch.tensor([[5., 6.]])
    >>> to_sequence(xs, ys)[0]
    tensor([[1., 2., 0.],
            [0., 0., 5.],
            [3., 4., 0.],
            [0., 0., 6.]])

The prediction for ``y_i`` is read at the position of ``x_i``, which sees the ``i - 1``
earlier pairs and ``x_i`` itself: ``predictions_at_x`` picks those positions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch


@dataclass(frozen=True)
class LinearRegressionTask:
    d: int = 5              # input dimension
    n_points: int = 15      # (x, y) pairs per prompt
    noise_std: float = 0.0  # label noise sigma
    n_tasks: int = 0        # 0: a fresh w for every prompt; M > 0: a fixed pool of M tasks
    pool_seed: int = 0      # seeds the pool when n_tasks > 0
    y_carries_x: bool = False  # y tokens repeat their x: (x_i, y_i) instead of (0, y_i)
    sparsity: int = 0       # 0: dense w; s > 0: only s random coordinates of w are nonzero

    def __post_init__(self):
        if not isinstance(self.d, int) or self.d < 1:
            raise ValueError(f"LinearRegressionTask.d must be a positive integer, got {self.d!r}")
        if not isinstance(self.n_points, int) or self.n_points < 1:
            raise ValueError(f"LinearRegressionTask.n_points must be a positive integer, got {self.n_points!r}")
        if self.noise_std < 0:
            raise ValueError(f"LinearRegressionTask.noise_std must be >= 0, got {self.noise_std!r}")
        if not isinstance(self.sparsity, int) or not 0 <= self.sparsity <= self.d:
            raise ValueError(f"LinearRegressionTask.sparsity must be an integer in [0, d], got {self.sparsity!r}")
        if not isinstance(self.n_tasks, int) or self.n_tasks < 0:
            raise ValueError(f"LinearRegressionTask.n_tasks must be an integer >= 0, got {self.n_tasks!r}")

    @property
    def seq_len(self) -> int:
        return 2 * self.n_points

    @property
    def token_dim(self) -> int:
        return self.d + 1

    def task_pool(self) -> torch.Tensor:
        """The finite pool of weight vectors ``[n_tasks, d]`` (only when n_tasks > 0)."""
        if self.n_tasks == 0:
            raise ValueError("task_pool() exists only for a finite pool (n_tasks > 0)")
        return torch.randn(self.n_tasks, self.d, generator=torch.Generator().manual_seed(self.pool_seed))

    def sample(self, batch_size: int, generator: torch.Generator):
        """Draw ``batch_size`` prompts: ``xs [B, n, d]``, ``ys [B, n]``, ``ws [B, d]``."""
        B, n, d = batch_size, self.n_points, self.d
        if self.n_tasks:
            ws = self.task_pool()[torch.randint(self.n_tasks, (B,), generator=generator)]
        else:
            ws = torch.randn(B, d, generator=generator)
        if self.sparsity:
            # Garg et al.'s sparse linear functions: keep s coordinates chosen uniformly at random.
            keep = torch.rand(B, d, generator=generator).argsort(dim=1)[:, :self.sparsity]
            ws = ws * torch.zeros(B, d).scatter_(1, keep, 1.0)
        xs = torch.randn(B, n, d, generator=generator)
        ys = torch.einsum("bnd,bd->bn", xs, ws)
        if self.noise_std:
            ys = ys + self.noise_std * torch.randn(B, n, generator=generator)
        return xs, ys, ws

    def encode(self, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
        """The model's input sequence for these prompts, in this task's token format."""
        return to_sequence(xs, ys, self.y_carries_x)

    def to_dict(self) -> dict:
        return asdict(self)


def to_sequence(xs: torch.Tensor, ys: torch.Tensor, y_carries_x: bool = False) -> torch.Tensor:
    """Interleave ``xs [B, n, d]`` and ``ys [B, n]`` into tokens ``[B, 2n, d + 1]``.

    With ``y_carries_x`` a y token holds its whole example ``(x_i, y_i)``, so one attention
    layer can weigh labels by input similarity; without it (Garg et al.'s format) the model
    must first learn to move ``x_i`` next to ``y_i``, which costs a long loss plateau."""
    B, n, d = xs.shape
    x_tok = torch.cat([xs, xs.new_zeros(B, n, 1)], dim=-1)
    y_tok = torch.cat([xs if y_carries_x else xs.new_zeros(B, n, d), ys.unsqueeze(-1)], dim=-1)
    return torch.stack([x_tok, y_tok], dim=2).reshape(B, 2 * n, d + 1)


def predictions_at_x(outputs: torch.Tensor) -> torch.Tensor:
    """The model's prediction of each ``y_i``, read at the ``x_i`` positions: ``[B, n]``."""
    return outputs[:, 0::2, 0]
