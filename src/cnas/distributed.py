"""Helpers for ``torchrun`` / ``torch.distributed`` (NCCL on GPUs, gloo on CPUs).

Run a search or a training job on several processes with, for example:

    torchrun --nproc_per_node=2 -m cnas search --dataset digits -o runs/ddp

Every process builds the same models from the same seed; these helpers average what
must agree (gradients, rewards, metrics) so all ranks follow the same trajectory.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

from .ops import _switch_batchnorm as switch_batchnorm

__all__ = [
    "CPUSyncBatchNorm",
    "all_reduce_mean",
    "average_gradients",
    "barrier",
    "broadcast_modules",
    "default_device",
    "init_from_env",
    "is_distributed",
    "is_main_process",
    "rank",
    "resolve_device",
    "sync_batchnorm",
    "world_size",
]


def is_distributed() -> bool:
    """Whether a process group with more than one process is running."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank (0 when not distributed)."""
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    """The number of processes (1 when not distributed)."""
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    """True on rank 0: the process that writes files and logs."""
    return rank() == 0


def init_from_env(device: torch.device | str | None = None) -> bool:
    """Join the process group ``torchrun`` describes in the environment, if any.

    Uses NCCL for CUDA devices and gloo otherwise; a no-op without ``WORLD_SIZE > 1`` or
    when a group already exists.

    Returns:
        Whether this process is part of a multi-process group.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or not dist.is_available():
        return False
    if not dist.is_initialized():
        dev = torch.device(device) if device is not None else None
        backend = "nccl" if dev is not None and dev.type == "cuda" else "gloo"
        if dev is not None and dev.type == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend=backend)
    return is_distributed()


def default_device() -> torch.device:
    """This process's device: ``cuda:LOCAL_RANK`` when CUDA is available, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def all_reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    """Average ``tensor`` in place over all processes and return it."""
    if is_distributed():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        tensor /= world_size()
    return tensor


def average_gradients(parameters: list[torch.nn.Parameter]) -> None:
    """Average the gradients of ``parameters`` over all processes, in one flat all-reduce.

    Only parameters with a gradient take part; in a single-path supernet step every rank
    trains the same architecture, so the set is the same on every rank.
    """
    if not is_distributed():
        return
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    all_reduce_mean(flat)
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset : offset + n].view_as(g))
        offset += n


class CPUSyncBatchNorm(torch.nn.BatchNorm2d):
    """BatchNorm whose training statistics cover the batches of all processes (gloo/CPU).

    ``torch.nn.SyncBatchNorm`` runs on GPUs only; this one all-reduces the per-channel sum,
    sum of squares and count with the differentiable ``all_reduce``, so gradients flow
    through the global statistics too. Parameters and buffers are BatchNorm2d's.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalize with global batch statistics in training, running ones in eval."""
        if not (self.training and is_distributed()):
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce

        c = x.shape[1]
        count = x.new_tensor([x.numel() / c])
        local = torch.cat([x.sum((0, 2, 3)), (x * x).sum((0, 2, 3)), count])
        stats: torch.Tensor = all_reduce(local)  # type: ignore[no-untyped-call]
        n = stats[-1]
        mean = stats[:c] / n
        var = stats[c : 2 * c] / n - mean * mean
        if self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                m = self.momentum if self.momentum is not None else 0.1
                self.running_mean.mul_(1 - m).add_(m * mean.detach())
                unbiased = var.detach() * n / torch.clamp(n - 1, min=1)
                self.running_var.mul_(1 - m).add_(m * unbiased)  # type: ignore[union-attr]
                self.num_batches_tracked.add_(1)  # type: ignore[union-attr]
        y = (x - mean[None, :, None, None]) * torch.rsqrt(var + self.eps)[None, :, None, None]
        if self.affine:
            y = y * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        return y


def sync_batchnorm(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Make ``module``'s BatchNorms use statistics over all processes.

    GPUs get ``torch.nn.SyncBatchNorm``; CPUs ``CPUSyncBatchNorm`` (same parameters and
    state-dict keys, switched in place).
    """
    if device.type == "cuda":
        return torch.nn.SyncBatchNorm.convert_sync_batchnorm(module)  # type: ignore[no-untyped-call, no-any-return]
    return switch_batchnorm(module, CPUSyncBatchNorm)


def barrier() -> None:
    """Wait for all processes (a no-op when not distributed)."""
    if is_distributed():
        dist.barrier()


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``device`` as a ``torch.device`` that exists here; ``None``: ``default_device()``
    (``cuda:LOCAL_RANK`` under ``torchrun``, the search's and the training's default alike).

    Raises:
        ValueError: not a device name, or a device this machine does not have.
    """
    if device is None or device == "":
        return default_device()
    try:
        resolved = torch.device(device)
    except (RuntimeError, ValueError):
        raise ValueError(f"{device!r} is not a device; use cpu, cuda, cuda:1, mps, ...") from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"{device}: no CUDA device is available here")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise ValueError(
                f"{device}: this machine has {torch.cuda.device_count()} CUDA device(s)"
            )
    elif resolved.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"{device}: MPS is not available here")
    return resolved


def broadcast_modules(modules: list[torch.nn.Module]) -> None:
    """Copy rank 0's parameters and buffers of ``modules`` to every rank."""
    for module in modules:
        for tensor in [*module.parameters(), *module.buffers()]:
            dist.broadcast(tensor.data, src=0)
