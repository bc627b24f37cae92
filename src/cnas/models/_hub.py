"""Downloading, verifying and reading weights files.

Hub files go through ``huggingface_hub.hf_hub_download`` (its cache, ``HF_HUB_OFFLINE``,
``HF_ENDPOINT``); plain URLs through ``torch.hub`` into ``$TORCH_HOME/hub/checkpoints``.
Every file is hashed before it is read: against the SHA-256 in the cnas metadata when
that is pinned, else against the hash the Hub reported for it (its ETag: the SHA-256 of
an LFS file, the git blob id of a small file), else against the hash prefix in a URL's
file name. A file that fails the check is deleted from the cache and never read.
``.pth`` files are read only with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import os
import pickle
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .._io import atomic_path
from .._version import __version__
from ..errors import WeightsFormatError, WeightsIntegrityError, WeightsNotFoundError

if TYPE_CHECKING:
    from ._weights import HubSource, Source, UrlSource, Weights

__all__ = [
    "hub_download",
    "load_state_dict",
    "read_state_dict",
    "sha256_file",
]

logger = logging.getLogger("cnas")

_TRUE = {"1", "true", "yes", "on"}
_SHA256 = re.compile(r"^[a-f0-9]{64}$")
_GIT_SHA1 = re.compile(r"^[a-f0-9]{40}$")


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


# -- hashing --------------------------------------------------------------------------------


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file, as 64 hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _git_blob_sha1(path: Path) -> str:
    """The git object id of a file (what the Hub reports as the ETag of a non-LFS file)."""
    digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode(), usedforsecurity=False)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _matches(path: Path, expected: str) -> tuple[bool, str]:
    """Whether ``path`` has the hash ``expected`` (SHA-256, a SHA-256 prefix, or a git
    blob id), and the actual hash of the same kind."""
    if _GIT_SHA1.match(expected):
        actual = _git_blob_sha1(path)
        return actual == expected, actual
    actual = sha256_file(path)
    return actual.startswith(expected), actual


def _discard(*paths: Path) -> None:
    for p in paths:
        try:
            p.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:  # pragma: no cover - a read-only cache
            logger.warning("could not delete %s: %s", p, exc)


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
    """Ask the Hub for the file's ETag (a HEAD request)."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    url = hf_hub_url(repo_id, filename, revision=revision, endpoint=_endpoint())
    meta = get_hf_file_metadata(
        url, library_name="cnas", library_version=__version__, endpoint=_endpoint()
    )
    return meta.etag


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
            except Exception as exc:  # unreachable now: the check below reports it
                logger.debug("HEAD for %s/%s failed: %s", repo_id, filename, exc)
        if etag is None or not (_SHA256.match(etag) or _GIT_SHA1.match(etag)):
            logger.warning(
                "could not check %s/%s@%s: the Hub's hash for it is unknown here (no "
                "symlinked cache entry and no network); using it unchecked",
                repo_id,
                filename,
                revision,
            )
            return
        expected, origin = etag, "the hash the Hub reported for it (its ETag)"
    ok, actual = _matches(path, expected)
    if not ok:
        _discard(path, *([blob] if blob is not None else []))
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

    Raises:
        WeightsNotFoundError: not on the Hub, not reachable, or not cached while offline
            or ``local_only``.
        WeightsIntegrityError: the file does not have the expected hash.
    """
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = f"{repo_id}/{filename}@{revision}"
    is_offline = offline()
    kwargs: dict[str, Any] = {}
    if not progress and "tqdm_class" in inspect.signature(hf_hub_download).parameters:
        kwargs["tqdm_class"] = _silent_tqdm()
    try:
        path = hf_hub_download(
            repo_id,
            filename,
            revision=revision,
            cache_dir=None if cache_dir is None else Path(cache_dir),
            library_name="cnas",
            library_version=__version__,
            local_files_only=local_only or is_offline,
            endpoint=_endpoint(),
            **kwargs,
        )
    except LocalEntryNotFoundError:
        if local_only:
            raise WeightsNotFoundError(f"{where} is not in the Hub cache") from None
        if is_offline:
            raise WeightsNotFoundError(
                f"{where} is not in the Hub cache and HF_HUB_OFFLINE is set, so it cannot "
                "be downloaded: run once with network access (unset HF_HUB_OFFLINE), or "
                f"fetch it elsewhere (hf download {repo_id} {filename} --revision "
                f"{revision}) into this cache or pass the file's path as weights="
            ) from None
        raise WeightsNotFoundError(
            f"could not reach the Hub for {where} and it is not in the Hub cache; check the "
            "network (and HF_ENDPOINT), or pass a local file as weights="
        ) from None
    except RepositoryNotFoundError:
        raise WeightsNotFoundError(
            f"the Hub has no repository {repo_id!r} (or it is private or gated)"
        ) from None
    except RevisionNotFoundError:
        raise WeightsNotFoundError(
            f"the Hub repository {repo_id!r} has no revision {revision!r}"
        ) from None
    except EntryNotFoundError:
        raise WeightsNotFoundError(
            f"the Hub repository {repo_id!r} has no file {filename!r} at {revision!r}"
        ) from None
    except (HfHubHTTPError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsNotFoundError(f"could not download {where}: {first}") from None
    result = Path(path)
    _verify_hub_file(result, repo_id, filename, revision, sha256)
    return result


def _silent_tqdm() -> Any:
    """A tqdm class with the bar switched off, for ``progress=False``."""
    from tqdm.auto import tqdm  # type: ignore[import-untyped]

    class SilentTqdm(tqdm):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

    return SilentTqdm


# -- URL files ------------------------------------------------------------------------------


def _url_cache(cache_dir: str | os.PathLike[str] | None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    return Path(torch.hub.get_dir()) / "checkpoints"


def _check_url_file(path: Path, source: UrlSource) -> None:
    expected = source.sha256 or source.hash_prefix
    assert expected is not None  # UrlSource guarantees one of them
    ok, actual = _matches(path, expected)
    if not ok:
        _discard(path)
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
        WeightsNotFoundError: not at the URL, not reachable, or not cached while offline
            or ``local_only``.
        WeightsIntegrityError: the file does not have the expected hash.
    """
    from urllib.error import HTTPError, URLError

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
            torch.hub.download_url_to_file(source.url, str(tmp), progress=progress)
            _check_url_file(tmp, source)
    except HTTPError as exc:
        raise WeightsNotFoundError(
            f"could not download {source.url}: HTTP {exc.code} {exc.reason}"
        ) from None
    except URLError as exc:
        raise WeightsNotFoundError(f"could not reach {source.url}: {exc.reason}") from None
    return target


