"""The book's one transformer: a small pre-LN decoder with named hook points.

Every chapter trains and analyses this model. It reads either tokens (``vocab_size``) or
real vectors (``d_in``, for in-context regression), and writes either next-token logits or
real vectors (``d_out``). The fast path uses PyTorch's fused scaled-dot-product attention.
When a forward pass is asked for activations (``cache=True``) or given interventions
(``hooks=...``), attention runs the explicit path instead (scores, mask, softmax,
pattern @ V) so that every quantity below is observable. Tests prove the two paths agree.

Hook names, for a model with layers ``i = 0..n_layer-1`` (B batch, T positions, H heads,
D width, Dh = D / H head width)::

    embed                      [B, T, D]     token or read-in embedding (plus position, if learned)
    blocks.{i}.resid_pre       [B, T, D]     residual stream entering block i
    blocks.{i}.attn.q/k/v      [B, H, T, Dh] queries, keys, values (q, k after RoPE when rotary)
    blocks.{i}.attn.scores     [B, H, T, T]  scaled, masked scores (-inf above the diagonal)
    blocks.{i}.attn.pattern    [B, H, T, T]  softmax of the scores; rows sum to one
    blocks.{i}.attn.z          [B, H, T, Dh] pattern @ v, per head
    blocks.{i}.attn.head_out   [B, H, T, D]  each head's contribution through W_O
    blocks.{i}.attn_out        [B, T, D]     sum of head_out plus the output bias
    blocks.{i}.resid_mid       [B, T, D]
    blocks.{i}.mlp_out         [B, T, D]
    blocks.{i}.resid_post      [B, T, D]
    final                      [B, T, D]     after the final layer norm
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

Hook = Callable[[torch.Tensor], torch.Tensor | None]
POSITIONS = ("learned", "rotary")


@dataclass(frozen=True)
class TransformerConfig:
    n_layer: int = 2          # number of blocks
    n_head: int = 4           # attention heads per block
    d_model: int = 64         # residual stream width
    n_ctx: int = 64           # longest sequence
    positions: str = "learned"  # "learned": an absolute embedding per position; "rotary": RoPE
                                # on queries and keys (attention sees relative offsets)
    vocab_size: int | None = None  # token inputs and logits over this vocabulary, or
    d_in: int | None = None        # real-vector inputs of this size (linear read-in)
    d_out: int | None = None       # real-vector outputs of this size (linear read-out)
    d_mlp: int | None = None       # MLP hidden width; None means 4 * d_model
    dropout: float = 0.0
    tie_embeddings: bool = True    # share the token embedding with the unembedding
    layer_norm: bool = True        # False: no normalisation (for weights set by hand, as in a proof)

    def __post_init__(self):
        for name in ("n_layer", "n_head", "d_model", "n_ctx"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"TransformerConfig.{name} must be a positive integer, got {value!r}")
        if self.d_model % self.n_head:
            raise ValueError(
                f"TransformerConfig.d_model ({self.d_model}) must be divisible by n_head ({self.n_head})")
        if (self.vocab_size is None) == (self.d_in is None):
            raise ValueError("TransformerConfig needs exactly one input kind: vocab_size (tokens) or d_in (vectors)")
        if self.d_in is not None and self.d_out is None:
            raise ValueError("TransformerConfig with d_in (vector inputs) also needs d_out")
        if self.positions not in POSITIONS:
            raise ValueError(f"TransformerConfig.positions must be one of {POSITIONS}, got {self.positions!r}")
        if self.positions == "rotary" and self.d_head % 2:
            raise ValueError(f"rotary positions need an even head width, got d_model / n_head = {self.d_head}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"TransformerConfig.dropout must lie in [0, 1), got {self.dropout!r}")

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_head

    @property
    def hidden(self) -> int:
        return self.d_mlp or 4 * self.d_model

    def to_dict(self) -> dict:
        return asdict(self)


class _Recorder:
    """Collects activations and applies interventions during one forward pass."""

    def __init__(self, cache: bool, hooks: dict[str, Hook] | None):
        self.cache: dict[str, torch.Tensor] | None = {} if cache else None
        self.hooks = hooks or {}

    def __call__(self, name: str, x: torch.Tensor) -> torch.Tensor:
        fn = self.hooks.get(name)
        if fn is not None:
            out = fn(x)
            x = x if out is None else out
        if self.cache is not None:
            self.cache[name] = x
        return x


def rotary_tables(n_ctx: int, d_head: int, base: float = 10_000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin ``[n_ctx, d_head / 2]`` of RoPE (Su et al. 2021): pair ``i`` of a query or
    key at position ``t`` turns by the angle ``t * base^(-2i / d_head)``."""
    freqs = base ** (-torch.arange(0, d_head, 2, dtype=torch.float64) / d_head)
    angles = torch.arange(n_ctx, dtype=torch.float64)[:, None] * freqs
    return angles.cos().float(), angles.sin().float()


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Turn each (first half, second half) pair of the head dimension of ``x [B, H, T, Dh]``
    by its position's angle, so that a query-key product depends on their offset only."""
    T = x.shape[-2]
    cos, sin = cos[:T].to(x.dtype), sin[:T].to(x.dtype)
    a, b = x.chunk(2, dim=-1)
    return torch.cat((a * cos - b * sin, a * sin + b * cos), dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.out = nn.Linear(cfg.d_model, cfg.d_model)
        self.dropout = cfg.dropout
        if cfg.positions == "rotary":
            cos, sin = rotary_tables(cfg.n_ctx, cfg.d_head)
            self.register_buffer("cos", cos, persistent=False)
            self.register_buffer("sin", sin, persistent=False)

    def forward(self, x: torch.Tensor, rec: _Recorder | None, prefix: str) -> torch.Tensor:
        B, T, D = x.shape
        H, Dh = self.cfg.n_head, self.cfg.d_head
        q, k, v = self.qkv(x).split(D, dim=-1)
        q, k, v = (t.view(B, T, H, Dh).transpose(1, 2) for t in (q, k, v))  # [B, H, T, Dh]
        if self.cfg.positions == "rotary":
            q, k = rotate(q, self.cos, self.sin), rotate(k, self.cos, self.sin)
        p_drop = self.dropout if self.training else 0.0
        if rec is None:
            z = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=p_drop)
            return self.out(z.transpose(1, 2).reshape(B, T, D))

        q, k, v = (rec(f"{prefix}.{n}", t) for n, t in (("q", q), ("k", k), ("v", v)))
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(Dh)                  # [B, H, T, T]
        causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
        scores = rec(f"{prefix}.scores", scores.masked_fill(~causal, float("-inf")))
        pattern = rec(f"{prefix}.pattern", scores.softmax(dim=-1))
        z = rec(f"{prefix}.z", F.dropout(pattern, p_drop, self.training) @ v)  # [B, H, T, Dh]
        # Split W_O by head so that each head's write into the residual stream is visible.
        w_o = self.out.weight.view(D, H, Dh)                                   # [D, H, Dh]
        head_out = rec(f"{prefix}.head_out", torch.einsum("bhtd,ehd->bhte", z, w_o))
        return head_out.sum(dim=1) + self.out.bias


