"""Transformers whose weights are set by hand, as in a proof, and run by the book's one model.

``retrieval_transformer(task)`` builds the three-layer mechanism of in-context sparse retrieval
(after Abernethy et al. 2024) for inputs of fixed length ``d`` behind a preamble of any length.
It segments the prompt itself: nothing in its weights knows where the first example starts.
Wherever the format leaves one segmentation (``segmentable``: a unique delimiter, or labels in
their own alphabet, or a second delimiter ``◁``), its output at every true ``▷`` is the exact
Bayes predictive distribution of the label (the logits *are* the probabilities).

Every attention step looks a fixed distance back from the position that asks, so the position
embedding holds only relative-offset machinery: the position ``t``, its phase ``t mod P`` as a
one-hot (``P`` longer than any offset used) and a constant. A head that wants the token ``o``
positions back puts a large score on keys whose phase is ``(t - o) mod P`` (the query's phase
one-hot, permuted: a linear map) plus a recency term ``γ t_key`` that picks, among the
congruent keys, the latest one, which is exactly ``t - o``.

1. **Segment and gather** (attention): an example is read at its *anchor*: its ``◁`` if the
   format has one, else its label, the token after ``▷``. One head reads the marker (``◁`` at
   offset 0, or ``▷`` one back), one the label, and head ``j`` the token that, at an anchor, is
   coordinate ``j`` of the input (``d + 1 - j`` back from the label).
2. **Match** (MLP): ``m_j = 1[x_j = y] · 1[anchor]``, an AND of three indicators that a steep
   GELU computes exactly.
3. **Count** (attention): each position attends to every earlier anchor and to an attention
   sink at ``BOS`` with score ``S``; the sink keeps the softmax from normalising, so the head
   returns the match counts ``c_j = Σ_i m_ij`` (times ``1 / (1 + n e^-S)``). The MLP then
   multiplies the counts by the position's phase one-hot (a steep GELU again), so that the next
   layer can address the count of coordinate ``j`` to the key ``d - j`` positions back.
4. **Select and copy** (attention): at ``▷`` the head attends to the test input's ``d`` positions
   with scores ``β c_j`` and copies their tokens, giving ``Σ_j softmax(β c)_j 1[x_test,j = y]``.
   With ``β = log((1 - ε)(q - 1)/ε)`` this is the Bayes posterior under label noise ``ε``;
   without noise, a large ``β`` makes it uniform on the consistent set ``C_n``.

Layer norms are off (``layer_norm=False``) and the model runs in float64: the construction is
exact up to terms of size ``e^-40`` (hard attention) and ``n e^-30`` (the sink).

Where ``▷`` can occur inside inputs and nothing else marks the examples, the Bayes predictor sums
over segmentations and this construction does not: ``trust_delimiters=True`` builds it anyway,
taking every ``▷`` at its word (``icl_book.analysis.retrieval.trusting_rule`` is the same learner
in numpy); the chapter measures what the trust costs.
"""

from __future__ import annotations

import math

import torch

from ...tasks.retrieval import RetrievalTask
from ..transformer import Transformer, TransformerConfig

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


def segmentable(task: RetrievalTask) -> bool:
    """Whether the hand-built transformer's anchors are exactly the true examples: the delimiter
    is unique, or labels have their own alphabet (a token after an inner ▷ is never a label
    token), or a second delimiter ◁ closes each example (◁ never occurs inside inputs)."""
    return not task.rho or task.label_alphabet == "disjoint" or task.end_delimiter


