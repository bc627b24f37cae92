"""The run layer shared by search and training (and, later, studies).

(About 700 lines on purpose: the design names one module for the run layer, and its
parts, the folder and its lock, checkpoints with their schemas and checksums, random
state and loaders, are one contract that search and training read together.)

A run is a folder with an identity and a history:

- ``config.json``: what the run is (``"run": {"kind": "search"|"training", ...}``) and
  how it was set up, written before anything else;
- the checkpoint (``checkpoint.pt`` for a search, ``last.pt`` for a training): the
  complete state after the last finished epoch, written atomically with a checksum of
  its contents, read back with ``weights_only`` loading and checked against its kind's
  schema; :class:`~cnas.errors.CheckpointError` when it is corrupt, does not match its
  checksum or schema, or is of another kind or version;
- ``metrics.jsonl``: one JSON record per finished epoch, appended only once the
  checkpoint that holds the epoch is written (so a kill at any moment leaves metrics that
  the checkpoint covers), rewritten from the checkpoint's history on resume; TensorBoard
  events in ``tensorboard/`` when the package is there;
- ``.lock``: held (``flock``) by the process that runs in the folder, with its pid; the
  operating system releases it when the process ends.

``RunFolder`` makes the folder ready (fresh, resumed, or refused: a folder that holds
another run or a run of another kind is never overwritten). ``rng_state`` and
``set_rng_state`` capture and restore every random generator a run draws from.
``make_loader`` builds the data loaders, sharded over processes under ``torchrun``, and
``device_batches`` runs through one (device transfer, memory layout, a batch cap, a
progress bar).

The batch-size convention, the same in search and training: a batch size is the
**global** batch, summed over all processes; each of ``world_size`` processes loads
``batch_size / world_size`` images per step (``per_process_batch``).
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence, Sized
from pathlib import Path
from typing import Any, Literal

import torch
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler

from . import distributed as dist_utils
from ._io import ATOMIC_TEMPORARY, atomic_path, atomic_write_text
from ._schema import (
    ANY,
    BOOL,
    SCALAR,
    STR,
    Dict,
    Int,
    ListOf,
    MapOf,
    Maybe,
    Number,
    OneOf,
    Schema,
    SchemaError,
    Seq,
    Tensor,
    digest,
    validate,
)
from ._version import __version__
from .errors import CheckpointError, RunLockedError

try:  # POSIX; elsewhere folders are not locked
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "CHECKPOINT_FORMATS",
    "CHECKPOINT_SCHEMAS",
    "CONFIG_NAME",
    "METRICS_NAME",
    "TEST_RESULT_NAME",
    "RunFolder",
    "RunKind",
    "device_batches",
    "json_line",
    "load_checkpoint",
    "make_loader",
    "per_process_batch",
    "rng_state",
    "save_checkpoint",
    "seal_checkpoint",
    "set_rng_state",
    "verify_checkpoint",
    "write_checkpoint",
]

logger = logging.getLogger("cnas")

RunKind = Literal["search", "training"]

CONFIG_NAME = "config.json"
METRICS_NAME = "metrics.jsonl"
LOCK_NAME = ".lock"
TEST_RESULT_NAME = "test.json"  # a training's score on a held-out test split (cnas train)

CHECKPOINT_FORMATS: dict[str, tuple[str, int]] = {
    "search": ("cnas.search-checkpoint", 3),
    "training": ("cnas.train-checkpoint", 2),
}
"""Per run kind: the ``format`` tag its checkpoints carry and the version this cnas reads
(search 3 and training 2 added the ``checksum``)."""

_OPTIMIZER = Dict(
    {
        "state": MapOf(Int(0), MapOf(STR, ANY)),
        "param_groups": ListOf(
            Dict(
                {"params": ListOf(Int(0))},
                optional={
                    name: OneOf((Number(0), Tensor(ndim=0)))
                    for name in ("lr", "momentum", "weight_decay", "dampening", "eps")
                },
            )
        ),
    }
)
_PYTHON_RNG = Seq((Int(), ListOf(Int(0, 2**32 - 1), length=625), Maybe(Number(finite=False))))
_GENERATOR = Tensor(torch.uint8, 1)
_RNG: dict[str, Schema] = {"torch": _GENERATOR, "python": _PYTHON_RNG}
_CUDA_RNG: dict[str, Schema] = {"cuda": ListOf(_GENERATOR)}
_HISTORY = ListOf(MapOf(STR, SCALAR))
_ENVELOPE: dict[str, Schema] = {"format": STR, "version": Int(), "checksum": STR}

CHECKPOINT_SCHEMAS: dict[str, Schema] = {
    "search": Dict(
        {
            "config": MapOf(STR, ANY),
            "schedule": MapOf(STR, ANY),
            "op_order": ListOf(STR),
            "position": Dict({"stage": Int(0), "step": Int(0), "finished": BOOL}),
            "supernet": MapOf(STR, Tensor()),
            "optimizer": _OPTIMIZER,
            "strategy": Dict(
                {"name": STR, "settings": MapOf(STR, ANY), "state": MapOf(OneOf((STR, Int())))}
            ),
            "history": _HISTORY,
            "stages": ListOf(MapOf(STR, ANY)),
            "rng": Dict({**_RNG, "generator": _GENERATOR}, optional=_CUDA_RNG),
            **_ENVELOPE,
        }
    ),
    "training": Dict(
        {
            "model_config": MapOf(STR, ANY),
            "train_config": MapOf(STR, ANY),
            "model": MapOf(STR, Tensor()),
            "optimizer": _OPTIMIZER,
            "scaler": MapOf(STR, ANY),
            "epoch": Int(0),
            "step": Int(0),
            "best_top1": Number(finite=False),
            "best_epoch": Int(0),
            "history": _HISTORY,
            "rng": Dict(_RNG, optional=_CUDA_RNG),
            **_ENVELOPE,
        },
        optional={"data": MapOf(STR, ANY)},
    ),
}
"""Per run kind: the structure its checkpoints must have before any of it is used (what
fits the run, such as a state dict for its network, the loader checks after)."""

_CHECKPOINT_NAMES: dict[str, str] = {"search": "checkpoint.pt", "training": "last.pt"}


# -- the batch-size convention ---------------------------------------------------------------


def per_process_batch(batch_size: int, world_size: int | None = None) -> int:
    """The images each process loads per step for a global ``batch_size``.

    Raises:
        ValueError: ``batch_size`` is not a multiple of the number of processes.
    """
    world = dist_utils.world_size() if world_size is None else world_size
    if batch_size % world:
        raise ValueError(
            f"the global batch size {batch_size} is not divisible by the {world} processes; "
            f"choose a multiple of {world}"
        )
    return batch_size // world


def make_loader(
    data: Dataset[Any],
    *,
    batch_size: int,
    shuffle: bool,
    seed: int,
    epoch: int,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader[Any]:
    """A loader of ``data`` in global batches of ``batch_size``, one shard per process.

    The order depends only on ``seed`` and ``epoch``, and is the same permutation for any
    number of processes: process ``r`` of ``w`` takes every ``w``-th index of it, so one
    process with a batch of ``B`` sees the same images per step as ``w`` processes with
    ``B / w`` each.
    """
    world = dist_utils.world_size()
    sampler: DistributedSampler[Any] = DistributedSampler(
        data, num_replicas=world, rank=dist_utils.rank(), shuffle=shuffle, seed=seed
    )
    sampler.set_epoch(epoch)
    return DataLoader(
        data,
        batch_size=per_process_batch(batch_size, world),
        sampler=sampler,
        num_workers=num_workers,
        pin_memory=pin_memory,
    )


def device_batches(
    loader: Iterable[Any],
    device: torch.device,
    memory_format: torch.memory_format,
    *,
    limit: int | None,
    desc: str,
    progress: bool,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``(x, y)`` batches of ``loader`` on ``device``, ``x`` in ``memory_format``.

    Stops after ``limit`` batches (``None``: all of them). With ``progress``, the main
    process shows a tqdm bar named ``desc``; the bar closes however the loop ends.
    """
    bar = None
    if progress and dist_utils.is_main_process():
        from tqdm.auto import tqdm  # type: ignore[import-untyped]

        total: int | None = len(loader) if isinstance(loader, Sized) else None
        if limit is not None:
            total = min(total, limit) if total is not None else limit
        bar = tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True)
    try:
        if limit is not None and limit <= 0:
            return
        for i, (x, y) in enumerate(loader):
            x = x.to(device, non_blocking=True).contiguous(memory_format=memory_format)
            yield x, y.to(device, non_blocking=True)
            if bar is not None:
                bar.update(1)
            if limit is not None and i + 1 >= limit:
                break  # before the loader reads a batch that would not be used
    finally:
        if bar is not None:
            bar.close()


