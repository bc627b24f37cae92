"""How a study starts its runs: on Linux a fork of the study process (torch is imported
once, which costs seconds per run otherwise), elsewhere a new Python process
(``python -m cnas.study._execute``); either way the library runs the run's configuration
file in its own process, with its own threads and its log as its output, and the run dies
with the study (no orphan keeps a run folder locked)."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import platform
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "FORK",
    "PARENT_VARIABLE",
    "THREAD_VARIABLES",
    "Handle",
    "environment",
    "fork_can_train",
    "release_openmp",
    "start",
    "wait_any",
    "warm_up",
]


def environment(jobs: int, threads: int) -> dict[str, Any]:
    """What the study ran on: versions, machine, device, processes and threads."""
    import torch
    import torchvision  # type: ignore[import-untyped]

    from .._version import __version__

    device = "cpu"
    if torch.cuda.is_available():
        device = f"cuda ({torch.cuda.get_device_name(0)})"
    return {
        "cnas": __version__,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "device": device,
        "jobs": jobs,
        "threads_per_job": threads,
    }


FORK = sys.platform.startswith("linux") and not os.environ.get("CNAS_STUDY_SUBPROCESS")
"""Runs are forks of the study process on Linux (torch imported once), else new processes
(``CNAS_STUDY_SUBPROCESS=1`` asks for those on Linux too)."""

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def warm_up() -> None:
    """Import what every run needs before forking, once (torch's optimizers import
    ``torch._dynamo`` on first use: seconds)."""
    if not FORK:
        return
    import torch

    from .. import data, models, search, training  # noqa: F401

    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)


def _run_in_child(
    task: tuple[str, str, str], folder: str, log: str, threads: int
) -> None:  # pragma: no cover
    """In a forked run: its log as stdout and stderr, its threads, then the run."""
    import torch

    from ._execute import execute

    with contextlib.suppress(OSError, AttributeError):  # a run dies with its study
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0))
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    # new streams on the log: the inherited ones may write elsewhere (a test runner's capture)
    sys.stdout = open(1, "w", encoding="utf-8", errors="replace", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", encoding="utf-8", errors="replace", buffering=1, closefd=False)  # noqa: SIM115
    os.chdir(folder)
    for var in THREAD_VARIABLES:
        os.environ[var] = str(threads)
    torch.set_num_threads(threads)
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("cnas").setLevel(logging.INFO)
    code = 1
    try:
        code = execute(*task)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


@dataclass
class Handle:
    """A started run: a forked process or a new one."""

    run: Any  # the StudyRun
    started: float
    process: Any = None
    popen: subprocess.Popen[bytes] | None = None

    def exit_status(self) -> int:
        """The exit status, as a shell gives it (128 + N for a run killed by signal N)."""
        if self.process is not None:
            code = self.process.exitcode
        else:
            assert self.popen is not None
            code = self.popen.returncode
        return 1 if code is None else (code if code >= 0 else 128 - code)

    def finished(self) -> bool:
        if self.process is not None:
            return self.process.exitcode is not None
        assert self.popen is not None
        return self.popen.poll() is not None

    def kill(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            if self.process is not None:
                self.process.kill()
                self.process.join()
            elif self.popen is not None:
                self.popen.kill()
                self.popen.wait()


def wait_any(handles: list[Handle]) -> list[Handle]:
    """Block until at least one of ``handles`` ends; return those that ended."""
    from multiprocessing.connection import wait as wait_sentinels

    while True:
        sentinels = [h.process.sentinel for h in handles if h.process is not None]
        if sentinels:
            wait_sentinels(sentinels, timeout=None if len(sentinels) == len(handles) else 0.2)
        else:
            with contextlib.suppress(subprocess.TimeoutExpired):
                assert handles[0].popen is not None
                handles[0].popen.wait(timeout=0.2)
        ended = [h for h in handles if h.finished()]
        for h in ended:
            if h.process is not None:
                h.process.join()
        if ended:
            return ended


def start(run: Any, folder: Path, log: Path, threads: int) -> Handle:
    """Start ``run`` (a ``StudyRun``) in ``folder``, its output appended to ``log``."""
    task = (run.kind, run.config, run.output)
    if FORK and fork_can_train():
        import multiprocessing

        if not release_openmp():
            threads = 1  # what PyTorch's DataLoader workers do: no pool, no wait
        context = multiprocessing.get_context("fork")
        process = context.Process(target=_run_in_child, args=(task, str(folder), str(log), threads))
        process.start()
        return Handle(run, time.perf_counter(), process=process)
    env = dict(os.environ)
    for var in THREAD_VARIABLES:
        env[var] = str(threads)
    env[PARENT_VARIABLE] = str(os.getpid())  # the run ends itself once the study is gone
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0))
    with open(fd, "ab") as handle:
        popen = subprocess.Popen(
            [sys.executable, "-m", "cnas.study._execute", *task],
            cwd=folder,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
    return Handle(run, time.perf_counter(), popen=popen)


_FORK_BROKEN: list[bool] = []


def fork_can_train() -> bool:
    """Whether a fork of this process can run autograd: torch refuses ``backward`` in a
    forked child once the parent has started autograd's worker threads (``Unable to
    handle autograd's threading in combination with fork-based multiprocessing``; a
    notebook that had exported networks did). A child tries a tiny backward; once it
    fails, runs start as new processes (``python -m cnas.study._execute``) from then on.
    """
    if _FORK_BROKEN:
        return False
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the probe child
        code = 1
        with contextlib.suppress(BaseException):
            import torch

            torch.ones(1, requires_grad=True).mul(2).sum().backward()  # type: ignore[no-untyped-call]
            code = 0
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        return True
    logging.getLogger("cnas").info(
        "study: this process has started autograd's threads, which a forked run cannot "
        "use; runs start as new processes"
    )
    _FORK_BROKEN.append(True)
    return False


def release_openmp() -> bool:
    """Free the OpenMP thread pool before a fork; whether it is free (or none is loaded).

    GNU OpenMP, torch's on Linux, is not fork-safe: once the parent has run a parallel
    region with more than one thread, a forked child's first parallel region waits
    forever for pool threads that the fork did not copy (a study started in a notebook
    that had read an image folder hung so). ``omp_pause_resource_all`` (OpenMP 5.0)
    frees the pool; the next parallel region, in the parent or the child, starts one.
    """
    released = True
    with contextlib.suppress(OSError):
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            paths = {
                line.split()[-1]
                for line in maps
                if any(n in line for n in ("libgomp", "libiomp", "libomp")) and "/" in line
            }
        for path in sorted(paths):
            try:
                pause = ctypes.CDLL(path).omp_pause_resource_all
            except (OSError, AttributeError):
                released = False
                continue
            pause.argtypes, pause.restype = [ctypes.c_int], ctypes.c_int
            released = pause(1) == 0 and released  # omp_pause_soft
    return released


PARENT_VARIABLE = "CNAS_STUDY_PARENT"
"""The study's process id, given to a run started as a new process: the run ends itself
when its parent is no longer that process (a study killed by any signal, on any POSIX
system; on Linux the parent-death signal ends it at once too)."""


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
