"""Transformers whose weights are set by hand, as in a proof, and run by the book's one model.

``retrieval_transformer(task)`` builds the three-layer mechanism of in-context sparse retrieval
(after Abernethy et al. 2024) for prompts with a unique delimiter and inputs of fixed length,
starting right after ``BOS`` (``preamble = 0``). Its output at every ``▷`` is the exact Bayes
predictive distribution of the label (the logits *are* the probabilities):

1. **Gather** (attention, one head per coordinate ``j``): every position looks back at the
   position of phase ``j`` in its own example; at a label position the heads bring
   ``x_i1 .. x_id`` next to ``y_i``.
2. **Match** (MLP): at label positions ``m_ij = 1[x_ij = y_i]``, an AND of three indicators
   computed exactly by a steep GELU.
3. **Count** (attention): the query ``▷`` attends to every earlier label position and to an
   attention sink at ``BOS`` with score ``S``; the sink keeps the softmax from normalising, so
   the head returns the match counts ``c_j = Σ_i m_ij`` (times ``1 / (1 + n e^-S)``).
4. **Select and copy** (attention): the query attends to the test input's positions with scores
   ``β c_j`` and copies their tokens, giving ``Σ_j softmax(β c)_j 1[x_test,j = y]``. With
   ``β = log((1 - ε)(q - 1)/ε)`` this is the Bayes posterior under label noise ``ε``; without
   noise, a large ``β`` makes it uniform on the consistent set ``C_n``.

Layer norms are off (``layer_norm=False``) and the model runs in float64: the construction is
exact up to terms of size ``e^-40`` (hard attention) and ``n e^-30`` (the sink).
"""

from __future__ import annotations

import math

import torch

from ..tasks.retrieval import RetrievalTask
from .transformer import Transformer, TransformerConfig

HARD = 40.0   # score gap that makes an attention choice exact in float64 (e^-40 ≈ 4e-18)
SINK = 30.0   # the count head's sink score (relative error n e^-30 ≈ 1e-13 n)


class _Layout:
    """Named slices of the residual stream."""

    def __init__(self, **sizes: int):
        self.slices, start = {}, 0
        for name, size in sizes.items():
            self.slices[name] = slice(start, start + size)
            start += size
        self.width = start

    def __getitem__(self, name: str) -> slice:
        return self.slices[name]

    def at(self, name: str, i: int = 0) -> int:
        return self.slices[name].start + i


def noise_temperature(q: int, label_noise: float) -> float:
    """The inverse temperature at which a softmax over match counts is the Bayes posterior."""
    return math.log((1 - label_noise) * (q - 1) / label_noise)


