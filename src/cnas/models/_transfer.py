"""Network transfers with bounded time: every request cnas makes for weights.

Each transfer runs in a short-lived worker process (``_hub_worker.py``) that reports its
progress; this side draws the progress bar and ends the worker when the transfer
stalls. The bounds are settings, read from the environment at each transfer:

``CNAS_HUB_CONNECT_TIMEOUT`` (10 s)
    Longest wait to open a connection.
``CNAS_HUB_READ_TIMEOUT`` (10 s)
    Longest wait for the next bytes of an answer, each time.
``CNAS_HUB_STALL_SECONDS`` (60 s) and ``CNAS_HUB_MIN_RATE`` (1024 bytes/s)
    A transfer that brings fewer than ``MIN_RATE x STALL_SECONDS`` bytes in any
    ``STALL_SECONDS`` (from its start, answers and retries included) is given up: a
    server that accepts and never answers, or trickles, costs at most ``STALL_SECONDS``.

Whatever the worker meets (timeouts, resets, redirect loops, malformed answers) comes
back as a ``TransferError`` with a kind and one line; ``_download`` turns it into the
documented ``WeightsNotFoundError``.
"""

from __future__ import annotations

import json
import math
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .._progress import progress_bar

__all__ = ["LIMIT_VARIABLES", "TransferError", "TransferLimits", "transfer"]

_WORKER = Path(__file__).with_name("_hub_worker.py")
# Run the worker by path with its own folder off sys.path (it would shadow nothing
# today, but cnas/models holds modules named like private stdlib ones could be).
_LAUNCH = "import runpy, sys; runpy.run_path(sys.argv.pop(1), run_name='__main__')"

LIMIT_VARIABLES = {
    "connect": ("CNAS_HUB_CONNECT_TIMEOUT", 10.0),
    "read": ("CNAS_HUB_READ_TIMEOUT", 10.0),
    "stall": ("CNAS_HUB_STALL_SECONDS", 60.0),
    "min_rate": ("CNAS_HUB_MIN_RATE", 1024.0),
}
"""Each bound: the environment variable that sets it and its default."""


@dataclass(frozen=True)
class TransferLimits:
    """The bounds of one transfer (seconds; ``min_rate`` in bytes per second)."""

    connect: float = 10.0
    read: float = 10.0
    stall: float = 60.0
    min_rate: float = 1024.0

    @classmethod
    def from_environment(cls) -> TransferLimits:
        """The limits the ``CNAS_HUB_*`` variables set, defaults for those unset.

        Raises:
            ValueError: a variable that is not a positive number of seconds (or, for
                ``CNAS_HUB_MIN_RATE``, a number of bytes per second, 0 allowed).
        """
        values: dict[str, float] = {}
        for field, (variable, default) in LIMIT_VARIABLES.items():
            text = os.environ.get(variable, "").strip()
            if not text:
                values[field] = default
                continue
            try:
                value = float(text)
            except ValueError:
                value = math.nan
            low_ok = value >= 0 if field == "min_rate" else value > 0
            if not (math.isfinite(value) and low_ok):
                raise ValueError(f"{variable} must be a positive number, got {text[:40]!r}")
            values[field] = value
        return cls(**values)


class TransferError(Exception):
    """A transfer that failed: ``kind`` is ``local``, ``repository``, ``revision``,
    ``file``, ``stalled`` or ``other``; the message is one line."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class _Stall:
    """The stall rule: at least ``min_rate x stall`` bytes in every ``stall`` seconds."""

    def __init__(self, limits: TransferLimits) -> None:
        self.limits = limits
        self.start = time.monotonic()
        self.received = 0
        self.samples: deque[tuple[float, int]] = deque([(self.start, 0)])

    def add(self, n: int) -> None:
        self.received += n
        self.samples.append((time.monotonic(), self.received))

    def check(self) -> None:
        now = time.monotonic()
        window = self.limits.stall
        if now - self.start < window:
            return
        while len(self.samples) > 1 and self.samples[1][0] <= now - window:
            self.samples.popleft()
        moved = self.received - self.samples[0][1]
        if moved >= self.limits.min_rate * window:
            return
        if self.received == 0:
            raise TransferError("stalled", f"no data came in {window:g} s; gave up")
        raise TransferError(
            "stalled",
            f"stalled after {self.received} bytes ({moved} in the last {window:g} s, under "
            f"{self.limits.min_rate:g} bytes/s); gave up",
        )


def _progress_bar(total: int, name: str, progress: bool) -> Any:
    return progress_bar(
        show=None if progress else False,
        total=total,
        desc=name,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        leave=False,
    )


def _read_lines(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def _tail(errors: IO[str]) -> str:
    """The last line the worker wrote to stderr, for a worker that ended without answering."""
    try:
        errors.seek(0)
        text = errors.read().strip()
    except (OSError, ValueError):
        return ""
    return f": {text.splitlines()[-1][:300]}" if text else ""


def transfer(
    request: dict[str, Any],
    *,
    what: str,
    name: str,
    progress: bool,
    limits: TransferLimits | None = None,
) -> dict[str, Any]:
    """Run one worker request (``operation`` and its fields) within ``limits``.

    Returns:
        The worker's result record (``path`` or ``etag``).

    Raises:
        TransferError: the worker's failure, a stall, or a worker that ended without an
            answer.
    """
    limits = limits or TransferLimits.from_environment()
    request = {**request, "connect": limits.connect, "read": limits.read}
    stall = _Stall(limits)
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as errors:
        process = subprocess.Popen(
            [sys.executable, "-c", _LAUNCH, str(_WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            encoding="utf-8",
        )
        try:
            return _follow(process, request, stall, what, name, progress, errors)
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
            assert process.stdout is not None
            process.stdout.close()


def _follow(
    process: subprocess.Popen[str],
    request: dict[str, Any],
    stall: _Stall,
    what: str,
    name: str,
    progress: bool,
    errors: IO[str],
) -> dict[str, Any]:
    assert process.stdin is not None
    assert process.stdout is not None
    try:
        process.stdin.write(json.dumps(request))
        process.stdin.close()
    except OSError as exc:
        raise TransferError("other", f"the download worker did not start: {exc}") from None
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True).start()
    bar = None
    try:
        while True:
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                stall.check()
                continue
            if line is None:
                raise TransferError(
                    "other",
                    f"the download worker for {what} ended without an answer{_tail(errors)}",
                )
            try:
                record = json.loads(line)
            except ValueError:  # something else printed to stdout
                continue
            if not isinstance(record, dict):
                continue
            if "total" in record:
                bar = bar or _progress_bar(int(record["total"]), name, progress)
            elif "bytes" in record:
                stall.add(int(record["bytes"]))
                if bar is not None:
                    bar.update(int(record["bytes"]))
            elif "error" in record:
                raise TransferError(str(record["error"]), str(record["message"]))
            else:
                return dict(record)
            stall.check()
    finally:
        if bar is not None:
            bar.close()
