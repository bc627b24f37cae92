"""Atomic file writes: a temporary file in the target folder, then a rename."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = [
    "ATOMIC_TEMPORARY",
    "FileLockedError",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "find_link",
    "lock_file",
    "parse_json",
    "same_file",
    "shorten",
    "unlock_file",
]

ATOMIC_TEMPORARY = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")
"""The name of ``atomic_path``'s temporary files (``.NAME.XXXXXXXX.tmp``, as ``mkstemp``
makes them)."""


def _file_mode() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


_FILE_MODE = _file_mode()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    On error the temporary file is removed and ``path`` is left as it was; a write that
    failed in the writer (torch's ``unexpected pos``, safetensors' ``os error 28``)
    raises the ``OSError`` behind it (``ENOSPC`` for a full disk), whatever the writer
    raised.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is False.
    """
    target = Path(path)
    if not overwrite and target.exists():
        raise FileExistsError(f"{target} exists; refusing to overwrite it")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, _FILE_MODE)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError:
        raise
    except Exception as exc:
        # torch and safetensors report a failed write in their own words; callers and the
        # CLI get the operating system's error instead
        error = _write_error(exc, target)
        if error is None:
            raise
        raise error from exc
    finally:
        tmp.unlink(missing_ok=True)


def _write_error(exc: BaseException, target: Path) -> OSError | None:
    """The ``OSError`` behind a writer's failure, or ``None`` when it was not a write
    that failed: safetensors names the errno (``... (os error 28)``); torch says only
    ``unexpected pos`` (a full disk, or a quota: ENOSPC when the disk is nearly full)."""
    text = str(exc)
    code = re.search(r"\(os error (\d+)\)", text)
    if code:
        number = int(code.group(1))
        return OSError(number, os.strerror(number), str(target))
    if "unexpected pos" in text or "file write failed" in text:
        if _disk_full(target.parent):  # (while the partial file still fills it)
            return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target))
        return OSError(errno.EIO, f"the write failed ({text.strip()[:120]})", str(target))
    return None


def _disk_full(folder: Path) -> bool:
    """Whether ``folder``'s file system is (nearly) full, while a failed write's partial
    file still fills it."""
    try:
        return shutil.disk_usage(folder).free < 2**20
    except OSError:
        return False


def atomic_write_bytes(
    path: str | os.PathLike[str], data: bytes, *, overwrite: bool = True
) -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str, *, overwrite: bool = True) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically and return the path."""
    return atomic_write_bytes(path, text.encode("utf-8"), overwrite=overwrite)


def parse_json(text: str | bytes) -> Any:
    """``json.loads`` for a user's file, where every way the text can fail to be JSON is
    one ``ValueError`` with a short reason: malformed text, bytes that are not UTF-8,
    nesting past the recursion limit, an integer of more digits than Python converts
    (``sys.get_int_max_str_digits()``, 4,300 by default).

    Raises:
        ValueError: the text is not JSON this reader takes.
    """
    import json

    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc}") from None
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None
    except ValueError as exc:  # an integer too long to convert, and the like
        raise ValueError(f"not JSON this reader takes: {str(exc)[:120]}") from None


def shorten(value: object, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters with ``...``: for a user's value in a
    one-line message (a 10 MB op name must not make a 20 MB error).

    Examples:
        >>> shorten("x" * 100, 10)
        "'xxxxxx..."
    """
    text = (
        repr(value)
        if not isinstance(value, str) or len(value) <= 4 * limit
        else repr(value[: 4 * limit])
    )
    return text if len(text) <= limit else text[: limit - 3] + "..."


def find_link(folder: Path) -> Path | None:
    """The first symbolic link under ``folder`` (to a file, a folder or nowhere), walking
    without following links; ``None`` when there is none or no such folder."""
    if not folder.is_dir():
        return None
    for root, dirs, files in os.walk(folder, followlinks=False):
        for name in (*dirs, *files):
            entry = Path(root) / name
            if entry.is_symlink():
                return entry
    return None


def same_file(handle: Any, path: Path) -> bool:
    """Whether the open ``handle`` is the file at ``path`` now (not one removed since)."""
    try:
        here = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    there = os.fstat(handle.fileno())
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


class FileLockedError(OSError):
    """``lock_file``: another process holds the lock; ``holder`` is what the file says."""

    def __init__(self, path: Path, holder: str) -> None:
        super().__init__(f"{path} is locked by another process")
        self.holder = holder


def lock_file(path: Path) -> IO[str]:
    """Open ``path`` (created if missing; a symbolic link is refused) and hold an
    exclusive ``flock`` on it until ``unlock_file`` (POSIX only).

    A holder that ends removes the file (``unlock_file``). Should that happen between
    this open and this lock, the lock would be on a file no one else opens any more, so
    the new file is opened and locked instead.

    Raises:
        FileLockedError: another process holds it (its ``holder`` text: the file's).
    """
    import fcntl

    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        handle = open(fd, "a+", encoding="utf-8")  # noqa: SIM115
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read()
            handle.close()
            raise FileLockedError(path, holder) from None
        if same_file(handle, path):
            return handle
        handle.close()


def unlock_file(handle: IO[str], path: Path) -> None:
    """Remove ``path`` while still holding its lock (so that no lock file is left behind
    and no one locks the old file after us), then let go of the lock."""
    if same_file(handle, path):
        path.unlink(missing_ok=True)
    handle.close()  # closing the file releases the flock
