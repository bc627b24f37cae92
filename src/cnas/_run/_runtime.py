"""The run-time part of a run's configuration: how it runs, not what it computes (a
resumed run may change it)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import distributed as dist_utils
from .._config import Config, setting
from .._progress import show_progress_by_default
from ..errors import ConfigError

__all__ = ["RuntimeConfig"]


@dataclass(frozen=True)
class RuntimeConfig(Config):
    """How a run runs: its device, loader workers, progress bars and outputs. None of it
    changes what the run computes, so a resumed run may change any of it.

    Attributes:
        device: Where the run computes: `cpu`, `cuda`, `cuda:1`, `mps`, ... Unset:
            `cuda:LOCAL_RANK` when CUDA is available (under `torchrun` each process its
            own GPU), else the CPU.
        num_workers: `DataLoader` worker processes (0: load in the main process).
        progress: Show tqdm progress bars. Unset: when standard error is a terminal or
            the code runs in a Jupyter notebook (widgets with ipywidgets, else text).
        channels_last: Run the network in channels-last memory format (faster on CPUs
            and GPUs; the same results up to rounding).
        tensorboard: Write TensorBoard events to the run's `tensorboard/` folder. Unset:
            when the `tensorboard` package is installed.
    """

    device: str | None = setting(None, flags=("--device",), nonempty=True, metavar="DEVICE")
    num_workers: int = setting(0, flags=("--num-workers", "--num_workers"), minimum=0)
    progress: bool | None = setting(None, flags=("--progress",))
    channels_last: bool = setting(True, flags=("--channels-last",))
    tensorboard: bool | None = setting(None, flags=("--tensorboard",))

    def validate(self) -> None:
        """The device must be one torch can name."""
        if self.device is not None:
            try:
                if "\0" in self.device:
                    raise ValueError("a NUL character")
                torch.device(self.device)
            except (RuntimeError, ValueError):
                raise ConfigError(
                    "device", f"{self.device!r} is not a device; use cpu, cuda, cuda:1, mps, ..."
                ) from None

    def resolve_device(self) -> torch.device:
        """The device to run on, checked to exist here (``resolve_device``).

        Raises:
            ConfigError: a device this machine does not have.
        """
        try:
            return dist_utils.resolve_device(self.device)
        except ValueError as exc:
            raise ConfigError("device", str(exc)) from None

    def show_progress(self) -> bool:
        """Whether to show progress bars (``progress``, else on a terminal or in a
        notebook)."""
        return show_progress_by_default() if self.progress is None else self.progress