# -- random state ------------------------------------------------------------------------------


def rng_state() -> dict[str, Any]:
    """The state of torch's, Python's and (when present) CUDA's global generators, in a
    form that ``weights_only`` loading reads back."""
    version, internal, gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": [version, list(internal), gauss],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what ``rng_state`` captured (generators it did not capture stay as they are)."""
    if "torch" in state:
        torch.set_rng_state(state["torch"])
    if "python" in state:
        version, internal, gauss = state["python"]
        random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# -- checkpoints -------------------------------------------------------------------------------


def seal_checkpoint(
    state: Mapping[str, Any], kind: RunKind, *, check: bool = True
) -> dict[str, Any]:
    """``state`` as ``save_checkpoint`` writes it: tagged with ``kind``'s format and
    version, and with the ``checksum`` of everything else it holds (a ``checksum`` that
    ``state`` already has is replaced).

    Raises:
        SchemaError: (``check``, a ``ValueError``) ``state`` does not have the structure
            that ``load_checkpoint`` requires, so a resume would refuse it. ``check=False``
            seals it anyway (the tests make ill-formed checkpoints so).
    """
    fmt, version = CHECKPOINT_FORMATS[kind]
    payload = {**{k: v for k, v in state.items() if k != "checksum"}, "format": fmt}
    payload["version"] = version
    payload["checksum"] = digest(payload)
    if check:  # a state that a resume would refuse is its writer's bug: found now, not then
        validate(payload, CHECKPOINT_SCHEMAS[kind])
    return payload


