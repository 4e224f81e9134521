"""Running a model over many prompts: the one helper every evaluation goes through."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch


@torch.no_grad()
def batched(model: torch.nn.Module, read: Callable[..., torch.Tensor], *arrays, batch_size: int = 256) -> torch.Tensor:
    """``read(model, *chunks)`` on consecutive slices of ``arrays`` (tensors or numpy arrays of one
    length; each slice moved to the model's device), concatenated along the first axis on the CPU.

    Memory stays bounded by one batch and no graph is kept: ``read`` picks what it needs from the
    forward pass (the last position's argmax, the logits at the queries) before the next batch."""
    if not arrays or len({len(a) for a in arrays}) != 1:
        raise ValueError(f"batched needs arrays of one length, got lengths {[len(a) for a in arrays]}")
    if batch_size < 1:
        raise ValueError(f"batched needs batch_size >= 1, got {batch_size}")
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(arrays[0]), batch_size):
        chunks = [torch.from_numpy(np.ascontiguousarray(a[i:i + batch_size])) if isinstance(a, np.ndarray)
                  else a[i:i + batch_size] for a in arrays]
        out.append(read(model, *(c.to(device) for c in chunks)).cpu())
    return torch.cat(out)
