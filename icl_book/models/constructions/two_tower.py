"""A hand-built two-tower transformer for in-context classification (after Yu & Ananiadou, EMNLP
2024), run by the book's one model: the circuit the paper describes, with every weight set.

``two_tower_transformer(task, beta)`` has two layers of two heads, no layer norms and no MLPs
(their weights are zero), in float64:

1. **Merge** (layer 0, head 0): every position attends to the item tokens of its own block of
   four (demonstration ``i`` is ``x1 x2 SEP y`` at positions ``1 + 4i .. 4 + 4i``; the query is
   the last block) and writes their cluster's one-hot into a *features* slice ``f``. At a label
   position ``f`` is its demonstration's class; at the last token it is the query's.
2. **In-context head** (layer 1, head 0), the two towers: the query is ``β f`` at the last
   token, the key is ``f`` at each label position, so the score is ``β 1[same cluster]`` plus a
   gate that keeps only label positions; the value-output matrix copies the label token's
   identity into a *prediction* slice that the unembedding reads as that label's logit (times
   ``LOGIT``). With a large ``β`` all attention goes to the query's class; on an ambiguous query
   (one item of each class, ``f = (e_A + e_B) / 2``) it spreads evenly over all label positions,
   so the logit of label A minus that of B is ``LOGIT (n_A − n_B) / n``: the majority label wins,
   majority-label bias from the attention alone.

Heads 1 of both layers are zero. ``recency`` adds ``recency · (block index)`` to the in-context
head's score on each label position: later demonstrations get more attention (recency bias).
The unembedding also reads ``f`` into the item tokens of its cluster (weight one), so that
what the merge layer wrote into a label position can be read in the vocabulary (the key side).
"""

from __future__ import annotations

import math

import torch

from ...tasks.classification import ClassificationTask
from ..transformer import Transformer, TransformerConfig
from .retrieval import _Layout

GATE = 60.0    # score gap that confines a head to the positions it should read (e^-60 ≈ 1e-26)
LOGIT = 20.0   # the label logit the in-context head writes at full attention
MERGE_HEAD = (0, 0)
IN_CONTEXT_HEAD = (1, 0)


def two_tower_transformer(task: ClassificationTask, beta: float = 20.0, recency: float = 0.0) -> Transformer:
    """The hand-built two-tower model for ``task`` (float64, evaluation mode)."""
    if not beta >= 0 or not math.isfinite(beta) or beta + abs(recency) * task.n_demos >= GATE / 2:
        raise ValueError(f"beta must be finite, >= 0 and, with recency * n_demos, below {GATE / 2}; "
                         f"got beta={beta!r}, recency={recency!r}")
    C, n, V, T = task.n_clusters, task.n_demos, task.vocab_size, task.seq_len
    n_blocks = n + 1
    lay = _Layout(cluster=C, item=1, label_tok=1, one=1, label_id=task.n_labels, block=n_blocks, f=C,
                  pred=task.n_labels)
    n_head = 2
    d_head = max(n_blocks + 1, C + 2, math.ceil(lay.width / n_head))
    D = n_head * d_head
    cfg = TransformerConfig(n_layer=2, n_head=n_head, d_model=D, n_ctx=T, vocab_size=V, d_mlp=4,
                            tie_embeddings=False, layer_norm=False)
    model = Transformer(cfg).double().eval()
    scale = math.sqrt(d_head)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        E = model.embed.weight                                             # [V, D]
        items = torch.arange(task.n_items)
        E[items, lay.at("cluster") + items // task.cluster_size] = 1.0
        E[items, lay.at("item")] = 1.0
        for k, tok in enumerate(task.labels.tolist()):
            E[tok, lay.at("label_tok")] = 1.0
            E[tok, lay.at("label_id", k)] = 1.0
        E[:, lay.at("one")] = 1.0
        P = model.pos.weight                                               # [T, D]
        for t in range(1, T):
            P[t, lay.at("block", (t - 1) // 4)] = 1.0

        def head_slices(h):
            return [slice(part * D + h * d_head, part * D + (h + 1) * d_head) for part in range(3)]

        # Layer 0, head 0: merge. Score GATE·[same block] − GATE·[key not an item].
        qkv0 = model.blocks[0].attn.qkv.weight
        q, k, v = head_slices(0)
        for b in range(n_blocks):
            qkv0[q.start + b, lay.at("block", b)] = GATE * scale
            qkv0[k.start + b, lay.at("block", b)] = 1.0
        qkv0[q.start + n_blocks, lay.at("one")] = GATE * scale
        qkv0[k.start + n_blocks, lay.at("item")] = 1.0                       # items: 0; others: −GATE
        model.blocks[0].attn.qkv.bias[k.start + n_blocks] = -1.0
        for c in range(C):
            qkv0[v.start + c, lay.at("cluster", c)] = 1.0
            model.blocks[0].attn.out.weight[lay.at("f", c), c] = 1.0          # head 0's z[c] -> f[c]

        # Layer 1, head 0: the in-context head. Score β<f_query, f_key> + GATE·[key is a label]
        # (+ recency · block of the key).
        qkv1 = model.blocks[1].attn.qkv.weight
        q, k, v = head_slices(0)
        for c in range(C):
            qkv1[q.start + c, lay.at("f", c)] = beta * scale
            qkv1[k.start + c, lay.at("f", c)] = 1.0
        qkv1[q.start + C, lay.at("one")] = GATE * scale
        qkv1[k.start + C, lay.at("label_tok")] = 1.0
        if recency:
            qkv1[q.start + C + 1, lay.at("one")] = recency * scale
            for b in range(n_blocks):
                qkv1[k.start + C + 1, lay.at("block", b)] = float(b)
        for j in range(task.n_labels):
            qkv1[v.start + j, lay.at("label_id", j)] = 1.0
            model.blocks[1].attn.out.weight[lay.at("pred", j), j] = 1.0

        U = model.unembed.weight                                           # [V, D]
        for j, tok in enumerate(task.labels.tolist()):
            U[tok, lay.at("pred", j)] = LOGIT
        U[items, lay.at("f") + items // task.cluster_size] = 1.0
    return model
