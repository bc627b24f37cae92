"""Downloading weights files, each hash-checked before it is handed out.

Hub files go through ``huggingface_hub.hf_hub_download`` (its cache, ``HF_HUB_OFFLINE``,
``HF_ENDPOINT``); plain URLs into ``$TORCH_HOME/hub/checkpoints``. Every request runs
within the transfer limits of ``_transfer`` (connect and read timeouts, a stall limit).
Every file is hashed before it is returned: against the SHA-256 in the cnas metadata
when that is pinned, else against the hash the Hub reported for it (its ETag: the
SHA-256 of an LFS file, the git blob id of a small file), else against the hash prefix
in a URL's file name. A file that fails the check is deleted from the cache and never
read. Reading the files is ``_state_dict``'s job.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch

from .._io import atomic_path
from .._version import __version__
from ..errors import WeightsIntegrityError, WeightsNotFoundError
from ._hashes import GIT_SHA1, SHA256, discard, file_matches
from ._transfer import TransferError, transfer
from ._weights import HubSource, Source, UrlSource, Weights, check_revision

__all__ = ["fetch", "hub_download", "offline", "url_download", "weights_file"]

logger = logging.getLogger("cnas")

_TRUE = {"1", "true", "yes", "on"}


# -- environment ----------------------------------------------------------------------------


def offline() -> bool:
    """Whether downloads are off: ``HF_HUB_OFFLINE`` as huggingface_hub read it at import,
    or as it is set now."""
    from huggingface_hub import constants

    env = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE
    return bool(constants.HF_HUB_OFFLINE) or env


def _endpoint() -> str | None:
    """``HF_ENDPOINT`` as set now (huggingface_hub reads it only at import)."""
    value = os.environ.get("HF_ENDPOINT")
    return value.rstrip("/") if value else None


# -- Hub files ------------------------------------------------------------------------------


def _etag_from_cache(pointer: Path) -> tuple[str | None, Path | None]:
    """The ETag under which huggingface_hub stored a cached file, and its blob.

    The cache keeps each file as ``blobs/<etag>`` with a link from the snapshot folder;
    the link's target names the ETag that the Hub sent when the file was downloaded.
    Without symlinks (some Windows set-ups) the name is lost: ``(None, None)``.
    """
    if not pointer.is_symlink():
        return None, None
    target = Path(os.readlink(pointer))
    if not target.is_absolute():
        target = pointer.parent / target
    if target.parent.name != "blobs":
        return None, None
    return target.name, target


def _hub_etag(repo_id: str, filename: str, revision: str) -> str | None:
    """Ask the Hub for the file's ETag (a HEAD request, within the transfer limits)."""
    request = {
        "operation": "etag",
        "repo_id": repo_id,
        "filename": filename,
        "revision": revision,
        "endpoint": _endpoint(),
        "version": __version__,
    }
    where = f"{repo_id}/{filename}@{revision}"
    etag = transfer(request, what=where, name=filename, progress=False).get("etag")
    return etag if isinstance(etag, str) else None


def _verify_hub_file(
    path: Path, repo_id: str, filename: str, revision: str, sha256: str | None
) -> None:
    etag, blob = _etag_from_cache(path)
    if sha256 is not None:
        expected, origin = sha256, "the SHA-256 in the cnas weights metadata"
    else:
        if etag is None and not offline():
            try:
                etag = _hub_etag(repo_id, filename, revision)
            except TransferError as exc:  # unreachable now: the check below reports it
                logger.debug("HEAD for %s/%s failed: %s", repo_id, filename, exc)
        if etag is None or not (SHA256.match(etag) or GIT_SHA1.match(etag)):
            logger.warning(
                "could not check %s/%s@%s: the Hub's hash for it is unknown here (no "
                "symlinked cache entry and no network); using it unchecked",
                repo_id,
                filename,
                revision,
            )
            return
        expected, origin = etag, "the hash the Hub reported for it (its ETag)"
    ok, actual = file_matches(path, expected)
    if not ok:
        discard(path, *([blob] if blob is not None else []))
        raise WeightsIntegrityError(
            f"{repo_id}/{filename}@{revision} has hash {actual}, not {expected} as "
            f"{origin} says; the file was deleted from the cache and not used. Loading "
            "again downloads it afresh; if this repeats, the file on the server has been "
            "altered"
        )


