"""Data-parallel helpers for the training loop (``torchrun --nproc-per-node N``): this process's
rank, the mean over processes, a barrier, and this process's rows of a global batch. In one
process each is the identity."""

from __future__ import annotations

import torch


def world() -> tuple[int, int]:
    """``(rank, world size)`` of this process: ``(0, 1)`` unless ``torch.distributed`` is
    initialised with several processes (``torchrun --nproc-per-node N``)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def global_mean(x: torch.Tensor) -> torch.Tensor:
    """The mean of ``x`` over the processes of a data-parallel run (``x`` itself in one process)."""
    rank, size = world()
    if size == 1:
        return x
    import torch.distributed as dist

    x = x.detach().float().clone()
    dist.all_reduce(x)
    return x / size


def barrier() -> None:
    if world()[1] > 1:
        import torch.distributed as dist

        dist.barrier()


def shard(batch, rank: int, size: int):
    """This process's rows of a global batch (every leaf split along its first axis)."""
    if size == 1:
        return batch
    from torch.utils._pytree import tree_map

    def rows(t):
        n = t.shape[0] // size
        return t[rank * n:(rank + 1) * n]
    return tree_map(rows, batch)