def write_checkpoint(path: str | os.PathLike[str], sealed: Mapping[str, Any]) -> None:
    """Write a ``seal_checkpoint`` result to ``path`` atomically: the previous file stays
    valid until the new one is complete.

    Raises:
        CheckpointError: the file cannot be written (a full disk, no permission).
    """
    try:
        with atomic_path(path) as tmp:
            torch.save(dict(sealed), tmp)
    except OSError as exc:  # a full disk (see atomic_path), a folder made read-only
        raise CheckpointError(
            f"could not write {path}: {(exc.strerror or str(exc)).lower()}; the previous "
            "checkpoint, if any, is kept"
        ) from exc


def save_checkpoint(
    path: str | os.PathLike[str], state: Mapping[str, Any], kind: RunKind, *, check: bool = True
) -> None:
    """Seal ``state`` (``seal_checkpoint``) and write it (``write_checkpoint``).

    Raises:
        SchemaError: see ``seal_checkpoint``.
        CheckpointError: see ``write_checkpoint``.
    """
    write_checkpoint(path, seal_checkpoint(state, kind, check=check))


def load_checkpoint(path: str | os.PathLike[str], kind: RunKind) -> dict[str, Any]:
    """Read a checkpoint written by ``save_checkpoint`` (``weights_only`` loading), and
    check it before any of it is used: its format and version, its checksum (the file
    was not changed or damaged after it was written) and its structure
    (``CHECKPOINT_SCHEMAS``).

    Raises:
        CheckpointError: the file is unreadable or truncated, not a cnas checkpoint, a
            checkpoint of another kind of run or of another version, does not match its
            checksum, or does not have the structure of a ``kind`` checkpoint. The error
            names the file, which is left in place.
    """
    p = Path(path)
    try:
        with warnings.catch_warnings():  # a corrupt file gets our error, not torch's warning
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            state = torch.load(p, map_location="cpu", weights_only=True)
    except MemoryError:  # a whole checkpoint on a small machine: not a damaged file
        raise
    except Exception as exc:  # a damaged file can fail anywhere in the unpickler
        raise CheckpointError(
            f"{p} is not a readable checkpoint ({_load_failure(exc)}); it was left "
            "untouched: move it away to start anew in this folder"
        ) from None
    return verify_checkpoint(state, p, kind)


