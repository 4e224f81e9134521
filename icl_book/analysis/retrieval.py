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
    dtype = next(model.parameters()).dtype
    _, acts = model(torch.from_numpy(prompts.tokens), cache=True)
    B = len(prompts.tokens)
    rows = np.arange(B)[:, None]
    cols = prompts.query[:, :, None] - task.d + np.arange(task.d)           # [B, n + 1, d] the inputs
    mass = {}
    for layer in range(model.cfg.n_layer):
        pattern = acts[f"blocks.{layer}.attn.pattern"].to(dtype).numpy()    # [B, H, T, T]
        for head in range(pattern.shape[1]):
            on_input = pattern[rows[..., None], head, prompts.query[..., None], cols]   # [B, n + 1, d]
            on_j = np.take_along_axis(on_input, np.broadcast_to(prompts.j_star[:, None, None],
                                                                 on_input.shape[:2] + (1,)), 2)[..., 0]
            mass[(layer, head)] = (on_j / on_input.sum(-1).clip(1e-12)).mean(0)
    return mass