def hub_download(
    repo_id: str,
    filename: str,
    *,
    revision: str = "main",
    sha256: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    local_only: bool = False,
    progress: bool = True,
) -> Path:
    """Download (or find in the cache) a Hub file and check its hash.

    A download runs within the transfer limits (``CNAS_HUB_CONNECT_TIMEOUT``,
    ``CNAS_HUB_READ_TIMEOUT``, ``CNAS_HUB_STALL_SECONDS``, ``CNAS_HUB_MIN_RATE``).

    Raises:
        ValueError: ``revision`` is not a revision name (``check_revision``).
        WeightsNotFoundError: not on the Hub, not reachable, stalled, or not cached while
            offline or ``local_only``.
        WeightsIntegrityError: the file does not have the expected hash.
    """
    check_revision(revision)
    where = f"{repo_id}/{filename}@{revision}"
    cache = _hub_cache(cache_dir)
    if local_only or offline():
        path = _cached_hub_file(repo_id, filename, revision, cache, local_only)
    else:
        request = {
            "operation": "download",
            "repo_id": repo_id,
            "filename": filename,
            "revision": revision,
            "cache_dir": str(cache),
            "endpoint": _endpoint(),
            "version": __version__,
        }
        try:
            path = Path(transfer(request, what=where, name=filename, progress=progress)["path"])
        except TransferError as exc:
            raise WeightsNotFoundError(_hub_failure(exc, repo_id, filename, revision)) from None
    _verify_hub_file(path, repo_id, filename, revision, sha256)
    return path


def _hub_cache(cache_dir: str | os.PathLike[str] | None) -> Path:
    """The Hub cache folder: ``cache_dir``, else huggingface_hub's (``HF_HUB_CACHE``)."""
    from huggingface_hub import constants

    return Path(cache_dir if cache_dir is not None else constants.HF_HUB_CACHE)


def _cached_hub_file(
    repo_id: str, filename: str, revision: str, cache: Path, local_only: bool
) -> Path:
    """A Hub file from the cache alone (no network).

    ``try_to_load_from_cache`` only reads the cache folder. (``hf_hub_download`` with
    ``local_files_only=True`` would build HTTP headers first, and recent huggingface_hub
    versions fetch a list of "agent harnesses" from the Hub to do that: a request.)
    """
    from huggingface_hub import try_to_load_from_cache

    where = f"{repo_id}/{filename}@{revision}"
    try:
        path = try_to_load_from_cache(repo_id, filename, cache_dir=cache, revision=revision)
    except (OSError, ValueError) as exc:
        raise WeightsNotFoundError(f"could not read {where} from the Hub cache: {exc}") from None
    if not isinstance(path, str) or not Path(path).is_file():
        if local_only:
            raise WeightsNotFoundError(f"{where} is not in the Hub cache")
        raise WeightsNotFoundError(
            f"{where} is not in the Hub cache ({cache}) and HF_HUB_OFFLINE is set, so it "
            "cannot be downloaded: run once with network access (unset HF_HUB_OFFLINE), "
            f"or fetch it elsewhere (hf download {repo_id} {filename} --revision "
            f"{revision}) into this cache or pass the file's path as weights="
        )
    return Path(path)


def _hub_failure(exc: TransferError, repo_id: str, filename: str, revision: str) -> str:
    """The one line a failed Hub download is reported with."""
    where = f"{repo_id}/{filename}@{revision}"
    if exc.kind == "local":
        return (
            f"could not reach the Hub for {where} and it is not in the Hub cache; check the "
            "network (and HF_ENDPOINT), set HF_HUB_OFFLINE=1 to read only the cache without "
            "trying the network, or pass a local file as weights="
        )
    if exc.kind == "repository":
        return f"the Hub has no repository {repo_id!r} (or it is private or gated)"
    if exc.kind == "revision":
        return f"the Hub repository {repo_id!r} has no revision {revision!r}"
    if exc.kind == "file":
        return f"the Hub repository {repo_id!r} has no file {filename!r} at {revision!r}"
    if exc.kind == "stalled":
        return f"could not download {where}: {exc}{_LIMITS_HINT}"
    return (
        f"could not download {where}: {exc}; check the network (and HF_ENDPOINT), or set "
        "HF_HUB_OFFLINE=1 to read only the cache without trying the network"
    )


_LIMITS_HINT = " (limits: CNAS_HUB_STALL_SECONDS, CNAS_HUB_MIN_RATE)"


# -- URL files ------------------------------------------------------------------------------


