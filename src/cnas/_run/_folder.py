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
  operating system releases it when the process ends.

``RunFolder`` makes the folder ready (fresh, resumed, or refused: a folder that holds
another run or a run of another kind is never overwritten).
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .. import distributed as dist_utils
from .._io import ATOMIC_TEMPORARY, atomic_write_text
from .._version import __version__
from ..errors import CheckpointError, RunLockedError
from ._checkpoints import (
    CHECKPOINT_FORMATS,
    CHECKPOINT_NAMES,
    RunKind,
    load_checkpoint,
    seal_checkpoint,
    write_checkpoint,
)

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
        if dist_utils.is_main_process():
            try:
                self.path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise CheckpointError(f"cannot create {self.path}: {exc.strerror}") from None
            self.acquire()
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
        existing = self.path  # the folder, or its nearest ancestor that exists
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if existing == self.path and self.path.exists() and not self.path.is_dir():
            raise CheckpointError(f"{self.path} is a file, not a folder; choose another one")
        if existing.exists() and not existing.is_dir():
            raise CheckpointError(f"{self.path} is under {existing}, which is a file, not a folder")
        if existing.is_dir() and not os.access(existing, os.W_OK | os.X_OK):
            raise CheckpointError(f"cannot write in {existing}: permission denied")
        self._refuse_locked()
        self._refuse_other_kind()
        if not isinstance(resume, bool):
            if not Path(resume).is_file():
                raise CheckpointError(f"nothing to resume: {resume} does not exist")
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

    def _remove_stale_temporaries(self) -> None:
        """Delete the temporary files that atomic writes of a run killed mid-write left
        (``.last.pt.k3j9x_2a.tmp``, also in ``stages/``): only the holder of the lock
        writes here, so no other writer's file is among them."""
        if not self.path.is_dir():
            return
        for tmp in self.path.rglob(".*.tmp"):
            if tmp.is_file() and ATOMIC_TEMPORARY.fullmatch(tmp.name):
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
        handle = open(self.path / LOCK_NAME, "a+", encoding="utf-8")  # noqa: SIM115
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            error = self._locked_error(handle.read())
            handle.close()
            raise error from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._lock = handle

    def release(self) -> None:
        """Let go of the folder's lock (the file stays; it is free once no one holds it)."""
        if self._lock is not None:
            self._lock.close()  # closing the file releases the flock
            self._lock = None

    def _refuse_locked(self) -> None:
        # (under torchrun the main process holds the lock for every rank)
        if fcntl is None or self._lock is not None or not _launched_main():
            return
        if not (self.path / LOCK_NAME).is_file():
            return
        with open(self.path / LOCK_NAME, encoding="utf-8") as handle:
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
            recorded = json.loads(config.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError, OSError, RecursionError):
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
        with open(self.path / METRICS_NAME, "a", encoding="utf-8") as fh:
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