class MLP(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.fc = nn.Linear(cfg.d_model, cfg.hidden)
        self.proj = nn.Linear(cfg.hidden, cfg.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(F.gelu(self.fc(x), approximate="tanh"))


def _norm(cfg: TransformerConfig) -> nn.Module:
    return nn.LayerNorm(cfg.d_model) if cfg.layer_norm else nn.Identity()


class Block(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.ln1 = _norm(cfg)
        self.attn = Attention(cfg)
        self.ln2 = _norm(cfg)
        self.mlp = MLP(cfg)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, rec: _Recorder | None, prefix: str) -> torch.Tensor:
        if rec is None:
            x = x + self.drop(self.attn(self.ln1(x), None, prefix))
            return x + self.drop(self.mlp(self.ln2(x)))
        x = rec(f"{prefix}.resid_pre", x)
        attn_out = rec(f"{prefix}.attn_out", self.attn(self.ln1(x), rec, f"{prefix}.attn"))
        x = rec(f"{prefix}.resid_mid", x + self.drop(attn_out))
        mlp_out = rec(f"{prefix}.mlp_out", self.mlp(self.ln2(x)))
        return rec(f"{prefix}.resid_post", x + self.drop(mlp_out))


class Transformer(nn.Module):
    """Decoder-only transformer. ``model(x)`` returns logits ``[B, T, vocab]`` for token
    inputs ``[B, T]`` or outputs ``[B, T, d_out]`` for vector inputs ``[B, T, d_in]``.
    ``model(x, cache=True)`` returns ``(output, activations)``; ``hooks={name: fn}`` replaces
    an activation by ``fn(activation)`` when ``fn`` returns a tensor."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        if cfg.vocab_size is not None:
            self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        else:
            self.embed = nn.Linear(cfg.d_in, cfg.d_model)
        self.pos = nn.Embedding(cfg.n_ctx, cfg.d_model) if cfg.positions == "learned" else None
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = _norm(cfg)
        n_out = cfg.vocab_size if cfg.vocab_size is not None else cfg.d_out
        self.unembed = nn.Linear(cfg.d_model, n_out, bias=cfg.vocab_size is None)
        self.apply(self._init_weights)
        # GPT-2's scaled init on the projections that write into the residual stream.
        for name, p in self.named_parameters():
            if name.endswith(("attn.out.weight", "mlp.proj.weight")):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * cfg.n_layer))
        if cfg.vocab_size is not None and cfg.tie_embeddings:
            self.unembed.weight = self.embed.weight

    @staticmethod
    def _init_weights(m: nn.Module):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def hook_names(self) -> list[str]:
        """Every name ``cache=True`` returns, in the order the forward pass writes them."""
        names = ["embed"]
        for i in range(self.cfg.n_layer):
            b = f"blocks.{i}"
            names += [f"{b}.resid_pre", f"{b}.attn.q", f"{b}.attn.k", f"{b}.attn.v",
                      f"{b}.attn.scores", f"{b}.attn.pattern", f"{b}.attn.z", f"{b}.attn.head_out",
                      f"{b}.attn_out", f"{b}.resid_mid", f"{b}.mlp_out", f"{b}.resid_post"]
        return names + ["final"]

    def forward(self, x: torch.Tensor, *, cache: bool = False, hooks: dict[str, Hook] | None = None):
        T = x.shape[1]
        if T > self.cfg.n_ctx:
            raise ValueError(f"sequence length {T} exceeds the model's context n_ctx={self.cfg.n_ctx}")
        if hooks:
            unknown = set(hooks) - set(self.hook_names())
            if unknown:
                raise KeyError(f"unknown hook names: {sorted(unknown)}; see Transformer.hook_names()")
        rec = _Recorder(cache, hooks) if (cache or hooks) else None
        h = self.embed(x)
        if self.pos is not None:
            h = h + self.pos.weight[:T]
        h = self.drop(h)
        if rec is not None:
            h = rec("embed", h)
        for i, block in enumerate(self.blocks):
            h = block(h, rec, f"blocks.{i}")
        h = self.ln_f(h)
        if rec is not None:
            h = rec("final", h)
        out = self.unembed(h)
        return (out, rec.cache) if cache else out

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())
