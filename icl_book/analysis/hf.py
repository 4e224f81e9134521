"""Read a Hugging Face causal LM into the book's cache names, so the book's analyses run on it.

``hf_cache(model, tokens)`` returns, for a ``transformers`` causal LM (GPT-2, GPT-J, Llama, ...):

    embed                    [B, T, D]      hidden_states[0]
    blocks.{i}.resid_post    [B, T, D]      hidden_states[i + 1] (the last one after the final norm,
                                            as Hugging Face returns it)
    blocks.{i}.attn.pattern  [B, H, T, T]   attentions[i]
    blocks.{i}.attn.k / .v   [B, H, T, Dh]  the layer's key and value cache

``hf_reader(model)`` is the ``reading_fn`` of ``icl_book.analysis.kernel_regression.analyse_prompts``.
Attention weights need the eager attention path: load the model with
``attn_implementation="eager"``. ``transformers`` is an optional dependency (the ``bench`` extra);
this module imports it only when a model is read, and nothing here downloads anything.
"""

from __future__ import annotations

import numpy as np
import torch

from .model_reader import ModelReading


def _key_values(past) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``[(k, v)]`` per layer from a ``Cache`` object (transformers >= 4.36) or a legacy tuple."""
    if hasattr(past, "layers"):                                   # transformers 5: cache.layers[i].keys
        return [(layer.keys, layer.values) for layer in past.layers]
    if hasattr(past, "key_cache"):                                # transformers 4.x DynamicCache
        return list(zip(past.key_cache, past.value_cache))
    return [(k, v) for k, v in past]


@torch.no_grad()
def hf_cache(model, tokens) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``(logits [B, T, V], cache)`` of one forward pass, under the book's names."""
    tokens = torch.as_tensor(tokens)
    if tokens.dim() != 2:
        raise ValueError(f"hf_cache needs token ids [B, T], got shape {tuple(tokens.shape)}")
    out = model(input_ids=tokens, output_attentions=True, output_hidden_states=True, use_cache=True)
    if out.attentions is None or any(a is None for a in out.attentions):
        raise ValueError("the model returned no attention weights: load it with attn_implementation='eager'")
    cache = {"embed": out.hidden_states[0]}
    kv = _key_values(out.past_key_values)
    for i, pattern in enumerate(out.attentions):
        cache[f"blocks.{i}.attn.pattern"] = pattern
        cache[f"blocks.{i}.attn.k"], cache[f"blocks.{i}.attn.v"] = kv[i]
        cache[f"blocks.{i}.resid_post"] = out.hidden_states[i + 1]
    return out.logits, cache


def hf_reader(model, batch: int = 16):
    """``reading_fn(tokens, kv_positions) -> ModelReading`` for a Hugging Face causal LM."""
    def read(tokens, kv_positions=None) -> ModelReading:
        tokens = torch.as_tensor(np.asarray(tokens))
        att, logits, keys, values = [], [], [], []
        for i in range(0, len(tokens), batch):
            out, cache = hf_cache(model, tokens[i:i + batch])
            L = sum(1 for name in cache if name.endswith(".attn.pattern"))
            at = slice(None) if kv_positions is None else torch.as_tensor(kv_positions)
            att.append(torch.stack([cache[f"blocks.{l}.attn.pattern"][:, :, -1] for l in range(L)], 1))
            logits.append(out)
            keys.append(torch.stack([cache[f"blocks.{l}.attn.k"][:, :, at] for l in range(L)], 1))
            values.append(torch.stack([cache[f"blocks.{l}.attn.v"][:, :, at] for l in range(L)], 1))
        cat = lambda xs, dt: torch.cat(xs).to(dt).numpy()                                # noqa: E731
        return ModelReading(cat(att, torch.float64), cat(logits, torch.float32), cat(keys, torch.float32),
                            cat(values, torch.float32))
    return read
