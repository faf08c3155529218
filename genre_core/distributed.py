"""Data-parallel training under `torchrun`: process group, sharding and rank-0 duties.

`torchrun --nproc_per_node N -m genre_core train --config FILE` starts N
processes and sets RANK, LOCAL_RANK, WORLD_SIZE and LOCAL_WORLD_SIZE in each.
Every process builds the same model from the same seed and draws the same
permutation of training users each epoch. Process r then takes every N-th user
of each global batch, starting at r. DistributedDataParallel averages the
gradients, so one step still covers `training.batch_size` users in all and an
epoch has as many steps as a single-process epoch. Only rank 0 validates (the
result is broadcast, so early stopping agrees everywhere), logs at INFO and
writes the registry.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

log = logging.getLogger(__name__)

ENVIRONMENT_KEYS = ("RANK", "LOCAL_RANK", "WORLD_SIZE")


class DistributedSetupError(RuntimeError):
    """The process layout does not fit the machine or the backend."""


@dataclass(frozen=True)
class DistributedContext:
    """Rank, group size, backend and training device of this process."""

    rank: int
    local_rank: int
    world_size: int
    backend: str
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, batch_users: np.ndarray) -> np.ndarray:
        """Take this rank's share of one global batch; a rank left without users repeats the first one.

        Every rank must run the same number of steps, or the gradient all-reduce
        waits forever, so a short last batch is padded the way DistributedSampler pads.
        """
        share = batch_users[self.rank::self.world_size]
        return share if len(share) else batch_users[:1]

    def broadcast(self, value: object) -> object:
        """Send `value` from rank 0 to every rank and return it."""
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def mean(self, value: float) -> float:
        """Average a number over all ranks."""
        tensor = torch.tensor([value], dtype=torch.float64, device=self.device if self.backend == "nccl" else "cpu")
        dist.all_reduce(tensor)
        return float(tensor.item()) / self.world_size

    def barrier(self) -> None:
        if self.backend == "nccl":
            dist.barrier(device_ids=[self.local_rank])
        else:
            dist.barrier()


def launched_by_torchrun() -> bool:
    """True when the environment describes a process group of more than one process."""
    return all(key in os.environ for key in ENVIRONMENT_KEYS) and int(os.environ["WORLD_SIZE"]) > 1


def choose_backend(device_name: str) -> str:
    """NCCL when the processes train on CUDA GPUs, gloo on CPU."""
    if device_name == "cpu":
        return "gloo"
    if device_name == "auto":
        return "nccl" if torch.cuda.is_available() else "gloo"
    if device_name.startswith("cuda"):
        return "nccl"
    raise DistributedSetupError(
        f"config key 'training.device': {device_name!r} cannot be used by several processes; use auto, cpu or cuda"
    )


def check_layout(backend: str, local_world_size: int, gpu_count: int) -> None:
    """Reject more processes on this machine than GPUs when the backend is NCCL (one GPU per process)."""
    if backend != "nccl":
        return
    if gpu_count == 0:
        raise DistributedSetupError(
            "NCCL needs CUDA GPUs, but none is visible; set training.device: cpu to train with gloo on the CPU"
        )
    if local_world_size > gpu_count:
        raise DistributedSetupError(
            f"{local_world_size} processes on this machine but only {gpu_count} CUDA device(s); NCCL needs one GPU "
            f"per process, so use torchrun --nproc_per_node {gpu_count} (or training.device: cpu for gloo)"
        )


def start(device_name: str) -> DistributedContext:
    """Join the process group that torchrun described in the environment (initialising it once)."""
    rank, local_rank = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    world_size = int(os.environ["WORLD_SIZE"])
    local_world_size = int(os.environ.get("LOCAL_WORLD_SIZE", world_size))
    backend = choose_backend(device_name)
    check_layout(backend, local_world_size, torch.cuda.device_count() if backend == "nccl" else 0)

    if backend == "nccl":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, device_id=device if backend == "nccl" else None)
    if rank != 0:
        # Other ranks keep warnings and errors but not the INFO lines rank 0 already prints.
        logging.getLogger("genre_core").setLevel(logging.WARNING)
    log.info("process group started: %d processes, backend %s, rank 0 on %s", world_size, backend, device)
    return DistributedContext(rank, local_rank, world_size, backend, device)


def stop() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def wrap_model(model: torch.nn.Module, context: DistributedContext) -> torch.nn.Module:
    """Return `forward(item_inputs, batch) -> scores` of `model` in DistributedDataParallel.

    Rank 0's parameters are broadcast to every rank when the wrapper is built.
    """
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [context.local_rank] if context.backend == "nccl" else None
    # NOTE: every trainable parameter must receive a gradient in every step (true of the
    # configurations the tests run); a model with unused ones needs find_unused_parameters=True.
    return DistributedDataParallel(TrainingForward(model), device_ids=device_ids)


class TrainingForward(torch.nn.Module):
    """One training forward pass (item vectors, user vectors, scores) as a module for DDP to wrap.

    DistributedDataParallel synchronises gradients only for work done inside its
    wrapped module's forward, so the three model calls of a step go through here.
    """

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, item_inputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        item_vectors = self.model.item_vectors(item_inputs)
        return self.model.score(self.model.user_vectors(item_vectors, batch), item_vectors)
