"""Where a trained retrieval model looks: attention at each ``▷`` on the coordinate ``j*`` of the
input it answers for, the quantity the hand-built select head sets to the Bayes weight
``1/|C_n|``."""

from __future__ import annotations

import numpy as np
import torch

from ..bayes.retrieval import consistent_set_sizes, posterior
from ..models.constructions import HARD, noise_temperature
from ..tasks.retrieval import RetrievalPrompts, RetrievalTask


@torch.no_grad()
def attention_on_answer(model, task: RetrievalTask, prompts: RetrievalPrompts,
                        batch_size: int = 100) -> dict[tuple[int, int], np.ndarray]:
    """For each head ``(layer, head)``: the mean over prompts, at the ``▷`` after ``n`` examples
    (``n = 0 .. n_examples``), of the head's attention on coordinate ``j*`` of the input just
    before it, as a fraction of its attention on that whole input (fixed-length inputs).

    Prompts run ``batch_size`` at a time, and a hook on each layer's pattern keeps only the
    entries this needs: memory is one batch's attention, whatever the number of prompts."""
    if task.min_len is not None:
        raise ValueError("attention_on_answer reads fixed-length inputs (min_len = None)")
    total: dict[tuple[int, int], np.ndarray] = {}
    for start in range(0, len(prompts.tokens), batch_size):
        sl = slice(start, start + batch_size)
        query, j_star = prompts.query[sl], prompts.j_star[sl]
        rows = np.arange(len(query))[:, None, None]
        cols = query[:, :, None] - task.d + np.arange(task.d)                 # [B, n + 1, d] the inputs

        def keep(layer):
            def hook(pattern):                                             # [B, H, T, T]
                p = pattern.double().numpy()
                for head in range(p.shape[1]):
                    on_input = p[rows, head, query[..., None], cols]          # [B, n + 1, d]
                    on_j = np.take_along_axis(on_input, np.broadcast_to(j_star[:, None, None],
                                                                         on_input.shape[:2] + (1,)), 2)[..., 0]
                    share = (on_j / on_input.sum(-1).clip(1e-12)).sum(0)
                    total[(layer, head)] = total.get((layer, head), 0.0) + share
            return hook

        model(torch.from_numpy(prompts.tokens[sl]),
              hooks={f"blocks.{layer}.attn.pattern": keep(layer) for layer in range(model.cfg.n_layer)})
    return {key: value / len(prompts.tokens) for key, value in total.items()}


def best_head(mass: dict[tuple[int, int], np.ndarray]) -> tuple[int, int]:
    """The head of ``attention_on_answer``'s result with the most attention on j* at the largest n."""
    return max(mass, key=lambda key: mass[key][-1])


def attention_gap(model, task: RetrievalTask, n_prompts: int = 500, seed: int = 31) -> float:
    """How far the best head's attention on j* (as a share of its attention on the input, at each
    ▷) is from the Bayes weight 1/|C_n|: the mean over n of the distance between the two curves,
    on ``n_prompts`` fresh prompts. Exactly 0 for the hand-built model's select head."""
    prompts = task.sample(n_prompts, seed)
    mass = attention_on_answer(model, task, prompts)
    return float(np.abs(mass[best_head(mass)] - (1 / consistent_set_sizes(prompts, task)).mean(0)).mean())


def window_rule(prompts: RetrievalPrompts, task: RetrievalTask, window: int | None = None) -> np.ndarray:
    """The predictive ``[B, n + 1, vocab]`` of a learner that keeps the coordinates consistent
    with the last ``window`` examples before each query (all of them, if None) and answers
    with the test input's symbol at a uniformly chosen one of them. With ``window=None`` on
    the basic, noise-free format this is the Bayes predictor; ``window=1`` reads one example.

    It reads the examples where the generator put them (``prompts.inputs``): behind a preamble
    or with ``▷`` inside inputs it is a learner *told* the segmentation, a reference level for
    what reading one example is worth, not a predictor of the prompt's tokens alone."""
    if task.min_len is not None or task.label_noise or task.end_delimiter \
            or task.label_alphabet != "shared" or task.sparsity != 1:
        raise ValueError("window_rule reads fixed-length inputs with a shared label alphabet, one delimiter, "
                         "no label noise, 1-sparse")
    J = task.n_candidates
    x = prompts.inputs[..., :J]                                          # [B, n + 1, J]
    match = x == prompts.labels[..., None]                               # [B, n + 1, J]
    B, Q, _ = match.shape
    alive = np.ones((B, Q, J), bool)
    for i in range(1, Q):
        first = 0 if window is None else max(0, i - window)
        alive[:, i] = match[:, first:i].all(1)
    weights = alive / alive.sum(-1, keepdims=True)
    predictive = np.zeros((B, Q, task.vocab_size))
    b, i = np.meshgrid(np.arange(B), np.arange(Q), indexing="ij")
    for j in range(J):
        np.add.at(predictive, (b, i, x[..., j]), weights[..., j])
    return predictive


def agreement(logits: np.ndarray, predictive: np.ndarray) -> np.ndarray:
    """Per n, the fraction of prompts on which the model's answer (argmax of ``logits``) is one
    of the rule's most probable answers."""
    answer = logits.argmax(-1)
    best = np.isclose(predictive, predictive.max(-1, keepdims=True))
    return np.take_along_axis(best, answer[..., None], -1)[..., 0].mean(0)