def retrieval_transformer(task: RetrievalTask, beta: float | None = None) -> Transformer:
    """The hand-built retrieval transformer for ``task`` (float64, evaluation mode)."""
    if task.preamble or task.min_len is not None or task.rho or task.end_delimiter \
            or task.label_alphabet != "shared" or task.n_candidates != task.d or task.sparsity != 1:
        raise ValueError("the hand-built transformer reads the basic format: fixed input length, a unique "
                         "delimiter, shared label alphabet, no preamble, no second delimiter, and j* free "
                         "over all d coordinates")
    d, q, V = task.d, task.q, task.vocab_size
    period = d + 2                                    # input, ▷, label
    if beta is None:
        beta = noise_temperature(q, task.label_noise) if task.label_noise else HARD
    L = _Layout(tok=V, phase=period, bos=1, ex=1, ex2=1, one=1, gath=d * q, match=d, count=d, pred=V)
    n_head = d
    d_head = max(d + 4, q, math.ceil(L.width / n_head))
    D = n_head * d_head
    cfg = TransformerConfig(n_layer=3, n_head=n_head, d_model=D, n_ctx=task.seq_len, vocab_size=V,
                            d_mlp=d * q, tie_embeddings=False, layer_norm=False)
    model = Transformer(cfg).double().eval()
    scale = math.sqrt(d_head)                          # undo the 1/sqrt(d_head) of the scores
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        # Embeddings: the token one-hot; the position's phase, example index (and its square),
        # a BOS flag and a constant 1.
        model.embed.weight[torch.arange(V), L.at("tok") + torch.arange(V)] = 1.0
        pos = model.pos.weight
        for t in range(task.seq_len):
            pos[t, L.at("one")] = 1.0
            if t == 0:
                pos[t, L.at("bos")] = 1.0
                continue
            example, phase = divmod(t - 1, period)
            pos[t, L.at("phase", phase)] = 1.0
            pos[t, L.at("ex")] = example
            pos[t, L.at("ex2")] = example ** 2

        def head(block: int, h: int):
            qkv = model.blocks[block].attn.qkv.weight
            rows = lambda part: slice(part * D + h * d_head, part * D + (h + 1) * d_head)  # noqa: E731
            return qkv[rows(0)], qkv[rows(1)], qkv[rows(2)], model.blocks[block].attn.out.weight[:, h * d_head:(h + 1) * d_head]

        def same_example(wq, wk, row: int):
            """Score term K(2 e_q e_k - e_k^2): largest (K e_q^2) for keys in the query's example."""
            wq[row, L.at("ex")], wk[row, L.at("ex")] = 2 * HARD * scale, 1.0
            wq[row + 1, L.at("one")], wk[row + 1, L.at("ex2")] = -HARD * scale, 1.0

        # Layer 0, head j: gather x_ij from the position of phase j in the same example.
        for j in range(d):
            wq, wk, wv, wo = head(0, j)
            wq[0, L.at("one")], wk[0, L.at("phase", j)] = HARD * scale, 1.0
            same_example(wq, wk, 1)
            for a in range(q):
                wv[a, L.at("tok", a)] = 1.0
                wo[L.at("gath", j * q + a), a] = 1.0
        # Layer 0 MLP: m_j = Σ_a AND(x_ij = a, y_i = a, this is a label position).
        mlp = model.blocks[0].mlp
        for j in range(d):
            for a in range(q):
                unit = j * q + a
                mlp.fc.weight[unit, L.at("gath", unit)] = HARD
                mlp.fc.weight[unit, L.at("tok", a)] = HARD
                mlp.fc.weight[unit, L.at("phase", d + 1)] = HARD
                mlp.fc.bias[unit] = -2 * HARD
                mlp.proj.weight[L.at("match", j), unit] = 1 / HARD
        # Layer 1, head 0: counts through an attention sink at BOS.
        wq, wk, wv, wo = head(1, 0)
        wq[0, L.at("one")], wk[0, L.at("bos")] = SINK * scale, 1.0
        wq[1, L.at("one")] = -HARD * scale
        wk[1, L.at("one")], wk[1, L.at("phase", d + 1)], wk[1, L.at("bos")] = 1.0, -1.0, -1.0
        for j in range(d):
            wv[j, L.at("match", j)] = 1.0
            wo[L.at("count", j), j] = math.exp(SINK)
        # Layer 2, head 0: softmax over the test input's coordinates with scores β c_j; copy tokens.
        wq, wk, wv, wo = head(2, 0)
        for j in range(d):
            wq[j, L.at("count", j)], wk[j, L.at("phase", j)] = beta * scale, 1.0
        same_example(wq, wk, d)
        wq[d + 2, L.at("one")] = -HARD * scale                   # keys that are not inputs
        wk[d + 2, L.at("one")] = 1.0
        for j in range(d):
            wk[d + 2, L.at("phase", j)] = -1.0
        eps = task.label_noise
        for a in range(q):
            wv[a, L.at("tok", a)] = 1.0
            # P(y = a) = (1 - ε) P(x_j* = a) + ε/(q - 1) P(x_j* ≠ a)
            wo[L.at("pred", a), a] = 1 - eps - eps / (q - 1)
            model.blocks[2].attn.out.bias[L.at("pred", a)] = eps / (q - 1)
        model.unembed.weight[torch.arange(V), L.at("pred") + torch.arange(V)] = 1.0
    return model
