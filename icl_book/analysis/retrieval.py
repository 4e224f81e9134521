"""Where a trained retrieval model looks: attention at each ``▷`` on the coordinate ``j*`` of the
input it answers for, the quantity the hand-built select head sets to the Bayes weight
``1/|C_n|``."""

from __future__ import annotations

import numpy as np
import torch

from ..tasks.retrieval import RetrievalPrompts, RetrievalTask


@torch.no_grad()
def attention_on_answer(model, task: RetrievalTask, prompts: RetrievalPrompts) -> dict[tuple[int, int], np.ndarray]:
    """For each head ``(layer, head)``: the mean over prompts, at the ``▷`` after ``n`` examples
    (``n = 0 .. n_examples``), of the head's attention on coordinate ``j*`` of the input just
    before it, as a fraction of its attention on that whole input (fixed-length inputs)."""
    if task.min_len is not None:
        raise ValueError("attention_on_answer reads fixed-length inputs (min_len = None)")
    _, acts = model(torch.from_numpy(prompts.tokens), cache=True)
    B = len(prompts.tokens)
    rows = np.arange(B)[:, None]
    cols = prompts.query[:, :, None] - task.d + np.arange(task.d)           # [B, n + 1, d] the inputs
    mass = {}
    for layer in range(model.cfg.n_layer):
        pattern = acts[f"blocks.{layer}.attn.pattern"].numpy()    # [B, H, T, T]
        for head in range(pattern.shape[1]):
            on_input = pattern[rows[..., None], head, prompts.query[..., None], cols]   # [B, n + 1, d]
            on_j = np.take_along_axis(on_input, np.broadcast_to(prompts.j_star[:, None, None],
                                                                 on_input.shape[:2] + (1,)), 2)[..., 0]
            mass[(layer, head)] = (on_j / on_input.sum(-1).clip(1e-12)).mean(0)
    return mass


def window_rule(prompts: RetrievalPrompts, task: RetrievalTask, window: int | None = None) -> np.ndarray:
    """The predictive ``[B, n + 1, vocab]`` of a learner that keeps the coordinates consistent
    with the last ``window`` examples before each query (all of them, if None) and answers
    with the test input's symbol at a uniformly chosen one of them. With ``window=None`` on
    the basic, noise-free format this is the Bayes predictor; ``window=1`` reads one example."""
    if task.min_len is not None or task.preamble or task.rho or task.label_noise or task.end_delimiter \
            or task.label_alphabet != "shared" or task.sparsity != 1:
        raise ValueError("window_rule reads the basic format (fixed lengths, no preamble, a unique delimiter, "
                         "no label noise, 1-sparse)")
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
