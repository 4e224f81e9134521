"""One layer of linear attention, the model of the spin-glass chapter (Li, Bai, Huang 2025).

A prompt is a matrix ``Z`` of ``N + 1`` columns of size ``D + 1``: ``N`` examples ``(x_i; y_i)``
and the query ``(x_q; 0)``, whose label is zeroed because the model must predict it. With a
merged key-query matrix ``W`` of shape ``(D + 1, D + 1)`` and no value or residual path,

    f(Z) = Z Z^T W Z / (N + 1),        y_hat = f(Z)[D, N]     (0-based: last row, last column).

Here is one prompt with ``D = 1``, ``N = 1`` (``x_1 = 2, y_1 = 3, x_q = 5``), built by hand::

    >>> Z = prompt_matrix(torch.tensor([[[2.]]]), torch.tensor([[3.]]), torch.tensor([[5.]]))
    >>> Z[0]
    tensor([[2., 5.],
            [3., 0.]])
    >>> features(Z)[0].view(2, 2)         # s_mn = (Z Z^T)[D, m] Z[n, N] / (N + 1)
    tensor([[15.0000,  0.0000],
            [22.5000,  0.0000]])

The prediction is linear in ``W``: ``y_hat = sum_mn W_mn s_mn``. The last column of ``s`` is
always zero (it multiplies the zeroed query label), so the last column of ``W`` never reaches
the output: those ``D + 1`` weights are the "zero modes" of the chapter.

Labels are noise free, ``y = w . x / sqrt(D)`` with ``w ~ N(0, I_D)`` and ``x ~ N(0, I_D)``,
and every prompt of a pretraining set has its own task ``w``: the number of prompts ``P`` is
the task diversity.

``SoftmaxAttentionRegressor`` is the same layer with a softmax over the keys, the paper's
comparison architecture (its Fig. S8).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class LinearAttentionConfig:
    d: int = 10                    # input dimension D; tokens (x; y) have D + 1 entries
    merged: bool = True            # one matrix W, or separate W_q, W_k with W = W_q^T W_k
    d_k: int | None = None         # rows of W_q and W_k (separate only); None means D + 1
    init_std: float | None = None  # std of the Gaussian init; None means 1/sqrt(D + 1), the paper's

    def __post_init__(self):
        if not isinstance(self.d, int) or self.d < 1:
            raise ValueError(f"LinearAttentionConfig.d must be a positive integer, got {self.d!r}")
        if self.d_k is not None:
            if self.merged:
                raise ValueError("LinearAttentionConfig.d_k applies only to the separate model (merged=False)")
            if not isinstance(self.d_k, int) or self.d_k < 1:
                raise ValueError(f"LinearAttentionConfig.d_k must be a positive integer, got {self.d_k!r}")
        if self.init_std is not None and not self.init_std > 0:
            raise ValueError(f"LinearAttentionConfig.init_std must be > 0, got {self.init_std!r}")

    @property
    def token_dim(self) -> int:
        return self.d + 1

    @property
    def std(self) -> float:
        return self.init_std if self.init_std is not None else 1.0 / math.sqrt(self.d + 1)

    def to_dict(self) -> dict:
        return asdict(self)


# ---- prompts --------------------------------------------------------------------------------

@dataclass(frozen=True)
class PromptSet:
    """``P`` prompts, each with its own task. Shapes: ``xs [P, N, D]``, ``ys [P, N]``,
    ``x_query [P, D]``, ``y_query [P]`` (the label to predict, never shown to the model),
    ``ws [P, D]``."""

    xs: torch.Tensor
    ys: torch.Tensor
    x_query: torch.Tensor
    y_query: torch.Tensor
    ws: torch.Tensor

    @property
    def n_prompts(self) -> int:
        return self.xs.shape[0]

    @property
    def n_context(self) -> int:
        return self.xs.shape[1]

    @property
    def d(self) -> int:
        return self.xs.shape[2]

    def matrix(self) -> torch.Tensor:
        """The prompt matrices ``Z [P, D + 1, N + 1]``."""
        return prompt_matrix(self.xs, self.ys, self.x_query)

    def features(self) -> torch.Tensor:
        """The feature map ``s [P, (D + 1)^2]`` with ``y_hat = s @ W.flatten()``."""
        return features(self.matrix())

    def subset(self, n_prompts: int | None = None, n_context: int | None = None) -> "PromptSet":
        """The first ``n_prompts`` prompts, each cut to its first ``n_context`` examples.
        Nested subsets share their data, which the contrast-ratio grid relies on."""
        P = self.n_prompts if n_prompts is None else n_prompts
        N = self.n_context if n_context is None else n_context
        if not (1 <= P <= self.n_prompts and 1 <= N <= self.n_context):
            raise ValueError(f"subset({n_prompts}, {n_context}) is outside this set's "
                             f"{self.n_prompts} prompts of {self.n_context} examples")
        return PromptSet(self.xs[:P, :N], self.ys[:P, :N], self.x_query[:P], self.y_query[:P], self.ws[:P])


def sample_prompts(n_prompts: int, d: int, n_context: int, generator: torch.Generator,
                   dtype: torch.dtype = torch.float64) -> PromptSet:
    """Draw ``n_prompts`` noise-free prompts, each with its own task ``w ~ N(0, I_D)``, with
    ``n_context`` examples and one query, ``x ~ N(0, I_D)``, ``y = w . x / sqrt(D)``.
    The draws come in a fixed order (tasks, then inputs), so a seed fixes the whole set."""
    for name, value in (("n_prompts", n_prompts), ("d", d), ("n_context", n_context)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"sample_prompts: {name} must be a positive integer, got {value!r}")
    ws = torch.randn(n_prompts, d, generator=generator, dtype=dtype)
    x_all = torch.randn(n_prompts, n_context + 1, d, generator=generator, dtype=dtype)
    y_all = torch.einsum("pnd,pd->pn", x_all, ws) / math.sqrt(d)
    return PromptSet(x_all[:, :-1], y_all[:, :-1], x_all[:, -1], y_all[:, -1], ws)


def prompt_matrix(xs: torch.Tensor, ys: torch.Tensor, x_query: torch.Tensor) -> torch.Tensor:
    """Stack ``xs [P, N, D]``, ``ys [P, N]``, ``x_query [P, D]`` into ``Z [P, D + 1, N + 1]``:
    columns ``(x_i; y_i)`` and, last, ``(x_query; 0)``."""
    if xs.dim() != 3 or ys.shape != xs.shape[:2] or x_query.shape != (xs.shape[0], xs.shape[2]):
        raise ValueError(f"prompt_matrix needs xs [P, N, D], ys [P, N], x_query [P, D]; got "
                         f"{tuple(xs.shape)}, {tuple(ys.shape)}, {tuple(x_query.shape)}")
    examples = torch.cat([xs, ys.unsqueeze(-1)], dim=-1)                          # [P, N, D + 1]
    query = torch.cat([x_query, x_query.new_zeros(x_query.shape[0], 1)], dim=-1)  # [P, D + 1]
    return torch.cat([examples, query.unsqueeze(1)], dim=1).transpose(1, 2)


def features(Z: torch.Tensor) -> torch.Tensor:
    """The feature map ``s [P, (D + 1)^2]`` of prompt matrices ``Z [P, D + 1, N + 1]``:
    ``s_mn = (Z Z^T)[D, m] Z[n, N] / (N + 1)`` flattened row-major, so that the merged
    model's prediction is ``s @ W.flatten()``. Its last column (``n = D``) is zero."""
    n_cols = Z.shape[-1]
    label_row = torch.einsum("pt,pmt->pm", Z[:, -1, :], Z)        # (Z Z^T)[D, :]   [P, D + 1]
    query_col = Z[:, :, -1]                                        # Z[:, N]          [P, D + 1]
    s = label_row.unsqueeze(2) * query_col.unsqueeze(1) / n_cols   # [P, D + 1, D + 1]
    return s.reshape(Z.shape[0], -1)


