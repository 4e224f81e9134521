"""A one-attention-layer transformer that is kernel regression (Han et al. 2025), built by hand.

The paper's analogy, made literal in the book's one transformer: each demonstration is one
position whose input vector carries its belief features ``φ(x_i)`` and its label one-hot
``e(y_i)``; the last position carries ``φ(x_test)``. Head 0 (the *kernel head*) has

- query ``β Σ⁻¹ φ(x_test)``, key ``φ(x_i)``: the score is ``β K(x_i, x_test)``;
- value ``e(y_i)``, written by ``W_O`` into the slot the unembedding reads;

so the output at the last position is ``Σ_i e(y_i) exp(β K_i) / Σ_i exp(β K_i)``, kernel regression
with the exponential of the paper's kernel (``icl_book.bayes.kernel_regression.softmax_kernel_
regression``), which as ``β → 0`` is to first order the paper's estimator (see that function).
The query position must not attend to itself: a constant ``-MASK`` on the query of every head,
against a key coordinate that is 1 at the query position only, removes it (weight ``e^-MASK``).

Two more heads read the same labels and write where the unembedding does not look, so that an
analysis has something to reject: head 1 attends uniformly (the majority label), head 2 has
scores ``-β K`` (the least similar demonstrations). MLPs are zero, layer norms off, float64.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..transformer import Transformer, TransformerConfig

MASK = 200.0          # score removed from the query position's own key (weight e^-200)
KERNEL_HEAD = 0
HEAD_ROLES = ("kernel", "uniform", "anti-kernel")


def kernel_inputs(phi_x: np.ndarray, labels: np.ndarray, phi_test: np.ndarray, n_tokens: int) -> torch.Tensor:
    """The input vectors ``[P, n + 1, F + V + 1]``: ``(φ(x_i), e(y_i), 0)`` per demonstration, then
    ``(φ(x_test), 0, 1)``."""
    phi_x, phi_test, labels = np.asarray(phi_x, float), np.asarray(phi_test, float), np.asarray(labels)
    P, n, F = phi_x.shape
    if labels.shape != (P, n) or phi_test.shape != (P, F):
        raise ValueError(f"kernel_inputs: phi_x [P, n, F], labels [P, n], phi_test [P, F] do not agree: "
                         f"{phi_x.shape}, {labels.shape}, {phi_test.shape}")
    if labels.min() < 0 or labels.max() >= n_tokens:
        raise ValueError(f"kernel_inputs: labels must lie in 0..{n_tokens - 1}")
    x = np.zeros((P, n + 1, F + n_tokens + 1))
    x[:, :n, :F] = phi_x
    x[np.arange(P)[:, None], np.arange(n)[None], F + labels] = 1.0
    x[:, n, :F] = phi_test
    x[:, n, -1] = 1.0
    return torch.from_numpy(x)


def kernel_regression_transformer(sigma_inv: np.ndarray, n_tokens: int, n_ctx: int, beta: float = 1.0) -> Transformer:
    """The hand-built model for features of size ``F`` (``sigma_inv [F, F]``), labels ``0..n_tokens-1``
    and prompts of up to ``n_ctx - 1`` demonstrations. Its output ``[P, T, n_tokens]`` at the last
    position is the softmax-kernel estimate."""
    sigma_inv = np.asarray(sigma_inv, float)
    if sigma_inv.ndim != 2 or sigma_inv.shape[0] != sigma_inv.shape[1]:
        raise ValueError(f"kernel_regression_transformer needs a square sigma_inv [F, F], got {sigma_inv.shape}")
    if not beta > 0:
        raise ValueError(f"kernel_regression_transformer needs beta > 0, got {beta!r}")
    F, V, H = sigma_inv.shape[0], n_tokens, len(HEAD_ROLES)
    d_in = F + V + 1
    # residual slots: φ [0, F), e(y) [F, F + V), query flag F + V, one output slot of V per head
    phi, lab, flag = slice(0, F), slice(F, F + V), F + V
    out_slot = lambda h: slice(F + V + 1 + h * V, F + V + 1 + (h + 1) * V)             # noqa: E731
    d_head = max(F + 1, V, math.ceil((F + V + 1 + H * V) / H))
    D = H * d_head
    cfg = TransformerConfig(n_layer=1, n_head=H, d_model=D, n_ctx=n_ctx, d_in=d_in, d_out=V, layer_norm=False)
    model = Transformer(cfg).double().eval()
    scale = math.sqrt(d_head)                                                         # undo 1 / sqrt(d_head)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.embed.weight[torch.arange(d_in), torch.arange(d_in)] = 1.0             # input -> its slots
        attn = model.blocks[0].attn
        W, b = attn.qkv.weight, attn.qkv.bias
        for h, role in enumerate(HEAD_ROLES):
            q0, k0, v0 = h * d_head, D + h * d_head, 2 * D + h * d_head
            if role != "uniform":
                sign = 1.0 if role == "kernel" else -1.0
                W[q0:q0 + F, phi] = torch.from_numpy(sign * beta * scale * sigma_inv.T)  # q = ±β Σ⁻¹ φ
                W[k0:k0 + F, phi] = torch.eye(F, dtype=torch.float64)                    # k = φ
            b[q0 + F] = -MASK * scale                                                     # the query's own key
            W[k0 + F, flag] = 1.0
            W[v0:v0 + V, lab] = torch.eye(V, dtype=torch.float64)                        # v = e(y)
            attn.out.weight[out_slot(h), h * d_head:h * d_head + V] = torch.eye(V, dtype=torch.float64)
        model.unembed.weight[:, out_slot(KERNEL_HEAD)] = torch.eye(V, dtype=torch.float64)
    return model