def trusting_rule(task: RetrievalTask, tokens: np.ndarray, query: np.ndarray, beta: float | None = None) -> np.ndarray:
    """The predictive ``[B, Q, vocab]`` at each query of the learner that takes the format's
    markers at their word (fixed-length inputs): every ``◁`` closes an example (when the format has
    one), or else every token after a ``▷`` is a label; the label and the ``d`` tokens before its
    ``▷`` are read at fixed offsets (a look-back past the start of the prompt reads ``BOS``, which
    matches nothing). It counts each coordinate's matches ``c_j`` over those anchors and answers
    with the test input's symbols weighted by ``softmax(β c)`` (``β`` by default the hand-built
    transformer's: large, or the noise temperature). Where the markers cannot lie
    (``constructions.segmentable``) this is the Bayes predictor; otherwise it is what the
    hand-built transformer computes under ``trust_delimiters=True``, written out in numpy."""
    if task.min_len is not None or task.sparsity != 1:
        raise ValueError("trusting_rule reads 1-sparse retrieval with fixed-length inputs")
    if beta is None:
        beta = noise_temperature(task.q, task.label_noise) if task.label_noise else HARD
    tokens = np.asarray(tokens)
    B, T = tokens.shape
    d, q, J = task.d, task.q, task.n_candidates
    symbols = np.arange(q + 1) if task.rho else np.arange(q)      # with rho > 0, ▷ is a symbol too
    label_back = int(task.end_delimiter)

    def back(offsets: np.ndarray) -> np.ndarray:
        """tokens[b, t - offset] for every t (BOS before the prompt): [B, T, len(offsets)]."""
        src = np.arange(T)[:, None] - offsets[None, :]
        return np.where(src >= 0, tokens[:, np.clip(src, 0, T - 1)], task.bos)

    if task.end_delimiter:
        anchor = tokens == task.end
    else:
        anchor = back(np.array([1]))[..., 0] == task.delim
    label = back(np.array([label_back]))                                   # [B, T, 1]
    x = back(label_back + d + 1 - np.arange(J))                            # [B, T, J]
    x_symbol = np.isin(x, symbols)
    match = anchor[..., None] & x_symbol & (task.label_token(np.where(x_symbol, x, 0)) == label)
    counts = np.cumsum(match, 1)                                         # [B, T, J] anchors up to t
    rows = np.arange(B)[:, None]
    c = counts[rows, query].astype(float)                                # [B, Q, J]
    w = np.exp(beta * (c - c.max(-1, keepdims=True)))
    w /= w.sum(-1, keepdims=True)
    x_test = tokens[rows[..., None], query[..., None] - d + np.arange(J)]  # [B, Q, J]
    eps = task.label_noise
    predictive = np.zeros(query.shape + (task.vocab_size,))
    for a in symbols:
        p_a = (w * (x_test == a)).sum(-1)
        predictive[..., int(task.label_token(a))] = (1 - eps) * p_a + eps / (q - 1) * (1 - p_a)
    return predictive


# ---- how many training prompts a format needs -----------------------------------------------------

def cross_entropy(predictive: np.ndarray, labels: np.ndarray) -> float:
    """The mean, over prompts and queries, of ``-log predictive[label]`` (nats): the training
    loss's quantity, for a reference predictor."""
    p = np.take_along_axis(predictive, labels[..., None], -1)[..., 0]
    return float(-np.log(np.clip(p, 1e-300, None)).mean())


def loss_levels(task: RetrievalTask, prompts: RetrievalPrompts) -> dict[str, float]:
    """The training loss of three reference learners on ``prompts`` of ``task`` (fixed lengths):
    ``bayes``, the exact predictor (segmentation summed over); ``one_example``, the rule that
    reads only the example before each query, told where it is (the d = 4 model's second
    plateau); and ``target``, half-way between the two: a loss that no learner reading a single
    example reaches, and that a learner aggregating across examples passes on its way to Bayes."""
    bayes = cross_entropy(posterior(task, prompts.tokens, prompts.query).predictive, prompts.labels)
    one = cross_entropy(window_rule(prompts, task, window=1), prompts.labels)
    return {"bayes": bayes, "one_example": one, "target": (bayes + one) / 2}


def prompts_to_target(history: list[dict], target: float, batch_size: int, cap_step: int) -> int | None:
    """Training prompts seen when the logged training loss first falls to ``target`` or below,
    reading ``history`` (``{"step", "loss"}`` records, each the mean loss since the last one) up to
    ``cap_step``; None if it never does by then (censored at the cap).

    Every training batch is a fresh draw from the generator and its loss is taken before the
    update, so the logged loss is a held-out loss of the model of the moment (``log_every`` batches
    of it): reading the target off it needs no extra evaluation."""
    logged = [h for h in history if h["step"] <= cap_step]
    if not logged or logged[-1]["step"] != cap_step:
        raise ValueError(f"the history stops at step {logged[-1]['step'] if logged else 0}, before the cap "
                         f"{cap_step}: the run is too short to be read at this cap")
    for h in logged:
        if h["loss"] <= target:
            return h["step"] * batch_size
    return None


def slower_fraction(slow: list[int | None], fast: list[int | None]) -> float:
    """The fraction of pairs (a run of ``slow``, a run of ``fast``) in which the first needed more
    training prompts than the second (ties count one half); a run that never reached the target
    (None) needed more than any that did, and ties with another such run. With three runs a side,
    1.0 (every pair ordered) is the exact one-sided rank test's p = 1/20; 0.5 is no difference."""
    if not slow or not fast:
        raise ValueError("slower_fraction needs at least one run on each side")
    inf = float("inf")
    score = 0.0
    for a in slow:
        for b in fast:
            a_, b_ = inf if a is None else a, inf if b is None else b
            score += 1.0 if a_ > b_ else 0.5 if a_ == b_ else 0.0
    return score / (len(slow) * len(fast))