# ---- models ---------------------------------------------------------------------------------

class _LinearAttention(nn.Module):
    cfg: LinearAttentionConfig

    def weight(self) -> torch.Tensor:
        """The merged key-query matrix ``W [D + 1, D + 1]`` (differentiable)."""
        raise NotImplementedError

    def _check(self, Z: torch.Tensor):
        if Z.dim() != 3 or Z.shape[1] != self.cfg.token_dim:
            raise ValueError(f"expected prompt matrices [P, {self.cfg.token_dim}, N + 1], got {tuple(Z.shape)}")

    def predict(self, Z: torch.Tensor) -> torch.Tensor:
        """``y_hat = f(Z)[D, N]`` for each prompt, ``[P]``, as ``features(Z) @ W.flatten()``:
        the same number as ``forward`` gives there (the tests check it), without the rest of
        ``f(Z)``. Matrix-vector products only: small batched matmuls ran up to 100x slower
        with two threads on a two-core machine busy with other work."""
        self._check(Z)
        return features(Z) @ self.weight().reshape(-1)


class MergedLinearAttention(_LinearAttention):
    """``f(Z) = Z Z^T W Z / (N + 1)`` with one matrix ``W [D + 1, D + 1]``; batched over
    prompts ``Z [P, D + 1, N + 1] -> [P, D + 1, N + 1]``."""

    def __init__(self, cfg: LinearAttentionConfig, generator: torch.Generator | None = None,
                 dtype: torch.dtype = torch.float64):
        super().__init__()
        if not cfg.merged:
            raise ValueError("MergedLinearAttention needs LinearAttentionConfig(merged=True)")
        self.cfg = cfg
        D1 = cfg.token_dim
        self.W = nn.Parameter(cfg.std * torch.randn(D1, D1, generator=generator, dtype=dtype))

    def weight(self) -> torch.Tensor:
        return self.W

    def forward(self, Z: torch.Tensor) -> torch.Tensor:
        self._check(Z)
        return Z @ Z.transpose(1, 2) @ self.W @ Z / Z.shape[-1]


