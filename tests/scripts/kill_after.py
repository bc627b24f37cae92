"""A dataset wrapper that kills its process abruptly: the resume tests' SIGKILL."""

from __future__ import annotations

import os
import signal
from typing import Any

from torch.utils.data import Dataset


class KillAfter(Dataset):  # type: ignore[type-arg]
    """Sends SIGKILL to this process when the N-th item is read: a real, abrupt kill."""

    count = 0

    def __init__(self, base: Any, limit: int) -> None:
        self.base, self.limit = base, limit

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> Any:
        KillAfter.count += 1
        if KillAfter.count >= self.limit:
            os.kill(os.getpid(), signal.SIGKILL)
        return self.base[i]
