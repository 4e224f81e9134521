"""Reading a trained transformer for analysis: one cached forward pass over a batch of prompts,
kept as arrays (``ModelReading``): the last position's attention in every layer and head, the
outputs at every position, and on request the keys and values. ``icl_book.analysis.hf`` fills the
same record from a Hugging Face causal LM, so every analysis that takes a reading runs on both."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True, eq=False)
class ModelReading:
    attention: np.ndarray          # [P, L, H, T] the last position's attention, every layer and head
    logits: np.ndarray             # [P, T, V] outputs at every position
    keys: np.ndarray | None        # [P, L, H, T, Dh] (only with keep_kv)
    values: np.ndarray | None      # [P, L, H, T, Dh]

    @property
    def prediction(self) -> np.ndarray:
        return self.logits[:, -1].argmax(-1)


@torch.no_grad()
def read_model(model, inputs, batch: int = 64, keep_kv: bool = False, kv_positions=None) -> ModelReading:
    """One cached forward pass of the book's ``Transformer`` over ``inputs`` (token ids ``[P, T]`` or
    vectors ``[P, T, d]``), in batches; ``kv_positions`` keeps keys and values at those positions only."""
    inputs = torch.as_tensor(inputs)
    n_layer = model.cfg.n_layer
    att, logits, keys, values = [], [], [], []
    for i in range(0, len(inputs), batch):
        out, cache = model(inputs[i:i + batch], cache=True)
        att.append(torch.stack([cache[f"blocks.{l}.attn.pattern"][:, :, -1] for l in range(n_layer)], 1))
        logits.append(out)
        if keep_kv:
            at = slice(None) if kv_positions is None else torch.as_tensor(kv_positions)
            keys.append(torch.stack([cache[f"blocks.{l}.attn.k"][:, :, at] for l in range(n_layer)], 1))
            values.append(torch.stack([cache[f"blocks.{l}.attn.v"][:, :, at] for l in range(n_layer)], 1))
    # attention and outputs keep the model's precision (a vote and the argmax must see the same
    # numbers); keys and values, only probed, are stored in float32
    cat = lambda xs, dt=None: torch.cat(xs).to(dt or xs[0].dtype).numpy() if xs else None   # noqa: E731
    return ModelReading(cat(att), cat(logits), cat(keys, torch.float32), cat(values, torch.float32))


def book_reader(model, batch: int = 64):
    """``reading_fn`` for ``analysis.kernel_regression.analyse_prompts`` on the book's ``Transformer``."""
    return lambda tokens, kv_positions: read_model(model, tokens, batch=batch, keep_kv=True,
                                                   kv_positions=kv_positions)