# -- reading --------------------------------------------------------------------------------

_WRAPPERS = ("state_dict", "model")


def _refusal_reason(exc: BaseException) -> str | None:
    """The line of a weights-only failure that names a forbidden global, if any."""
    for line in str(exc).splitlines():
        if "GLOBAL" in line:
            text = line.strip()
            return text.split("WeightsUnpickler error:", 1)[-1].strip()
    return None


def extract_state_dict(obj: object, origin: str) -> dict[str, torch.Tensor]:
    """The state dict inside a loaded checkpoint.

    Unwraps ``{"state_dict": ...}`` (the original training checkpoints) and
    ``{"model": ...}`` (``cnas train`` checkpoints), and strips a ``module.`` prefix that
    ``DataParallel``/``DistributedDataParallel`` leave on every key.

    Raises:
        WeightsFormatError: no state dict of tensors inside.
    """
    while isinstance(obj, Mapping) and not _all_tensors(obj):
        inner = next((obj[k] for k in _WRAPPERS if isinstance(obj.get(k), Mapping)), None)
        if inner is None:
            break
        obj = inner
    if not isinstance(obj, Mapping) or not obj or not _all_tensors(obj):
        raise WeightsFormatError(
            f"{origin} holds no state dict (a mapping of parameter names to tensors, "
            "possibly under 'state_dict' or 'model')"
        )
    state = {str(k): v for k, v in obj.items()}
    if all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    return state


def _all_tensors(obj: Mapping[Any, Any]) -> bool:
    return bool(obj) and all(isinstance(v, torch.Tensor) for v in obj.values())


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read a state dict from a ``.safetensors`` file or a ``.pth``/``.pt`` file.

    ``.pth`` files are read with ``torch.load(weights_only=True)`` only: tensors and
    plain containers, never arbitrary objects. Wrapped checkpoints are unwrapped (see
    ``extract_state_dict``).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        WeightsFormatError: unreadable, refused, or not a state dict.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"weights file not found: {p}")
    if p.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return extract_state_dict(dict(load_file(str(p))), str(p))
        except SafetensorError as exc:
            raise WeightsFormatError(f"{p} is not a readable safetensors file: {exc}") from None
    try:
        with warnings.catch_warnings():
            # raw pickles make torch warn before it refuses or reads them; the outcome
            # is reported either way
            warnings.filterwarnings("ignore", "Detected pickle protocol", UserWarning)
            obj = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = _refusal_reason(exc)
        if reason is not None:
            raise WeightsFormatError(
                f"{p} was refused: it needs unpickling of arbitrary objects ({reason}); "
                "cnas reads .pth files only with torch.load(weights_only=True). If you "
                "trust the file, re-save its state dict with torch.save(state_dict) or "
                "as safetensors"
            ) from None
        raise WeightsFormatError(
            f"{p} is not a PyTorch weights file that torch.load(weights_only=True) can read"
        ) from None
    except Exception as exc:  # a corrupt file can fail in many ways; all get one answer
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise WeightsFormatError(
            f"{p} is not a readable PyTorch weights file ({type(exc).__name__}: {first})"
        ) from None
    return extract_state_dict(obj, str(p))


# -- weights records ----------------------------------------------------------------------


def fetch(
    source: Source,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    local_only: bool = False,
    progress: bool = True,
) -> Path:
    """The local path of one source's file, downloaded if needed, hash-checked."""
    from ._weights import HubSource

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
) -> Path:
    """The local path of ``weights``' file: a cached copy from any source first, else a
    download from the first source that has it.

    Raises:
        WeightsNotFoundError: no source has it (the message lists what each said).
        WeightsIntegrityError: a file failed its hash check (not retried elsewhere).
    """
    for source in weights.sources:
        try:
            return fetch(source, cache_dir=cache_dir, local_only=True, progress=progress)
        except WeightsNotFoundError:
            continue
    if offline():
        tried = "; ".join(str(s) for s in weights.sources)
        raise WeightsNotFoundError(
            f"the weights are not in the local caches and HF_HUB_OFFLINE is set, so they "
            f"cannot be downloaded (sources: {tried}). Run once with network access "
            "(unset HF_HUB_OFFLINE) to fill the cache, or download a source file "
            "elsewhere and pass its path as weights="
        )
    failures: list[str] = []
    for source in weights.sources:
        try:
            return fetch(source, cache_dir=cache_dir, progress=progress)
        except WeightsNotFoundError as exc:
            logger.info("%s: %s", source, exc)
            failures.append(str(exc))
    raise WeightsNotFoundError("could not get the weights from any source: " + "; ".join(failures))


def load_state_dict(
    weights: Weights,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> dict[str, torch.Tensor]:
    """Fetch ``weights``' file (see ``weights_file``) and read its state dict."""
    return read_state_dict(weights_file(weights, cache_dir=cache_dir, progress=progress))