def _url_cache(cache_dir: str | os.PathLike[str] | None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    return Path(torch.hub.get_dir()) / "checkpoints"


def _check_url_file(path: Path, source: UrlSource) -> None:
    expected = source.sha256 or source.hash_prefix
    assert expected is not None  # UrlSource guarantees one of them
    ok, actual = file_matches(path, expected)
    if not ok:
        discard(path)
        what = "SHA-256" if source.sha256 else "SHA-256 prefix in its name"
        raise WeightsIntegrityError(
            f"{source.filename} from {source.url} has SHA-256 {actual}, which does not "
            f"match its {what} {expected!r}; it was deleted and not used"
        )


def url_download(
    source: UrlSource,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    local_only: bool = False,
    progress: bool = True,
) -> Path:
    """Download (or find in the cache) a URL file and check its hash.

    Raises:
        WeightsNotFoundError: not at the URL, not reachable, stalled, or not cached while
            offline or ``local_only``.
        WeightsIntegrityError: the file does not have the expected hash.
    """
    target = _url_cache(cache_dir) / source.filename
    if target.is_file():
        _check_url_file(target, source)
        return target
    if local_only:
        raise WeightsNotFoundError(f"{target} is not cached")
    if offline():
        raise WeightsNotFoundError(
            f"{source.filename} is not in {target.parent} and HF_HUB_OFFLINE is set, so "
            f"it cannot be downloaded: fetch {source.url} with network access into that "
            "folder, or pass the file's path as weights="
        )
    logger.info("downloading %s to %s", source.url, target)
    try:
        with atomic_path(target) as tmp:
            request = {
                "operation": "url",
                "url": source.url,
                "target": str(tmp),
                "version": __version__,
            }
            transfer(request, what=source.url, name=source.filename, progress=progress)
            _check_url_file(tmp, source)
    except TransferError as exc:
        hint = _LIMITS_HINT if exc.kind == "stalled" else ""
        raise WeightsNotFoundError(f"could not download {source.url}: {exc}{hint}") from None
    return target


# -- weights records ----------------------------------------------------------------------


def fetch(
    source: Source,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    local_only: bool = False,
    progress: bool = True,
) -> Path:
    """The local path of one source's file, downloaded if needed, hash-checked."""
    if isinstance(source, HubSource):
        return _fetch_hub(source, cache_dir, local_only, progress)
    return url_download(source, cache_dir=cache_dir, local_only=local_only, progress=progress)


def _fetch_hub(
    source: HubSource,
    cache_dir: str | os.PathLike[str] | None,
    local_only: bool,
    progress: bool,
) -> Path:
    return hub_download(
        source.repo_id,
        source.filename,
        revision=source.revision,
        sha256=source.sha256,
        cache_dir=cache_dir,
        local_only=local_only,
        progress=progress,
    )


def weights_file(
    weights: Weights,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    name: str | None = None,
) -> Path:
    """The local path of ``weights``' file: a cached copy from any source first, else a
    download from the first published source that has it (one request each, no
    retries: a missing network fails in about a second).

    Args:
        weights: The weights record.
        cache_dir: The cache folder instead of the Hub's and torch's.
        progress: Show a download progress bar.
        name: What the weights are called in messages (``CNAS_ImageNet_Weights.IMAGENET1K_V1``).

    Raises:
        WeightsNotFoundError: not published, or no source has it (the message lists what
            each said and where to put a copy made elsewhere).
        WeightsIntegrityError: a file failed its hash check (not retried elsewhere).
    """
    for source in weights.sources:
        try:
            return fetch(source, cache_dir=cache_dir, local_only=True, progress=progress)
        except WeightsNotFoundError:
            continue
    what = name or f"the {weights.dataset_name} weights"
    published = [s for s in weights.sources if s.published]
    if not published:
        declared = ", ".join(f"{s.repo_id!r}" for s in weights.sources if isinstance(s, HubSource))
        raise WeightsNotFoundError(
            f"no {weights.dataset_name} weights are published yet: {what} is declared for "
            f"the Hub repository {declared or '(none)'}, which does not exist yet, so "
            "nothing was downloaded. Train a network yourself (cnas train) and load it "
            "with weights=FOLDER, or pass a weights file as weights="
        )
    copy = _copy_hint(published, cache_dir)
    if offline():
        raise WeightsNotFoundError(
            f"{what} are not in the local caches and HF_HUB_OFFLINE is set, so nothing "
            f"was downloaded: {copy}"
        )
    failures: list[str] = []
    for source in published:
        try:
            return fetch(source, cache_dir=cache_dir, progress=progress)
        except WeightsNotFoundError as exc:
            logger.info("%s: %s", source, exc)
            failures.append(str(exc))
    raise WeightsNotFoundError(
        f"could not download {what}: {'; '.join(failures)}. Without a network: {copy}; "
        "and set HF_HUB_OFFLINE=1 to read only the caches, without trying the network"
    )


def _copy_hint(sources: list[Source], cache_dir: str | os.PathLike[str] | None) -> str:
    """Where to put a copy of the file fetched on another machine."""
    hints = []
    for source in sources:
        if isinstance(source, UrlSource):
            target = _url_cache(cache_dir) / source.filename
            hints.append(f"download {source.url} elsewhere and copy it to {target}")
        else:
            hints.append(
                f"run `hf download {source.repo_id} {source.filename} --revision "
                f"{source.revision} --cache-dir {_hub_cache(cache_dir)}` elsewhere and copy "
                "that cache"
            )
    return " or ".join(hints) + ", or pass the file's path as weights="