class SeparateLinearAttention(_LinearAttention):
    """``f(Z) = Z (W_q Z)^T (W_k Z) / (N + 1)`` with ``W_q, W_k [d_k, D + 1]``: the same
    function as the merged model with ``W = W_q^T W_k``, but a different (non-convex) loss
    landscape in the parameters."""

    def __init__(self, cfg: LinearAttentionConfig, generator: torch.Generator | None = None,
                 dtype: torch.dtype = torch.float64):
        super().__init__()
        if cfg.merged:
            raise ValueError("SeparateLinearAttention needs LinearAttentionConfig(merged=False)")
        self.cfg = cfg
        D1 = cfg.token_dim
        d_k = cfg.d_k or D1
        self.W_q = nn.Parameter(cfg.std * torch.randn(d_k, D1, generator=generator, dtype=dtype))
        self.W_k = nn.Parameter(cfg.std * torch.randn(d_k, D1, generator=generator, dtype=dtype))

    def weight(self) -> torch.Tensor:
        return self.W_q.T @ self.W_k

    def forward(self, Z: torch.Tensor) -> torch.Tensor:
        self._check(Z)
        q, k = self.W_q @ Z, self.W_k @ Z                          # [P, d_k, N + 1]
        return Z @ q.transpose(1, 2) @ k / Z.shape[-1]


def build_linear_attention(cfg: LinearAttentionConfig, generator: torch.Generator | None = None,
                           dtype: torch.dtype = torch.float64) -> _LinearAttention:
    """The merged or the separate model, as the config says, initialised from ``generator``."""
    cls = MergedLinearAttention if cfg.merged else SeparateLinearAttention
    return cls(cfg, generator, dtype)


def f64(t: torch.Tensor) -> torch.Tensor:
    """A detached float64 copy on the CPU: the glass's numerics are exact, whatever the model's dtype."""
    return t.detach().to("cpu", torch.float64)


def weight_side(n_spins: int) -> int:
    """The side ``D + 1`` of the square weight matrix of ``n_spins = (D + 1)^2`` flattened weights."""
    side = math.isqrt(n_spins)
    if side * side != n_spins:
        raise ValueError(f"{n_spins} spins do not form a square (D + 1) x (D + 1) weight matrix")
    return side


# ---- the Gram statistics of prompt sets ---------------------------------------------------------
#
# The loss of the merged model is a quadratic form in the flattened weights w,
#     (1/P) sum_mu (y_q - w . s)^2 = w^T G w - 2 b . w + c,
#     G = S^T S / P,  b = S^T y / P,  c = y . y / P,
# so full-batch training, the spin glass and the test error all need only (G, b, c).

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


def gram_stats(prompt_sets: list[PromptSet]) -> GramStats:
    """The Gram statistics of prompt sets of equal size."""
    sizes = {p.n_prompts for p in prompt_sets}
    if len(sizes) != 1:
        raise ValueError(f"gram_stats needs prompt sets of one size, got sizes {sorted(sizes)}")
    G, b, c = [], [], []
    for p in prompt_sets:
        s, y = f64(p.features()), f64(p.y_query)
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


class SoftmaxAttentionRegressor(torch.nn.Module):
    """The linear-attention model with a softmax over keys: ``y_hat = gamma sum_i y_i a_i`` with
    ``a = softmax_i(z_i^T W z_q)`` over the ``N + 1`` columns of the prompt (the query's label is
    0), ``W [D + 1, D + 1]`` merged key-query weights and ``gamma`` a learned output scale (a
    convex combination of labels alone cannot reach their scale). Reads tokens ``[B, N + 1, D + 1]``."""

    def __init__(self, d: int):
        super().__init__()
        self.W = torch.nn.Parameter(torch.randn(d + 1, d + 1) / math.sqrt(d + 1))
        self.gamma = torch.nn.Parameter(torch.ones(()))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        scores = tokens @ (self.W @ tokens[:, -1, :, None])                 # [B, N + 1, 1]
        a = scores.squeeze(-1).softmax(dim=1)
        return self.gamma * (a * tokens[:, :, -1]).sum(1)                   # [B]
