"""More than one process: the same ``train`` under ``torchrun`` uses DistributedDataParallel.

torchrun sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous address; we pick gloo
on CPU and nccl on GPU. Each rank trains on its own shard of every epoch's permutation; rank 0
validates, logs and writes checkpoints, and broadcasts its decisions (stop or go on).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> DistContext:
        """Join the process group when launched by torchrun; a plain run is rank 0 of 1."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        if not dist.is_initialized():
            backend = "nccl" if torch.cuda.is_available() else "gloo"
            dist.init_process_group(backend=backend)
        return cls(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))

    def shard(self, positions: np.ndarray) -> np.ndarray:
        """This rank's share of an epoch's ``positions``: equal lengths on every rank (the
        permutation is padded by wrapping around, as torch's DistributedSampler does)."""
        if not self.enabled:
            return positions
        per_rank = -(-len(positions) // self.world_size)
        padded = np.resize(positions, per_rank * self.world_size)
        return padded[self.rank :: self.world_size]

    def broadcast_flag(self, flag: bool) -> bool:
        """Rank 0's ``flag`` on every rank."""
        if not self.enabled:
            return flag
        t = torch.tensor([int(flag)])
        dist.broadcast(t, src=0)
        return bool(t.item())

    def sync_buffers(self, module: torch.nn.Module) -> None:
        """Give every rank rank 0's buffers (BatchNorm statistics drift apart after the last
        forward, since DDP broadcasts them only at the start of each forward)."""
        if self.enabled:
            for buf in module.buffers():
                dist.broadcast(buf, src=0)

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def all_mean(self, value: float) -> float:
        if not self.enabled:
            return value
        t = torch.tensor([value], dtype=torch.float64)
        dist.all_reduce(t)
        return float(t.item()) / self.world_size
