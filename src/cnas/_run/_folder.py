"""``RunFolder``: the output folder of one run, its lock, ``config.json`` and metrics.

A run is a folder with an identity and a history:

- ``config.json``: what the run is (``"run": {"kind": "search"|"training", ...}``) and
  how it was set up, written before anything else;
- the checkpoint (``checkpoint.pt`` for a search, ``last.pt`` for a training; see
  ``_checkpoints``);
- ``metrics.jsonl``: one JSON record per finished epoch, appended only once the
  checkpoint that holds the epoch is written (so a kill at any moment leaves metrics that
  the checkpoint covers), rewritten from the checkpoint's history on resume; TensorBoard
  events in ``tensorboard/`` when the package is there;
- ``.lock``: held (``flock``) by the process that runs in the folder, with its pid; the
  run removes it when it ends, and the operating system releases it when the process
  is killed (the free file left then is harmless).

``RunFolder`` makes the folder ready (fresh, resumed, or refused: a run starts only in
an empty or new folder, or resumes its own run; a folder that holds anything else, a run
of another kind, or a symbolic link is refused and left as it is).
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .. import distributed as dist_utils
from .._io import FileLockedError, atomic_write_text, find_link, lock_file, parse_json, unlock_file
from .._version import __version__
from ..errors import CheckpointError, ConcurrentRunError, RunLockedError
from ._checkpoints import (
    CHECKPOINT_FORMATS,
    CHECKPOINT_NAMES,
    RunKind,
    load_checkpoint,
    seal_checkpoint,
    write_checkpoint,
)

RUN_FILES: dict[str, tuple[str, ...]] = {
    "search": (
        *("config.json", "checkpoint.pt", "metrics.jsonl", "curriculum.json"),
        *("genotype.json", "report.md", "front.png"),
    ),
    "training": (
        *("config.json", "last.pt", "best.pt", "metrics.jsonl", "model.safetensors"),
        *("README.md", "test.json"),
    ),
}
"""The files a run writes at the top of its folder (a search also in ``stages/stage-K/``:
``STAGE_FILES``): only their atomic temporaries are cleaned up."""

STAGE_FILES = (
    *("genotype.json", "result.json", "cells.svg", "cells.gv"),
    *("strategy.json", "supernet.safetensors", "strategy.safetensors"),
)
"""The files a search writes in each ``stages/stage-K/`` folder."""

_IGNORED = frozenset({".lock"})  # what a run that died before config.json may have left

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)

_RUNNING: dict[int, list[Path]] = {}  # thread ident -> the run folders it has open
_RUNNING_LOCK = threading.Lock()


def _enter_run(path: Path) -> None:
    """Note that this thread runs in ``path``; refuse while another thread runs.

    Raises:
        ConcurrentRunError: another thread of this process runs a search or training.
    """
    me = threading.get_ident()
    with _RUNNING_LOCK:
        others = [p for t, paths in _RUNNING.items() if t != me for p in paths]
        if others:
            raise ConcurrentRunError(
                f"{others[0]} is being searched or trained in another thread of this process; "
                "runs draw from torch's global random generator, so runs in one process "
                "must be sequential (or each in a process of its own, as cnas study runs them)"
            )
        _RUNNING.setdefault(me, []).append(path)


def _leave_run(path: Path) -> None:
    me = threading.get_ident()
    with _RUNNING_LOCK:
        paths = _RUNNING.get(me, [])
        if path in paths:
            paths.remove(path)
        if not paths:
            _RUNNING.pop(me, None)


try:  # POSIX; elsewhere folders are not locked
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "CONFIG_NAME",
    "LOCK_NAME",
    "METRICS_NAME",
    "TEST_RESULT_NAME",
    "RunFolder",
    "json_line",
]

logger = logging.getLogger("cnas")

CONFIG_NAME = "config.json"
METRICS_NAME = "metrics.jsonl"
LOCK_NAME = ".lock"
TEST_RESULT_NAME = "test.json"  # a training's score on a held-out test split (cnas train)


def _launched_main() -> bool:
    """The main process, also before the process group exists (``RANK``, as torchrun sets
    it)."""
    return dist_utils.is_main_process() and os.environ.get("RANK", "0") == "0"


def json_line(record: Mapping[str, Any]) -> str:
    """``record`` as one line of strict JSON: a NaN or infinite number becomes ``null``
    (``json.dumps`` would write the bare ``NaN`` token, which is not JSON)."""

    def clean(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, Mapping):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value

    return json.dumps(clean(dict(record)), allow_nan=False) + "\n"


class RunFolder:
    """The output folder of one search or training run.

    Only the main process writes; every process reads the same checkpoint.

    Args:
        path: The folder (created when the run starts).
        kind: ``"search"`` or ``"training"``.
    """

    def __init__(self, path: str | os.PathLike[str], kind: RunKind) -> None:
        if kind not in CHECKPOINT_FORMATS:
            raise ValueError(f"kind must be 'search' or 'training', got {kind!r}")
        self.path = Path(path)
        self.kind: RunKind = kind
        self.checkpoint = self.path / CHECKPOINT_NAMES[kind]
        self._writer: Any = None
        self._lock: Any = None
        self._entered = False

    # -- preparing --------------------------------------------------------------------------

    def prepare(
        self,
        config: Mapping[str, Any],
        *,
        resume: bool | str | os.PathLike[str],
        require_checkpoint: bool = False,
        record: Mapping[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Make the folder ready, and return the checkpoint to resume from (``None``: a
        fresh run, whose ``config.json`` is now written).

        Args:
            config: What the run is, for ``config.json`` (a fresh run only); the run's
                identity (``"run"``: kind and cnas version) is added.
            record: More entries for the ``"run"`` record (what the run resolved, such
                as a search's budget).
            resume: Resume from the folder's checkpoint when there is one (True), refuse a
                folder that holds one (False), or resume from this checkpoint file.
            require_checkpoint: With ``resume=True``, a missing checkpoint is an error
                instead of a fresh start.

        Raises:
            RunLockedError: (a ``CheckpointError``) another process runs in the folder.
            CheckpointError: a run is there and ``resume`` is False; the folder holds a
                run of another kind or another run's outputs; nothing to resume from; the
                checkpoint is corrupt or foreign. Nothing is overwritten.
        """
        self.check(resume=resume, require_checkpoint=require_checkpoint)
        if not self._entered:  # (prepared again by its holder: entered once, left once)
            _enter_run(self.path)
            self._entered = True
        if dist_utils.is_main_process():
            try:
                self.path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                self.release()
                raise CheckpointError(f"cannot create {self.path}: {exc.strerror}") from None
            try:
                self.acquire()
            except BaseException:
                self.release()
                raise
        full = {"run": {**self.identity(), **(record or {})}, **config}
        try:
            return self._prepare(full, resume, require_checkpoint)
        except BaseException:
            self.release()
            raise

    def _prepare(
        self,
        config: Mapping[str, Any],
        resume: bool | str | os.PathLike[str],
        require_checkpoint: bool,
    ) -> dict[str, Any] | None:
        self.check(resume=resume, require_checkpoint=require_checkpoint)  # now as the holder
        if dist_utils.is_main_process():
            self._remove_stale_temporaries()
        if not isinstance(resume, bool):
            state = load_checkpoint(resume, self.kind)
            if dist_utils.is_main_process() and not (self.path / CONFIG_NAME).exists():
                self.write_json(CONFIG_NAME, config)
            return state
        if self.checkpoint.exists():
            return load_checkpoint(self.checkpoint, self.kind)
        if dist_utils.is_main_process():
            self.write_json(CONFIG_NAME, config)
        return None

    def check(
        self, *, resume: bool | str | os.PathLike[str], require_checkpoint: bool = False
    ) -> None:
        """Raise what ``prepare`` would refuse, without reading a checkpoint or writing
        anything (a command checks its folder before loading data).

        Raises:
            CheckpointError: see ``prepare``.
        """
        try:
            str(self.path).encode("utf-8")
        except UnicodeEncodeError:
            raise CheckpointError(
                f"{str(self.path)!r} is not a UTF-8 path; cnas records its run folder in its "
                "files: choose a folder whose name is UTF-8"
            ) from None
        existing = self.path  # the folder, or its nearest ancestor that exists
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if existing == self.path and self.path.exists() and not self.path.is_dir():
            raise CheckpointError(f"{self.path} is a file, not a folder; choose another one")
        if existing.exists() and not existing.is_dir():
            raise CheckpointError(f"{self.path} is under {existing}, which is a file, not a folder")
        if existing.is_dir() and not os.access(existing, os.W_OK | os.X_OK):
            raise CheckpointError(f"cannot write in {existing}: permission denied")
        self._refuse_links()
        self._refuse_locked()
        self._refuse_other_kind()
        if not isinstance(resume, bool):
            if not Path(resume).is_file():
                raise CheckpointError(f"nothing to resume: {resume} does not exist")
            if not self.checkpoint.exists():
                self._refuse_foreign_contents()
            return
        if self.checkpoint.exists():
            if not resume:
                raise CheckpointError(
                    f"{self.path} already holds a {self.kind} run ({self.checkpoint.name}); "
                    "resume it or choose another output directory"
                )
            return
        if resume and require_checkpoint and self._recorded_kind() != self.kind:
            # (a run that stopped before its first checkpoint starts again from the start)
            raise CheckpointError(f"nothing to resume: {self.checkpoint} does not exist")
        if (self.path / METRICS_NAME).exists():
            raise CheckpointError(
                f"{self.path} holds {METRICS_NAME} but no {self.checkpoint.name}; refusing to "
                "overwrite another run's outputs: choose another output directory"
            )
        self._refuse_foreign_contents()

    def _refuse_foreign_contents(self) -> None:
        """A run starts only in an empty or new folder, or in one that holds its own run
        (a run of this kind that stopped before its first checkpoint).

        Raises:
            CheckpointError: naming what the folder holds.
        """
        if not self.path.is_dir() or self._recorded_kind() == self.kind:
            return
        found = sorted(
            entry.name
            for entry in self.path.iterdir()
            if entry.name not in _IGNORED and not self._own_temporary(entry.name, RUN_FILES)
        )
        if found:
            shown = ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
            raise CheckpointError(
                f"{self.path} is not empty and holds no cnas {self.kind} run ({shown}); "
                "nothing in it is overwritten: start the run in an empty or new folder"
            )

    def _refuse_links(self) -> None:
        """cnas writes only inside the run folder: a symbolic link in it (to a file, to a
        folder, dangling) could send a write elsewhere, so a folder that holds one is
        refused."""
        entry = find_link(self.path)
        if entry is not None:
            raise CheckpointError(
                f"{entry} is a symbolic link; cnas writes only inside its run folder "
                "and refuses links in it: remove the link or choose another folder"
            )

    def _own_temporary(
        self, name: str, files: Mapping[str, tuple[str, ...]] | tuple[str, ...]
    ) -> bool:
        """Whether ``name`` is an atomic temporary (``.NAME.XXXXXXXX.tmp``) of one of the
        run's own files."""
        own = files[self.kind] if isinstance(files, Mapping) else files
        for file in own:
            prefix = f".{file}."
            rest = name[len(prefix) :] if name.startswith(prefix) else ""
            if len(rest) == 12 and rest.endswith(".tmp") and rest[:8].replace("_", "a").isalnum():
                return True
        return False

    def _remove_stale_temporaries(self) -> None:
        """Delete the temporary files that atomic writes of this run, killed mid-write,
        left (``.last.pt.k3j9x_2a.tmp``): only those of the run's own files, at the top
        of its folder and in a search's ``stages/stage-K/`` folders, never elsewhere
        (another run's folder below this one, a user's file)."""
        if not self.path.is_dir():
            return
        folders = [(self.path, RUN_FILES[self.kind])]
        if self.kind == "search" and (self.path / "stages").is_dir():
            stages = (self.path / "stages").glob("stage-*")
            folders += [(folder, STAGE_FILES) for folder in stages if folder.is_dir()]
        for folder, files in folders:
            for tmp in folder.glob(".*.tmp"):
                if tmp.is_file() and self._own_temporary(tmp.name, files):
                    tmp.unlink(missing_ok=True)
                    logger.info("removed %s, left by a run that stopped mid-write", tmp)

    # -- the lock ---------------------------------------------------------------------------

    def acquire(self) -> None:
        """Hold the folder's lock until ``release`` (or until this process ends).

        Raises:
            RunLockedError: another process holds it.
        """
        if fcntl is None or self._lock is not None or not _launched_main():
            return
        try:
            handle = lock_file(self.path / LOCK_NAME)
        except FileLockedError as exc:
            raise self._locked_error(exc.holder) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._lock = handle

    def release(self) -> None:
        """Let go of the folder's lock and remove its file, so that a finished run leaves
        no ``.lock`` behind (a killed one leaves a free lock file, which is harmless)."""
        if self._lock is not None:
            unlock_file(self._lock, self.path / LOCK_NAME)
            self._lock = None
        if getattr(self, "_entered", False):
            self._entered = False
            _leave_run(self.path)

    def _refuse_locked(self) -> None:
        # (under torchrun the main process holds the lock for every rank)
        if fcntl is None or self._lock is not None or not _launched_main():
            return
        try:
            handle = open(self.path / LOCK_NAME, encoding="utf-8")  # noqa: SIM115
        except (FileNotFoundError, IsADirectoryError):
            return  # no lock file: no run holds the folder
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                raise self._locked_error(handle.read()) from None

    def _locked_error(self, holder: str) -> RunLockedError:
        return RunLockedError(
            f"{self.path} is in use by another run (pid {holder.strip() or 'unknown'}); wait "
            "for it to end or choose another output directory"
        )

    def identity(self) -> dict[str, Any]:
        """What ``config.json`` says the run is: its kind, cnas version and process count."""
        return {
            "kind": self.kind,
            "cnas_version": __version__,
            "world_size": dist_utils.world_size(),
        }

    def _refuse_other_kind(self) -> None:
        others = [k for k in CHECKPOINT_NAMES if k != self.kind]
        for other in others:
            if (self.path / CHECKPOINT_NAMES[other]).exists():
                raise CheckpointError(
                    f"{self.path} holds a {other} run ({CHECKPOINT_NAMES[other]}), not a "
                    f"{self.kind} run; choose another output directory"
                )
        kind = self._recorded_kind()
        if kind is not None and kind != self.kind:
            raise CheckpointError(
                f"{self.path} holds a {kind} run ({CONFIG_NAME}), not a {self.kind} run; "
                "choose another output directory"
            )

    def _recorded_kind(self) -> str | None:
        """The run kind ``config.json`` records, if it is a cnas run's."""
        config = self.path / CONFIG_NAME
        if not config.is_file():
            return None
        try:
            recorded = parse_json(config.read_bytes())
        except (ValueError, OSError):
            return None  # not ours to judge: a checkpoint or metrics decide
        run = recorded.get("run") if isinstance(recorded, dict) else None
        kind = run.get("kind") if isinstance(run, dict) else None
        return kind if kind in CHECKPOINT_NAMES else None

    def __del__(self) -> None:
        self.release()

    # -- writing ----------------------------------------------------------------------------

    def write_json(self, name: str, obj: Any) -> Path:
        """Write ``obj`` as indented JSON to ``name`` in the folder, atomically."""
        return atomic_write_text(self.path / name, json.dumps(obj, indent=2) + "\n")

    def rewrite_metrics(self, history: Sequence[Mapping[str, Any]]) -> None:
        """Make ``metrics.jsonl`` hold exactly ``history`` (the resumed checkpoint's)."""
        if dist_utils.is_main_process():
            text = "".join(json_line(r) for r in history)
            atomic_write_text(self.path / METRICS_NAME, text)

    def append_metrics(self, record: Mapping[str, Any], *, step: int, prefix: str = "") -> None:
        """Add one epoch's record to ``metrics.jsonl`` and its numbers to TensorBoard
        (as ``{prefix}/{key}`` at ``step``)."""
        if not dist_utils.is_main_process():
            return
        fd = os.open(
            self.path / METRICS_NAME, os.O_WRONLY | os.O_APPEND | os.O_CREAT | _NOFOLLOW, 0o644
        )
        with open(fd, "a", encoding="utf-8") as fh:
            fh.write(json_line(record))
        if self._writer is not None:
            for key, value in record.items():
                if isinstance(value, float):
                    self._writer.add_scalar(f"{prefix}/{key}" if prefix else key, value, step)

    def save(self, state: Mapping[str, Any], *, also: Sequence[Path] = ()) -> None:
        """Write the checkpoint (main process), then wait for every process.

        Args:
            state: The run's state.
            also: Other files to write the same checkpoint to first (a training's
                ``best.pt``); it is sealed once for all of them.
        """
        if dist_utils.is_main_process():
            sealed = seal_checkpoint(state, self.kind)
            for path in (*also, self.checkpoint):
                write_checkpoint(path, sealed)
        dist_utils.barrier()

    # -- TensorBoard ------------------------------------------------------------------------

    def open_tensorboard(self, enabled: bool | None) -> None:
        """Write TensorBoard events to ``tensorboard/`` (``None``: when it is installed).

        Raises:
            ImportError: ``enabled`` is True and the ``tensorboard`` package is missing.
        """
        if enabled is False or not dist_utils.is_main_process() or self._writer is not None:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            if enabled:
                raise ImportError(
                    "tensorboard=True needs the tensorboard package: pip install tensorboard"
                ) from None
            return
        self._writer = SummaryWriter(log_dir=str(self.path / "tensorboard"))

    def close_tensorboard(self) -> None:
        """Flush and close the TensorBoard writer, if one is open."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