def retrieval_transformer(task: RetrievalTask, beta: float | None = None, *,
                          trust_delimiters: bool = False) -> Transformer:
    """The hand-built retrieval transformer for ``task`` (float64, evaluation mode)."""
    if task.min_len is not None or task.sparsity != 1:
        raise ValueError("the hand-built transformer reads 1-sparse retrieval with inputs of fixed length "
                         "(min_len = None, sparsity = 1); with variable lengths the coordinates of an input "
                         "are not a fixed distance from its delimiter")
    if not segmentable(task) and not trust_delimiters:
        raise ValueError("with rho > 0, a shared label alphabet and no second delimiter, a ▷ inside an input "
                         "looks like a delimiter and the Bayes predictor sums over segmentations, which this "
                         "construction does not; pass trust_delimiters=True for the construction that takes "
                         "every ▷ at its word")
    d, q, J, V = task.d, task.q, task.n_candidates, task.vocab_size
    # The anchor where an example is read: its ◁ when there is one, else its label (the token
    # after ▷). Offsets back from the anchor: the marker, the label, coordinate j of the input.
    marker, marker_back = (task.end, 0) if task.end_delimiter else (task.delim, 1)
    label_back = int(task.end_delimiter)
    P = d + 2 + label_back                             # phase modulus: longer than any offset read
    T = task.seq_len
    # The symbols an input coordinate (hence a label) can hold: with rho > 0, ▷ is one of them.
    symbols = list(range(q)) + ([task.delim] if task.rho else [])
    A = len(symbols)
    labels = [int(task.label_token(a)) for a in symbols]
    if beta is None:
        beta = noise_temperature(q, task.label_noise) if task.label_noise else HARD
    # More than any count can reach: n_examples where the anchors are true; when every ▷ is
    # trusted, any position may be an anchor.
    n_max = task.n_examples + 1 if segmentable(task) else T
    L = _Layout(tok=V, phase=P, pos=1, one=1, bos=1, anchor=1, label=A, gath=J * A, match=J, count=J,
                select=P, pred=V)
    n_head = J + 2
    d_head = max(P + 2, A, J, math.ceil(L.width / n_head))
    D = n_head * d_head
    cfg = TransformerConfig(n_layer=3, n_head=n_head, d_model=D, n_ctx=T, vocab_size=V,
                            d_mlp=max(J * A, J * P), tie_embeddings=False, layer_norm=False)
    model = Transformer(cfg).double().eval()
    scale = math.sqrt(d_head)                          # undo the 1/sqrt(d_head) of the scores
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        # Embeddings: the token one-hot, a BOS flag; the position, its phase one-hot, a constant 1.
        model.embed.weight[torch.arange(V), L.at("tok") + torch.arange(V)] = 1.0
        model.embed.weight[task.bos, L.at("bos")] = 1.0
        pos = model.pos.weight
        t = torch.arange(1, T)                         # position 0 is always BOS: no phase
        pos[t, L.at("phase") + t % P] = 1.0
        pos[:, L.at("pos")] = torch.arange(T).double()
        pos[:, L.at("one")] = 1.0

        def head(block: int, h: int):
            qkv = model.blocks[block].attn.qkv.weight
            rows = lambda part: slice(part * D + h * d_head, part * D + (h + 1) * d_head)  # noqa: E731
            return qkv[rows(0)], qkv[rows(1)], qkv[rows(2)], model.blocks[block].attn.out.weight[:, h * d_head:(h + 1) * d_head]

        def look_back(wq, wk, offset: int):
            """Scores that single out the key ``offset`` positions back: a bonus for its phase,
            and a recency term that prefers it over the congruent keys one period or more before."""
            bonus = HARD * (offset + 2) * scale
            for r in range(P):
                wq[r, L.at("phase", (r + offset) % P)] = bonus
                wk[r, L.at("phase", r)] = 1.0
            wq[P, L.at("one")], wk[P, L.at("pos")] = HARD * scale, 1.0
            wq[P + 1, L.at("one")], wk[P + 1, L.at("bos")] = bonus, 1.0   # before the prompt: BOS

        # Layer 0, head J: is this position an anchor (the marker sits `marker_back` positions back)?
        wq, wk, wv, wo = head(0, J)
        look_back(wq, wk, marker_back)
        wv[0, L.at("tok", marker)] = 1.0
        wo[L.at("anchor"), 0] = 1.0
        # Layer 0, head J + 1: the label token, as a one-hot over the symbols it can stand for.
        wq, wk, wv, wo = head(0, J + 1)
        look_back(wq, wk, label_back)
        for i in range(A):
            wv[i, L.at("tok", labels[i])] = 1.0
            wo[L.at("label", i), i] = 1.0
        # Layer 0, head j: the token that, at an anchor, is coordinate j of the input.
        for j in range(J):
            wq, wk, wv, wo = head(0, j)
            look_back(wq, wk, label_back + d + 1 - j)
            for i, a in enumerate(symbols):
                wv[i, L.at("tok", a)] = 1.0
                wo[L.at("gath", j * A + i), i] = 1.0
        # Layer 0 MLP: m_j = Σ_a AND(x_j = a, the label stands for a, this is an anchor).
        mlp = model.blocks[0].mlp
        for j in range(J):
            for i in range(A):
                unit = j * A + i
                mlp.fc.weight[unit, L.at("gath", unit)] = HARD
                mlp.fc.weight[unit, L.at("label", i)] = HARD
                mlp.fc.weight[unit, L.at("anchor")] = HARD
                mlp.fc.bias[unit] = -2 * HARD
                mlp.proj.weight[L.at("match", j), unit] = 1 / HARD
        # Layer 1, head 0: counts over the earlier anchors, through an attention sink at BOS.
        wq, wk, wv, wo = head(1, 0)
        wq[0, L.at("one")], wk[0, L.at("bos")] = SINK * scale, 1.0
        wq[1, L.at("one")] = -HARD * scale             # keys that are neither an anchor nor BOS
        wk[1, L.at("one")], wk[1, L.at("anchor")], wk[1, L.at("bos")] = 1.0, -1.0, -1.0
        for j in range(J):
            wv[j, L.at("match", j)] = 1.0
            wo[L.at("count", j), j] = math.exp(SINK)
        # Layer 1 MLP: select[r] = c_j for the residue r = (phase - d + j) mod P of coordinate j of
        # the input that ends just before this position; a product of a count (0 or >= 1) and a
        # phase indicator, exact through GELU(HARD (c - n_max (1 - [phase = φ]))) / HARD.
        mlp = model.blocks[1].mlp
        for phi in range(P):
            for j in range(J):
                unit = phi * J + j
                mlp.fc.weight[unit, L.at("count", j)] = HARD
                mlp.fc.weight[unit, L.at("phase", phi)] = HARD * n_max
                mlp.fc.bias[unit] = -HARD * n_max
                mlp.proj.weight[L.at("select", (phi - d + j) % P), unit] = 1 / HARD
        # Layer 2, head 0: at ▷ (phase φ) the key d - j back (coordinate j of the test input)
        # scores β c_j - γ j + γ t_key = β c_j + γ (t - d): flat over the input. Congruent keys a
        # period or more back lose γ P ≥ β n_max + HARD; keys of any other phase lose ≥ HARD.
        gamma = (beta * n_max + HARD) / P + HARD        # + HARD: BOS (score 0) loses too
        far = gamma * (d + 1) + HARD
        wq, wk, wv, wo = head(2, 0)
        for r in range(P):
            wk[r, L.at("phase", r)] = 1.0
            wq[r, L.at("select", r)] = beta * scale
            for phi in range(P):
                j = (r - phi + d) % P                   # the coordinate a key of phase r holds
                wq[r, L.at("phase", phi)] = (-gamma * j if j < J else -far) * scale
        wq[P, L.at("one")], wk[P, L.at("pos")] = gamma * scale, 1.0
        eps = task.label_noise
        for i, a in enumerate(symbols):
            wv[i, L.at("tok", a)] = 1.0
            # P(y = a) = (1 - ε) P(x_j* = a) + ε/(q - 1) P(x_j* ≠ a)
            wo[L.at("pred", labels[i]), i] = 1 - eps - eps / (q - 1)
            model.blocks[2].attn.out.bias[L.at("pred", labels[i])] = eps / (q - 1)
        model.unembed.weight[torch.arange(V), L.at("pred") + torch.arange(V)] = 1.0
    return model
