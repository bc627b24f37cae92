"""Hashes of weights files: SHA-256, git blob ids, and checking a file against one.

Nothing here downloads or reads tensors; ``_download`` checks every file it hands out
with these, and the registry recognises a release file by its SHA-256.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from pathlib import Path

__all__ = ["GIT_SHA1", "SHA256", "discard", "file_matches", "git_blob_sha1", "sha256_file"]

logger = logging.getLogger("cnas")

SHA256 = re.compile(r"^[a-f0-9]{64}$")
"""A full SHA-256 in lower-case hex."""

GIT_SHA1 = re.compile(r"^[a-f0-9]{40}$")
"""A git object id (SHA-1) in lower-case hex."""

_BLOCK = 1 << 20


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file, as 64 hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def git_blob_sha1(path: str | os.PathLike[str]) -> str:
    """The git object id of a file (what the Hub reports as the ETag of a non-LFS file)."""
    size = Path(path).stat().st_size
    digest = hashlib.sha1(f"blob {size}\0".encode(), usedforsecurity=False)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def file_matches(path: str | os.PathLike[str], expected: str) -> tuple[bool, str]:
    """Whether ``path`` has the hash ``expected`` (a SHA-256, a SHA-256 prefix, or a git
    blob id), and the actual hash of the same kind."""
    if GIT_SHA1.match(expected):
        actual = git_blob_sha1(path)
        return actual == expected, actual
    actual = sha256_file(path)
    return actual.startswith(expected), actual


def discard(*paths: Path) -> None:
    """Delete ``paths`` (a file that failed its check), ignoring those already gone."""
    for p in paths:
        try:
            p.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:  # pragma: no cover - a read-only cache
            logger.warning("could not delete %s: %s", p, exc)
