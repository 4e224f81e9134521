"""Locate and project (after Yu & Ananiadou, EMNLP 2024): which components of a transformer move
the answer of an in-context classification prompt into its last token, and what they read.

Everything is read at one position, the query's ``SEP`` (the last token), for a batch of
prompts, from **one** forward pass with ``cache=True``:

- ``frozen_readout`` / ``project``: a vector ``x`` in the residual stream is read as logits
  ``W_U (γ ⊙ (x − mean x) / σ + β)``, with the final layer norm's scale ``σ`` frozen at its value on
  the real final residual, so the readout is affine in ``x`` and the whole residual reads as the
  model's own logits (``p(· | x) = softmax``).
- ``importance``: ``Imp(v) = log p(w | v + h) − log p(w | h)`` (``w`` the target label, ``v`` a
  component's output, ``h`` the residual it is added to) for whole attention and MLP layers, single
  heads ``v = Σ_j α_{N,j} v_j W_O^(head)``, and single source positions ``j`` inside a head; beside it
  the logit difference against the competing in-prompt label, ``proj(v)[w] − proj(v)[w']``, which
  is additive over heads and positions and does not reward a head that raises every label word.
- ``ablated`` / ``ablation_study``: zero heads' slices of the output matrix (restored on exit)
  and compare the located set with random sets of the same size.
- ``value_output_projection``, ``key_side``, ``query_side``: what a head's value-output vectors at
  the label positions, the label positions' keys and the last token carry, read in the vocabulary.
- ``two_tower``: per prompt, a head's attention from the last token on the label positions and on
  those of the query's class, paired.
- ``majority_bias``, ``recency_bias`` and ``reweighting_hooks``: the biases on ambiguous queries and
  an attention re-weighting at the located heads that mitigates them.

The classification wrappers sit on generic pieces that need only token prompts and the positions
that matter: ``last_logits``, ``top_other``, ``ablation_test``, ``value_output_reading``,
``attention_at``, ``tower_split``, ``score_gap``. ``hmm_report`` runs the same lens on the
kernel-regression chapter's HMM prompts (``x_1 y_1 / … / x_test``, the answer at the last token).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..models.gpt2 import transformer_from_gpt2  # noqa: F401  (re-exported for the real-LLM section)
from ..stats import mean_and_interval
from ..tasks.classification import ClassificationPrompts, ClassificationTask


# ---- the readout with the final norm frozen -----------------------------------------------------

@dataclass
class Readout:
    """The final layer norm frozen at the real final residual of each prompt at one position."""
    sigma: torch.Tensor        # [B] the norm's denominator on the real final residual (1 without a norm)
    gamma: torch.Tensor        # [D]
    beta: torch.Tensor         # [D]
    unembed: torch.Tensor      # [V, D]
    centre: bool               # LayerNorm subtracts the mean; no norm does not


def frozen_readout(model, final_resid: torch.Tensor) -> Readout:
    """Freeze ``model.ln_f`` at ``final_resid [B, D]`` (the last block's output at the read position)."""
    ln, W = model.ln_f, model.unembed.weight
    D = final_resid.shape[-1]
    if isinstance(ln, nn.LayerNorm):
        sigma = torch.sqrt(final_resid.var(-1, unbiased=False) + ln.eps)
        return Readout(sigma, ln.weight.detach(), ln.bias.detach(), W.detach(), True)
    if isinstance(ln, nn.Identity):
        one = torch.ones(final_resid.shape[0], dtype=final_resid.dtype)
        return Readout(one, torch.ones(D, dtype=W.dtype), torch.zeros(D, dtype=W.dtype), W.detach(), False)
    raise TypeError(f"frozen_readout knows LayerNorm and Identity final norms, not {type(ln).__name__}")


def project(readout: Readout, x: torch.Tensor, *, bias: bool = True) -> torch.Tensor:
    """Logits of ``x [B, ..., D]`` (prompt ``b`` frozen at its own ``σ_b``); ``bias=False`` drops
    ``W_U β`` (the linear part alone, for reading a single component)."""
    if readout.centre:
        x = x - x.mean(-1, keepdim=True)
    sigma = readout.sigma.reshape(-1, *([1] * (x.dim() - 1)))
    y = x / sigma * readout.gamma
    if bias:
        y = y + readout.beta
    return y @ readout.unembed.T


# ---- importance -------------------------------------------------------------------------------

def _as_tensor(tokens) -> torch.Tensor:
    return tokens if isinstance(tokens, torch.Tensor) else torch.from_numpy(np.asarray(tokens))


def _log_p(logits: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """log softmax(logits)[w] over the last axis, ``w [B]`` broadcast over the middle axes."""
    lp = logits.log_softmax(-1)
    idx = w.reshape(-1, *([1] * (lp.dim() - 1))).expand(*lp.shape[:-1], 1)
    return lp.gather(-1, idx)[..., 0]


def _pair(logits: torch.Tensor, w: torch.Tensor, w2: torch.Tensor) -> torch.Tensor:
    take = lambda t: logits.gather(-1, t.reshape(-1, *([1] * (logits.dim() - 1))).expand(*logits.shape[:-1], 1))[..., 0]
    return take(w) - take(w2)


@dataclass
class Importance:
    """Imp and the logit difference at one position, per prompt (numpy, float64)."""
    attn: np.ndarray        # [B, L] whole attention layers
    mlp: np.ndarray         # [B, L] whole MLP layers
    head: np.ndarray        # [B, L, H]
    attn_ld: np.ndarray     # [B, L]
    mlp_ld: np.ndarray      # [B, L]
    head_ld: np.ndarray     # [B, L, H]
    source: np.ndarray | None = None     # [B, L, H, T] one source position inside a head
    source_ld: np.ndarray | None = None  # [B, L, H, T]
    # The rest of the logit difference, so that it adds up: the model's own (``total_ld``) is
    # ``embed_ld`` (the residual entering block 0) + Σ attn_ld + Σ mlp_ld + ``bias_ld`` (W_U β).
    embed_ld: np.ndarray | None = None   # [B]
    bias_ld: np.ndarray | None = None    # [B]
    total_ld: np.ndarray | None = None   # [B]


def head_vectors(acts: dict, model, layer: int, pos: int) -> torch.Tensor:
    """Each head's output at ``pos``: ``[B, H, D]`` (no output bias)."""
    return acts[f"blocks.{layer}.attn.head_out"][:, :, pos]


def source_vectors(acts: dict, model, layer: int, pos: int) -> torch.Tensor:
    """``α_{pos, j} v_j W_O^(head)`` for every head and source ``j``: ``[B, H, T, D]``; summed over
    ``j`` it is the head's output at ``pos``."""
    attn = model.blocks[layer].attn
    H, Dh, D = model.cfg.n_head, model.cfg.d_head, model.cfg.d_model
    alpha = acts[f"blocks.{layer}.attn.pattern"][:, :, pos]                 # [B, H, T]
    v = acts[f"blocks.{layer}.attn.v"]                                      # [B, H, T, Dh]
    w_o = attn.out.weight.view(D, H, Dh)
    return torch.einsum("bht,bhtd,ehd->bhte", alpha, v, w_o)


@torch.no_grad()
def importance(model, tokens, target, competitor, *, pos: int = -1, sources: bool = False,
               chunk: int = 250) -> Importance:
    """Imp and the logit difference of every layer, head (and, with ``sources``, every source
    position of every head) at position ``pos``, for target tokens ``target [B]`` against
    ``competitor [B]``: one cached forward pass per chunk of prompts, no loop over heads."""
    tokens, target, competitor = (_as_tensor(t).long() for t in (tokens, target, competitor))
    if tokens.dim() != 2 or target.shape != (tokens.shape[0],) or competitor.shape != target.shape:
        raise ValueError(f"tokens must be [B, T] and target, competitor [B]; got {tuple(tokens.shape)}, "
                         f"{tuple(target.shape)}, {tuple(competitor.shape)}")
    parts = [_importance_chunk(model, tokens[i:i + chunk], target[i:i + chunk], competitor[i:i + chunk], pos,
                               sources) for i in range(0, len(tokens), chunk)]
    fields = Importance.__dataclass_fields__
    return Importance(**{k: (np.concatenate([getattr(p, k) for p in parts])
                             if getattr(parts[0], k) is not None else None) for k in fields})


def _importance_chunk(model, tokens, w, w2, pos, sources) -> Importance:
    _, acts = model(tokens, cache=True)
    L = model.cfg.n_layer
    ro = frozen_readout(model, acts[f"blocks.{L - 1}.resid_post"][:, pos])
    out = {k: [] for k in ("attn", "mlp", "head", "attn_ld", "mlp_ld", "head_ld", "source", "source_ld")}

    def imp(h: torch.Tensor, v: torch.Tensor):
        """Imp and logit difference of v [B, ..., D] added to h [B, D]."""
        extra = v.dim() - h.dim()
        hh = h.reshape(h.shape[0], *([1] * extra), h.shape[-1])
        base = _log_p(project(ro, hh), w)
        return (_log_p(project(ro, hh + v), w) - base), _pair(project(ro, v, bias=False), w, w2)

    for layer in range(L):
        pre = acts[f"blocks.{layer}.resid_pre"][:, pos]
        mid = acts[f"blocks.{layer}.resid_mid"][:, pos]
        for key, h, v in (("attn", pre, acts[f"blocks.{layer}.attn_out"][:, pos]),
                          ("mlp", mid, acts[f"blocks.{layer}.mlp_out"][:, pos])):
            a, d = imp(h, v)
            out[key].append(a)
            out[f"{key}_ld"].append(d)
        a, d = imp(pre, head_vectors(acts, model, layer, pos))
        out["head"].append(a)
        out["head_ld"].append(d)
        if sources:
            a, d = imp(pre, source_vectors(acts, model, layer, pos))
            out["source"].append(a)
            out["source_ld"].append(d)
    stack = lambda xs: torch.stack(xs, 1).double().cpu().numpy() if xs else None
    whole = {"embed_ld": _pair(project(ro, acts["blocks.0.resid_pre"][:, pos], bias=False), w, w2),
             "bias_ld": _pair(project(ro, torch.zeros_like(ro.unembed[:1]).expand(len(w), -1)), w, w2),
             "total_ld": _pair(project(ro, acts[f"blocks.{L - 1}.resid_post"][:, pos]), w, w2)}
    return Importance(**{k: stack(v) for k, v in out.items()}, **{k: v.double().numpy() for k, v in whole.items()})


@torch.no_grad()
def head_importance_loop(model, tokens, target, *, pos: int = -1) -> np.ndarray:
    """Head-level Imp ``[B, L, H]`` the slow way: one forward pass per head, each recording only
    that head's output and the residual it joins (the reference ``importance`` is timed against)."""
    tokens, w = _as_tensor(tokens).long(), _as_tensor(target).long()
    L, H = model.cfg.n_layer, model.cfg.n_head
    result = torch.zeros(len(tokens), L, H, dtype=torch.float64)
    for layer in range(L):
        for head in range(H):
            seen = {}
            hooks = {f"blocks.{layer}.resid_pre": lambda x: seen.__setitem__("h", x[:, pos]),
                     f"blocks.{layer}.attn.head_out": lambda x, head=head: seen.__setitem__("v", x[:, head, pos]),
                     f"blocks.{L - 1}.resid_post": lambda x: seen.__setitem__("final", x[:, pos])}
            model(tokens, hooks=hooks)
            ro = frozen_readout(model, seen["final"])
            result[:, layer, head] = (_log_p(project(ro, seen["h"] + seen["v"]), w)
                                      - _log_p(project(ro, seen["h"]), w)).double()
    return result.numpy()


def locate(scores: np.ndarray, share: float = 0.8) -> list[tuple[int, int]]:
    """The smallest set of heads, by decreasing mean score (``[B, L, H]``, e.g. the logit
    difference), whose positive scores add up to ``share`` of all heads' positive scores."""
    if scores.ndim != 3:
        raise ValueError(f"scores must be [B, L, H], got shape {scores.shape}")
    if not 0 < share <= 1:
        raise ValueError(f"share must lie in (0, 1], got {share!r}")
    mean = scores.mean(0)
    order = np.argsort(-mean, axis=None)
    positive = np.clip(mean, 0, None)
    total = positive.sum()
    if total <= 0:
        return []
    picked, acc = [], 0.0
    for flat in order:
        layer, head = np.unravel_index(flat, mean.shape)
        if mean[layer, head] <= 0:
            break
        picked.append((int(layer), int(head)))
        acc += mean[layer, head]
        if acc >= share * total - 1e-12:
            break
    return picked


# ---- ablation ---------------------------------------------------------------------------------

@contextmanager
def ablated(model, heads):
    """Zero the slices of the output matrix ``W_O`` that belong to ``heads`` (``[(layer, head)]``)
    inside the block; the weights are restored on exit, even after an error."""
    Dh = model.cfg.d_head
    saved = []
    try:
        with torch.no_grad():
            for layer, head in heads:
                w = model.blocks[layer].attn.out.weight
                cols = slice(head * Dh, (head + 1) * Dh)
                saved.append((w, cols, w[:, cols].clone()))
                w[:, cols] = 0
        yield model
    finally:
        with torch.no_grad():
            for w, cols, old in reversed(saved):
                w[:, cols] = old


@torch.no_grad()
def last_logits(model, tokens, hooks=None, chunk: int = 500) -> torch.Tensor:
    """The model's logits at the last token of every prompt, ``[B, V]`` in float64, in chunks of
    prompts (all at once under ``hooks``: hooks made for a prompt set see all of it)."""
    tokens = _as_tensor(tokens).long()
    if hooks is not None:
        chunk = len(tokens)
    return torch.cat([model(tokens[i:i + chunk], hooks=hooks)[:, -1].double() for i in range(0, len(tokens), chunk)])


def top_other(logits: torch.Tensor, target) -> torch.Tensor:
    """Per prompt, the highest-scoring token of ``logits [B, V]`` other than ``target [B]``."""
    target = _as_tensor(target).long()
    masked = logits.clone()
    masked[torch.arange(len(masked)), target] = float("-inf")
    return masked.argmax(-1)


@torch.no_grad()
def query_hits(model, prompts: ClassificationPrompts, hooks=None, chunk: int = 500) -> dict:
    """Per prompt at the query: whether the target label beats the competing label, and
    ``p_A = p(label A) / (p(label A) + p(label B))``."""
    logits = last_logits(model, prompts.tokens, hooks, chunk)
    b = torch.arange(len(logits))
    t, o = torch.from_numpy(prompts.targets[:, -1]), torch.from_numpy(prompts.competing_label)
    la = logits[b, torch.from_numpy(prompts.class_label[:, 0])]
    lb = logits[b, torch.from_numpy(prompts.class_label[:, 1])]
    return {"hits": (logits[b, t] > logits[b, o]).double().numpy(), "p_a": torch.sigmoid(la - lb).numpy()}


def mean_ci(values) -> tuple[float, float, float]:
    """``stats.mean_and_interval`` (normal approximation) as a ``(mean, lo, hi)`` tuple."""
    m = mean_and_interval(np.asarray(values, dtype=float))
    return m["mean"], m["lo"], m["hi"]


def ablation_test(model, heads, hits_of, *, n_random: int = 20, seed: int = 0) -> dict:
    """The location test on any prompts: ``hits_of()`` scores the model as it stands (``[B]``, 1
    for a correct answer), run clean, with ``heads`` ablated, and with ``n_random`` uniformly drawn
    sets of as many heads (from all heads); the random sets' 2.5–97.5 % range across draws."""
    L, H = model.cfg.n_layer, model.cfg.n_head
    heads = [tuple(map(int, h)) for h in heads]
    clean = hits_of()
    with ablated(model, heads):
        knocked = hits_of()
    rng = np.random.default_rng(seed)
    random_acc = []
    for _ in range(n_random):
        flat = rng.choice(L * H, size=len(heads), replace=False)
        with ablated(model, [divmod(int(f), H) for f in flat]):
            random_acc.append(float(hits_of().mean()))
    random_acc = np.array(random_acc)
    return {"heads": heads, "fraction_of_heads": len(heads) / (L * H),
            "clean": mean_ci(clean), "located": mean_ci(knocked),
            "random_mean": float(random_acc.mean()) if len(random_acc) else None,
            "random_range": (float(np.percentile(random_acc, 2.5)), float(np.percentile(random_acc, 97.5)))
            if len(random_acc) else None,
            "random": random_acc.tolist()}


def ablation_study(model, prompts: ClassificationPrompts, heads, *, n_random: int = 20, seed: int = 0) -> dict:
    """``ablation_test`` on classification prompts: a hit is the target label beating the other one."""
    return ablation_test(model, heads, lambda: query_hits(model, prompts)["hits"], n_random=n_random, seed=seed)


# ---- projections --------------------------------------------------------------------------------

def _readout_at(model, acts, positions: np.ndarray) -> Readout:
    """A readout frozen at the real final residual of every (prompt, position) pair, flattened."""
    L = model.cfg.n_layer
    final = acts[f"blocks.{L - 1}.resid_post"][:, positions]               # [B, P, D]
    return frozen_readout(model, final.reshape(-1, final.shape[-1]))


@torch.no_grad()
def value_output_reading(model, tokens, positions, labels, other=None, *, chunk: int | None = None) -> dict:
    """For every head: the value-output vector ``u_j = v_j W_O^(head)`` at each of ``positions
    [n]``, read in the vocabulary (no bias) through the readout frozen at that position. ``hit``
    ``[L, H]``: how often its top token over the whole vocabulary is ``labels [B, n]`` (the token
    that position should carry); with ``other [B, n]``, ``copy``: the mean of ``proj(u_j)[label_j]
    − proj(u_j)[other_j]`` (positive: the head copies the label it reads; negative: it suppresses
    it), else None. ``chunk`` prompts per cached forward pass (all at once by default)."""
    tokens, positions = _as_tensor(tokens).long(), np.asarray(positions)
    labels = np.asarray(labels)
    if labels.shape != (len(tokens), len(positions)) or (other is not None and np.shape(other) != labels.shape):
        raise ValueError(f"labels (and other) must be [B, n] = {(len(tokens), len(positions))}, got {labels.shape}"
                         + ("" if other is None else f" and {np.shape(other)}"))
    L, H, Dh, D = model.cfg.n_layer, model.cfg.n_head, model.cfg.d_head, model.cfg.d_model
    chunk = chunk or len(tokens)
    hits, copies = [[] for _ in range(L)], [[] for _ in range(L)]
    for i in range(0, len(tokens), chunk):
        _, acts = model(tokens[i:i + chunk], cache=True)
        ro = _readout_at(model, acts, positions)
        lab = torch.from_numpy(labels[i:i + chunk]).reshape(-1)                 # [b * n] the label at each j
        for layer in range(L):
            v = acts[f"blocks.{layer}.attn.v"][:, :, positions]                    # [b, H, n, Dh]
            w_o = model.blocks[layer].attn.out.weight.view(D, H, Dh)
            u = torch.einsum("bhjd,ehd->bjhe", v, w_o).reshape(-1, H, D)           # [b * n, H, D]
            logits = project(ro, u, bias=False)                                   # [b * n, H, V]
            hits[layer].append((logits.argmax(-1) == lab[:, None]).double())
            if other is not None:
                idx = lambda t: t[:, None, None].expand(-1, H, 1)
                oth = torch.from_numpy(np.asarray(other)[i:i + chunk]).reshape(-1)
                copies[layer].append((logits.gather(-1, idx(lab)) - logits.gather(-1, idx(oth)))[..., 0].double())
        del acts   # before the next chunk's forward pass, so that two caches never coexist
    mean = lambda parts: np.stack([torch.cat(p).mean(0).numpy() for p in parts])
    return {"hit": mean(hits), "copy": mean(copies) if other is not None else None}


@torch.no_grad()
def value_output_projection(model, task: ClassificationTask, prompts: ClassificationPrompts) -> dict:
    """``value_output_reading`` at the label positions, against the other in-prompt label."""
    other = np.where(prompts.targets[:, :-1] == prompts.class_label[:, :1],
                     prompts.class_label[:, 1:], prompts.class_label[:, :1])
    return value_output_reading(model, prompts.tokens, task.label_positions, prompts.targets[:, :-1], other)


def _top_item_cluster(task: ClassificationTask, logits: torch.Tensor) -> np.ndarray:
    return task.cluster_of(logits[..., :task.n_items].argmax(-1).numpy())


@torch.no_grad()
def key_side(model, task: ClassificationTask, prompts: ClassificationPrompts, layer: int) -> float:
    """What the attention layers below ``layer`` wrote into each label position, read in the
    vocabulary among the item tokens: how often its top item lies in that demonstration's cluster
    (chance ``1 / n_clusters``)."""
    _, acts = model(torch.from_numpy(prompts.tokens), cache=True)
    lab = task.label_positions
    written = sum(acts[f"blocks.{i}.attn_out"][:, lab] for i in range(layer))  # [B, n, D]
    if isinstance(written, int):
        raise ValueError("key_side needs layer >= 1 (something below it to read)")
    ro = _readout_at(model, acts, lab)
    top = _top_item_cluster(task, project(ro, written.reshape(-1, written.shape[-1]), bias=False))
    demo_cluster = np.take_along_axis(prompts.clusters, prompts.demo_class, 1).reshape(-1)
    return float((top == demo_cluster).mean())


@torch.no_grad()
def query_side(model, task: ClassificationTask, prompts: ClassificationPrompts, layer: int) -> float:
    """The last token's residual entering ``layer``, read among the item tokens: how often its top
    item lies in the query's cluster (chance ``1 / n_clusters``)."""
    _, acts = model(torch.from_numpy(prompts.tokens), cache=True)
    ro = _readout_at(model, acts, np.array([task.query_position]))
    h = acts[f"blocks.{layer}.resid_pre"][:, task.query_position]
    top = _top_item_cluster(task, project(ro, h, bias=False))
    if (prompts.query_class < 0).any():
        raise ValueError("query_side needs unambiguous queries")
    return float((top == prompts.clusters[np.arange(len(top)), prompts.query_class]).mean())


# ---- the two towers ----------------------------------------------------------------------------

@torch.no_grad()
def attention_at(model, tokens, positions, *, pos: int = -1, chunk: int = 250) -> dict:
    """Every head's attention from ``pos`` on ``positions [n]`` (``alpha``) and its scaled scores
    ``q·k / √d`` there (``scores``), ``[B, L, H, n]`` float64; the activation cache of ``chunk``
    prompts at a time."""
    tokens, positions = _as_tensor(tokens).long(), np.asarray(positions)
    alpha, scores = [], []
    for i in range(0, len(tokens), chunk):
        _, acts = model(tokens[i:i + chunk], cache=True)
        alpha.append(torch.stack([acts[f"blocks.{l}.attn.pattern"][:, :, pos, positions].double()
                                  for l in range(model.cfg.n_layer)], 1))
        scores.append(torch.stack([acts[f"blocks.{l}.attn.scores"][:, :, pos, positions].double()
                                   for l in range(model.cfg.n_layer)], 1))
        del acts
    return {"alpha": torch.cat(alpha).numpy(), "scores": torch.cat(scores).numpy()}


def tower_split(alpha: np.ndarray, relevant: np.ndarray) -> dict:
    """From attention ``alpha [B, L, H, n]`` on ``n`` positions and a mask ``relevant [B, n]``:
    ``label_mass`` (all of it), ``same_share`` (the part on relevant positions) and ``paired``
    (mean attention per relevant position minus per other one, prompt by prompt; NaN where a prompt
    has no relevant or no other position); arrays ``[B, L, H]``."""
    relevant = np.asarray(relevant, dtype=bool)
    if relevant.shape != (alpha.shape[0], alpha.shape[-1]):
        raise ValueError(f"relevant must be [B, n] = {(alpha.shape[0], alpha.shape[-1])}, got {relevant.shape}")
    a = torch.from_numpy(alpha)
    s = torch.from_numpy(relevant).double()[:, None, None]                          # [B, 1, 1, n]
    mass = a.sum(-1)
    paired = (a * s).sum(-1) / s.sum(-1) - (a * (1 - s)).sum(-1) / (1 - s).sum(-1)
    return {"label_mass": mass.numpy(), "same_share": ((a * s).sum(-1) / mass.clamp_min(1e-30)).numpy(),
            "paired": paired.numpy()}


def score_gap(scores: np.ndarray, relevant: np.ndarray) -> float:
    """One head's scaled q·k ``scores [B, n]``: the mean over all relevant positions minus the mean
    over all others (pooled over prompts; ``e^gap`` is the attention ratio per position). An
    evenly attending head (the same score everywhere) has 0."""
    scores, relevant = np.asarray(scores, float), np.asarray(relevant, bool)
    if scores.shape != relevant.shape or scores.ndim != 2:
        raise ValueError(f"scores and relevant must both be [B, n], got {scores.shape} and {relevant.shape}")
    return float((scores * relevant).sum(1).mean() / relevant.sum(1).mean()
                 - (scores * ~relevant).sum(1).mean() / (~relevant).sum(1).mean())


def two_tower(model, task: ClassificationTask, prompts: ClassificationPrompts, chunk: int = 250) -> dict:
    """Per prompt and head, from the last token: ``label_mass`` (attention on all label
    positions), ``same_share`` (the part of it on labels of the query's class) and ``paired``
    (mean attention per same-class label position minus per other-class one, prompt by prompt);
    arrays ``[B, L, H]``. Also the scaled scores ``q·k / √d`` on the label positions, ``[B, L, H, n]``."""
    if (prompts.query_class < 0).any():
        raise ValueError("two_tower needs unambiguous queries")
    at = attention_at(model, prompts.tokens, task.label_positions, pos=task.query_position, chunk=chunk)
    return {**tower_split(at["alpha"], prompts.demo_class == prompts.query_class[:, None]), "scores": at["scores"]}


def score_by_cluster(task: ClassificationTask, prompts: ClassificationPrompts, scores: np.ndarray) -> np.ndarray:
    """Mean score ``[B, n]`` (one head's q·k on the label positions) by (the query's cluster,
    the demonstration's cluster): ``[n_clusters, n_clusters]``, NaN where no pair occurred."""
    C = task.n_clusters
    q_cluster = np.repeat(prompts.clusters[np.arange(len(scores)), prompts.query_class][:, None], scores.shape[1], 1)
    d_cluster = np.take_along_axis(prompts.clusters, prompts.demo_class, 1)
    total, count = np.zeros((C, C)), np.zeros((C, C))
    np.add.at(total, (q_cluster.ravel(), d_cluster.ravel()), scores.ravel())
    np.add.at(count, (q_cluster.ravel(), d_cluster.ravel()), 1)
    with np.errstate(invalid="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


# ---- the biases and a mitigation ---------------------------------------------------------------

def majority_curve(model, task: ClassificationTask, n_prompts: int, seed: int, hooks_for=None) -> np.ndarray:
    """Mean ``p_A`` on ambiguous queries for ``n_A = 1 .. n − 1`` (random order). ``hooks_for``
    maps a prompt set to forward hooks (a mitigation)."""
    curve = []
    for n_a in range(1, task.n_demos):
        prompts = task.probe(n_prompts, np.random.default_rng([seed, n_a]), n_a=n_a, query="ambiguous")
        hooks = hooks_for(prompts) if hooks_for else None
        curve.append(query_hits(model, prompts, hooks)["p_a"].mean())
    return np.array(curve)


def majority_bias(curve: np.ndarray) -> float:
    """``p_A`` at the largest ``n_A`` minus at the smallest: 0 for a learner that ignores the
    counts, ``(n − 2) / n`` for one that answers in proportion to them."""
    return float(curve[-1] - curve[0])


def recency_pair(model, task: ClassificationTask, n_prompts: int, seed: int, hooks_for=None) -> tuple[float, float]:
    """Mean ``p_A`` on ambiguous queries with ``n_A = n / 2`` when every A demonstration comes
    first, and when they all come last."""
    out = []
    for i, order in enumerate(("A_first", "A_last")):
        prompts = task.probe(n_prompts, np.random.default_rng([seed, 100 + i]), n_a=task.n_demos // 2,
                             order=order, query="ambiguous")
        hooks = hooks_for(prompts) if hooks_for else None
        out.append(float(query_hits(model, prompts, hooks)["p_a"].mean()))
    return out[0], out[1]


def recency_bias(pair: tuple[float, float]) -> float:
    """``p_A`` with A last minus with A first: positive when later demonstrations weigh more."""
    return float(pair[1] - pair[0])


@torch.no_grad()
def position_weights(model, task: ClassificationTask, heads, n_prompts: int = 500, seed: int = 7) -> dict:
    """For each head, the inverse of its mean attention from the last token on each label
    position, normalised to mean one: the factors that make its attention on the label positions
    flat in position on average. Calibrated on random-order prompts (where position says
    nothing about the class) with ambiguous queries (content-free: the query favours no
    demonstration), drawn from their own seed."""
    prompts = task.probe(n_prompts, np.random.default_rng([seed, 999]), query="ambiguous")
    _, acts = model(torch.from_numpy(prompts.tokens), cache=True)
    lab, N = task.label_positions, task.query_position
    weights = {}
    for layer, head in heads:
        mean = acts[f"blocks.{layer}.attn.pattern"][:, head, N, lab].double().mean(0)
        w = 1 / mean.clamp_min(1e-12)
        weights[(layer, head)] = (w / w.mean()).numpy()
    return weights


def reweighting_hooks(task: ClassificationTask, prompts: ClassificationPrompts, heads, *,
                      balance: bool = False, position: dict | None = None) -> dict:
    """Forward hooks that re-weight the located heads' attention from the last token on the label
    positions, keeping its total: ``balance`` gives each label (read from the prompt's own label
    tokens) the same share; ``position`` multiplies position ``j`` by ``position[(layer, head)][j]``."""
    lab, N = torch.from_numpy(task.label_positions), task.query_position
    labels = prompts.targets[:, :-1]
    is_first = torch.from_numpy(labels == labels[:, :1]).double()             # [B, n] same label as demo 0
    by_layer: dict[int, list[int]] = {}
    for layer, head in heads:
        by_layer.setdefault(int(layer), []).append(int(head))

    def make(layer, hs):
        def hook(pattern):
            pattern = pattern.clone()
            for h in hs:
                a = pattern[:, h, N, lab].double()                           # [B, n]
                total = a.sum(-1, keepdim=True)
                if position is not None:
                    a = a * torch.from_numpy(np.asarray(position[(layer, h)]))
                if balance:
                    first = (a * is_first).sum(-1, keepdim=True)
                    second = (a * (1 - is_first)).sum(-1, keepdim=True)
                    a = torch.where(is_first > 0, a / first.clamp_min(1e-30), a / second.clamp_min(1e-30)) / 2
                a = a / a.sum(-1, keepdim=True).clamp_min(1e-30) * total
                pattern[:, h, N, lab] = a.to(pattern.dtype)
            return pattern
        return hook

    return {f"blocks.{layer}.attn.pattern": make(layer, hs) for layer, hs in by_layer.items()}


def reduction(before: float, after: float) -> float:
    """The percentage by which a bias shrinks in size: ``100 (1 − |after| / |before|)``."""
    if before == 0:
        raise ValueError("a bias of exactly zero cannot be reduced")
    return 100.0 * (1 - abs(after) / abs(before))


# ---- the shallow merge heads --------------------------------------------------------------------

@torch.no_grad()
def merge_scores(model, task: ClassificationTask, prompts: ClassificationPrompts, layer: int = 0) -> dict:
    """For each head of ``layer``: the mean attention from each label position on its own
    demonstration's two items (``demo``), and from the last token on the query's two items
    (``query``); ``[H]`` each."""
    seen = {}
    hook = {f"blocks.{layer}.attn.pattern": lambda a: seen.__setitem__("pattern", a)}   # this layer's pattern only
    model(torch.from_numpy(prompts.tokens), hooks=hook)
    pattern = seen["pattern"].double()                                       # [B, H, T, T]
    lab = torch.from_numpy(task.label_positions)
    demo = pattern[:, :, lab, lab - 3] + pattern[:, :, lab, lab - 2]          # [B, H, n]
    N = task.query_position
    query = pattern[:, :, N, N - 2] + pattern[:, :, N, N - 1]                # [B, H]
    return {"demo": demo.mean((0, 2)).numpy(), "query": query.mean(0).numpy()}


# ---- every headline number of the chapter, from one model -----------------------------------------

MIN_BIAS = 0.02   # a bias smaller than this (in p_A) is too small to reduce: its reduction is NaN


def report(model, task: ClassificationTask, *, n_prompts: int = 500, seed: int = 2024, share: float = 0.8,
           n_random: int = 20) -> dict:
    """Locate, project, ablate and measure the biases of ``model`` on fresh prompts of ``task``
    (seeded; the same call gives the same numbers). The located set is the smallest set of heads
    that carries ``share`` of the heads' positive logit difference at the query (``locate``); the
    top head is its first. The mitigations re-weight the located heads' attention."""
    model.eval()
    prompts = task.probe(n_prompts, np.random.default_rng([seed, 0]))
    imp = importance(model, prompts.tokens, prompts.targets[:, -1], prompts.competing_label)
    heads = locate(imp.head_ld, share)
    top = heads[0] if heads else None
    ablation = ablation_study(model, prompts, heads, n_random=n_random, seed=seed)
    vo = value_output_projection(model, task, prompts)
    tt = two_tower(model, task, prompts)
    merge = merge_scores(model, task, prompts)
    merge_ablation = []
    for h in range(model.cfg.n_head):
        with ablated(model, [(0, h)]):
            merge_ablation.append(float(query_hits(model, prompts)["hits"].mean()))
    curve = majority_curve(model, task, n_prompts // 2, seed)
    balanced = majority_curve(model, task, n_prompts // 2, seed,
                              hooks_for=lambda pr: reweighting_hooks(task, pr, heads, balance=True)) if heads else curve
    pair = recency_pair(model, task, n_prompts // 2, seed)
    weights = position_weights(model, task, heads, n_prompts=n_prompts // 2, seed=seed) if heads else None
    flat = recency_pair(model, task, n_prompts // 2, seed,
                        hooks_for=lambda pr: reweighting_hooks(task, pr, heads, position=weights)) if heads else pair
    mb, mb_after, rb, rb_after = majority_bias(curve), majority_bias(balanced), recency_bias(pair), recency_bias(flat)
    at = lambda a: float(a[(slice(None), *top)].mean()) if top else float("nan")
    return {
        "accuracy": ablation["clean"][0], "heads": heads, "top_head": top,
        "fraction_of_heads": ablation["fraction_of_heads"], "ablation": ablation,
        "layer_imp": imp.attn.mean(0).tolist(), "layer_mlp_imp": imp.mlp.mean(0).tolist(),
        "layer_ld": imp.attn_ld.mean(0).tolist(), "layer_mlp_ld": imp.mlp_ld.mean(0).tolist(),
        "head_imp": imp.head.mean(0).tolist(), "head_ld": imp.head_ld.mean(0).tolist(),
        "value_output_hit": vo["hit"].tolist(), "value_output_copy": vo["copy"].tolist(),
        "located_hit": float(np.mean([vo["hit"][h] for h in heads])) if heads else float("nan"),
        "label_mass": at(tt["label_mass"]), "same_share": at(tt["same_share"]),
        "paired_mean": at(tt["paired"]), "paired_positive": at(tt["paired"] > 0),
        "label_mass_all": tt["label_mass"].mean(0).tolist(), "same_share_all": tt["same_share"].mean(0).tolist(),
        "paired_positive_all": (tt["paired"] > 0).mean(0).tolist(),
        # What the layers below the top head (at least layer 0) wrote into the label positions and the last token.
        "key_layer": max(1, top[0]) if top else 1,
        "key_side": key_side(model, task, prompts, max(1, top[0]) if top else 1),
        "query_side": query_side(model, task, prompts, max(1, top[0]) if top else 1),
        "merge_demo": merge["demo"].tolist(), "merge_query": merge["query"].tolist(),
        "merge_ablation": merge_ablation,
        "majority_curve": curve.tolist(), "majority_curve_mitigated": balanced.tolist(),
        "majority_bias": mb, "majority_bias_mitigated": mb_after,
        "majority_reduction": reduction(mb, mb_after) if abs(mb) >= MIN_BIAS else float("nan"),
        "recency_pair": list(pair), "recency_pair_mitigated": list(flat),
        "recency_bias": rb, "recency_bias_mitigated": rb_after,
        "recency_reduction": reduction(rb, rb_after) if abs(rb) >= MIN_BIAS else float("nan"),
        "n_prompts": n_prompts, "seed": seed, "share": share,
    }


# ---- the same lens on the kernel-regression chapter's HMM prompts --------------------------------

def hmm_relevance(tokens: np.ndarray, labels: np.ndarray, k: int, n: int) -> dict[str, np.ndarray]:
    """Which demonstrations of a ``make_prompts`` prompt are relevant to its test input, three
    ways, each ``[P, n]``:

    - ``same_input``: ``x_i = x_test`` (all ``k - 1`` tokens). Within a prompt every example runs
      under the same concept from the same start property, so a demonstration with the test's
      input has its label drawn from exactly the distribution whose argmax is the answer: the
      HMM's counterpart of the classification task's "same class", and what a kernel over inputs
      should weigh. The primary relevance.
    - ``same_last_input``: ``x_i``'s last token equals ``x_test``'s, the emission of the hidden
      state the label's state follows from (an induction head's match: the label position's
      previous token is the query's token).
    - ``same_label``: ``y_i`` is the correct answer ``labels [P]``. A head attending there may simply have found
      the answer token it copies (the value side), not matched the query to the demonstration's
      input, so this one does not test the two towers on its own; it is reported beside the others.
    """
    tokens, labels = np.asarray(tokens), np.asarray(labels)
    if not (isinstance(k, int) and isinstance(n, int) and k >= 2 and n >= 1):
        raise ValueError(f"hmm prompts need k >= 2 and n >= 1, got k={k!r}, n={n!r}")
    if tokens.ndim != 2 or tokens.shape[1] != n * (k + 1) + k - 1:
        raise ValueError(f"hmm prompts of k={k}, n={n} are [P, {n * (k + 1) + k - 1}] tokens, got {tokens.shape}")
    if labels.shape != (len(tokens),):
        raise ValueError(f"labels must be [P] = [{len(tokens)}], got {labels.shape}")
    from ..tasks.ginc import example_spans

    starts = example_spans(k, n)[:, 0]
    inputs = np.stack([tokens[:, s:s + k - 1] for s in starts], 1)                   # [P, n, k - 1]
    x_test = tokens[:, -(k - 1):]
    return {"same_input": (inputs == x_test[:, None]).all(-1),
            "same_last_input": inputs[..., -1] == x_test[:, None, -1],
            "same_label": tokens[:, starts + k - 1] == labels[:, None]}


def hmm_report(model, tokens: np.ndarray, labels: np.ndarray, k: int, n: int, *, share: float = 0.8,
               n_random: int = 20, seed: int = 0, chunk: int = 250) -> dict:
    """Locate and project on HMM prompts (``make_prompts`` layout: ``x_1 y_1 / … x_n y_n / x_test``,
    ``labels [P]`` the correct test label), at the last token. JSON-ready.

    - Location: ``importance`` with target the correct label and competitor the model's top other
      token (over the whole vocabulary); ``located`` the heads carrying ``share`` of the heads'
      positive logit difference, ``accuracy`` (argmax = label) clean, with them ablated and with
      ``n_random`` random sets of as many heads (``ablation_test``).
    - Projection: the top located head's value-output vector at each label position, read through
      the readout frozen there: ``value_output_share`` of demonstrations whose top token is their
      label. Its chance is the best constant reading (the commonest label's frequency); beside it
      the same reading at each demonstration's last input position (``value_output_input_share``):
      a head that copies whatever token it reads scores high on both, a label mover on the first.
    - Two towers: the top head's attention from the last token on the label positions, split by
      ``hmm_relevance``; per relevance, ``two_tower_share`` (prompts with both kinds of
      demonstration where it attends more per relevant label position than per other one; an
      evenly attending head ties, 0, a head blind to relevance gives about 0.5, measured here as
      ``null_share`` with the relevance shuffled within each prompt), ``same_share`` (its share of
      label attention on relevant ones; chance the relevant fraction) and ``qk_gap`` (``score_gap``;
      chance 0). The top-level ``two_tower_share`` and ``qk_gap`` are ``same_input``'s.
    """
    tokens, labels = np.asarray(tokens), np.asarray(labels)
    relevance = hmm_relevance(tokens, labels, k, n)   # checks the shapes
    from ..tasks.ginc import example_spans

    model.eval()
    starts = example_spans(k, n)[:, 0]
    label_pos = starts + k - 1
    demo_labels = tokens[:, label_pos]                                                    # [P, n]
    target = torch.from_numpy(labels).long()
    hits_of = lambda: (last_logits(model, tokens).argmax(-1) == target).double().numpy()   # noqa: E731

    # location
    competitor = top_other(last_logits(model, tokens), target)
    imp = importance(model, tokens, target, competitor, sources=True, chunk=chunk)
    heads = locate(imp.head_ld, share)
    top = heads[0] if heads else None
    ab = ablation_test(model, heads, hits_of, n_random=n_random, seed=seed)
    out = {"k": k, "n": n, "n_prompts": len(tokens), "share": share, "seed": seed, "n_random": n_random,
           "located": [list(h) for h in heads], "top_head": list(top) if top else None,
           "heads_fraction": ab["fraction_of_heads"],
           "accuracy": ab["clean"][0], "ablated_accuracy": ab["located"][0],
           "random_ablated_accuracy": ab["random_mean"], "random_ablated_range": ab["random_range"],
           "head_ld": imp.head_ld.mean(0).tolist(), "layer_attn_ld": imp.attn_ld.mean(0).tolist(),
           "layer_mlp_ld": imp.mlp_ld.mean(0).tolist(),
           "logit_diff": float(imp.total_ld.mean()),
           "logit_diff_parts": {"embed": float(imp.embed_ld.mean()), "attn": float(imp.attn_ld.sum(1).mean()),
                                "mlp": float(imp.mlp_ld.sum(1).mean()), "final_bias": float(imp.bias_ld.mean())},
           "heads_ld": float(imp.head_ld.sum((1, 2)).mean()),
           "located_ld": float(sum(imp.head_ld[:, l, h] for l, h in heads).mean()) if heads else 0.0}
    if top is None:
        return out

    # where the top head's logit difference comes from, by kind of source position
    per_source = imp.source_ld[:, top[0], top[1]].mean(0)                                # [T]
    kinds = {"label": label_pos, "input": (starts[:, None] + np.arange(k - 1)).ravel(),
             "delimiter": starts + k, "test_input": np.arange(n * (k + 1), tokens.shape[1])}
    out["top_head_ld_by_source"] = {name: float(per_source[pos].sum()) for name, pos in kinds.items()}

    # projection: value-output vectors at the label positions and, as a control, the last input positions
    last_in = starts + k - 2
    hit_label = value_output_reading(model, tokens, label_pos, demo_labels, chunk=chunk)["hit"]
    hit_input = value_output_reading(model, tokens, last_in, tokens[:, last_in], chunk=chunk)["hit"]
    counts = np.bincount(demo_labels.ravel())
    out.update({"value_output_share": float(hit_label[top]), "value_output_chance": float(counts.max() / counts.sum()),
                "value_output_input_share": float(hit_input[top]), "value_output_hit": hit_label.tolist(),
                "located_value_output_share": float(np.mean([hit_label[h] for h in heads]))})

    # the two towers: the top head's query at the last token against the label positions' keys
    at = attention_at(model, tokens, label_pos, chunk=chunk)
    alpha, scores = at["alpha"][:, top[0], top[1]], at["scores"][:, top[0], top[1]]       # [P, n]
    out["label_mass"] = float(alpha.sum(1).mean())
    out["label_mass_chance"] = n / tokens.shape[1]           # attention spread evenly over the prompt
    rng = np.random.default_rng([seed, 1])
    rel_out = {}
    for name, rel in relevance.items():
        both = rel.any(1) & (~rel).any(1)
        split = tower_split(at["alpha"], rel)
        paired = split["paired"][both]                                                     # [P', L, H]
        shuffled = [tower_split(alpha[both][:, None, None], rng.permuted(rel[both], axis=1))["paired"][:, 0, 0]
                    for _ in range(20)]
        rel_out[name] = {
            "relevant_rate": float(rel.mean()), "defined": float(both.mean()),
            "two_tower_share": float((paired[:, top[0], top[1]] > 0).mean()) if both.any() else None,
            "null_share": float(np.mean([(s > 0).mean() for s in shuffled])) if both.any() else None,
            "two_tower_share_by_head": (paired > 0).mean(0).tolist() if both.any() else None,
            "same_share": float(split["same_share"][both, top[0], top[1]].mean()) if both.any() else None,
            "same_share_chance": float(rel[both].mean()) if both.any() else None,
            "qk_gap": score_gap(scores[both], rel[both]) if both.any() else None, "qk_gap_chance": 0.0}
    out["relevance"] = rel_out
    out["two_tower_relevance"] = "same_input"
    out["two_tower_share"], out["qk_gap"] = rel_out["same_input"]["two_tower_share"], rel_out["same_input"]["qk_gap"]
    out["two_tower_chance"] = 0.5
    return out