def _load_failure(exc: BaseException) -> str:
    """What ``torch.load`` said, in one line: for a weights-only refusal, the unpickler's
    own reason, without torch's advice to load the file unsafely."""
    text = str(exc)
    if "WeightsUnpickler error:" in text:
        after = text.split("WeightsUnpickler error:", 1)[1].strip().splitlines()
        reason = after[0].strip() if after else ""
        return f"its pickle is damaged or holds more than tensors and containers: {reason}"
    first = text.strip().splitlines()[0][:200] if text.strip() else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def verify_checkpoint(state: Any, path: str | os.PathLike[str], kind: RunKind) -> dict[str, Any]:
    """Check a loaded checkpoint as ``load_checkpoint`` does, and return it.

    Raises:
        CheckpointError: see ``load_checkpoint`` (``path`` names the file in the message).
    """
    p = Path(path)
    fmt, version = CHECKPOINT_FORMATS[kind]
    found = state.get("format") if isinstance(state, dict) else None
    if found != fmt:
        other = next((k for k, (f, _) in CHECKPOINT_FORMATS.items() if f == found), None)
        what = f"a checkpoint of a {other} run" if other else "not a cnas checkpoint"
        raise CheckpointError(f"{p} is {what}, not of a {kind} run; it was left untouched")
    assert isinstance(state, dict)
    if state.get("version") != version:
        raise CheckpointError(
            f"{p} has {kind} checkpoint version {state.get('version')!r}; this cnas reads "
            f"version {version}; it was left untouched"
        )
    contents = {k: v for k, v in state.items() if k != "checksum"}
    try:
        actual = digest(contents)
    except Exception as exc:  # what weights_only loading allows but no checkpoint holds
        raise CheckpointError(
            f"{p} holds what no {kind} checkpoint holds ({exc}); it was left untouched"
        ) from None
    if state.get("checksum") != actual:
        raise CheckpointError(
            f"{p} does not match its checksum: it was changed or damaged after it was "
            "written; it was left untouched: restore it from a copy, or move it away to start "
            "anew in this folder"
        )
    try:
        validate(state, CHECKPOINT_SCHEMAS[kind])
    except SchemaError as exc:
        raise CheckpointError(
            f"{p} does not have the structure of a {kind} checkpoint ({exc}); it was left untouched"
        ) from None
    return state


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


# -- the run folder ----------------------------------------------------------------------------


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
        self.checkpoint = self.path / _CHECKPOINT_NAMES[kind]
        self._writer: Any = None
        self._lock: Any = None

    # -- preparing --------------------------------------------------------------------------

    def prepare(
        self,
        config: Mapping[str, Any],
        *,
        resume: bool | str | os.PathLike[str],
        require_checkpoint: bool = False,
    ) -> dict[str, Any] | None:
        """Make the folder ready, and return the checkpoint to resume from (``None``: a
        fresh run, whose ``config.json`` is now written).

        Args:
            config: What the run is, for ``config.json`` (a fresh run only); the run's
                identity (``"run"``: kind and cnas version) is added.
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
        try:
            return self._prepare(config, resume, require_checkpoint)
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
                self.write_json(CONFIG_NAME, {"run": self.identity(), **config})
            return state
        if self.checkpoint.exists():
            return load_checkpoint(self.checkpoint, self.kind)
        if dist_utils.is_main_process():
            self.write_json(CONFIG_NAME, {"run": self.identity(), **config})
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
        others = [k for k in _CHECKPOINT_NAMES if k != self.kind]
        for other in others:
            if (self.path / _CHECKPOINT_NAMES[other]).exists():
                raise CheckpointError(
                    f"{self.path} holds a {other} run ({_CHECKPOINT_NAMES[other]}), not a "
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
        return kind if kind in _CHECKPOINT_NAMES else None

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
