"""The process that talks to the Hub for ``_hub_transfer`` (run as a script, not imported).

huggingface_hub retries timeouts and resets on its own, waits up to a minute for an
answer, and reads a download in 10 MB chunks; none of that can be bounded from outside
a call without changing its process-wide settings. So each network call runs here, in a
process of its own whose settings are ours to change: connect and read timeouts, small
chunks, a progress class that reports every chunk, no retries (one request says whether
the file can be had; an offline machine fails in a second), and no request for
huggingface_hub's list of "agent harnesses". The parent watches the reports
and ends this process when the download stalls; whatever fails here is reported as one
JSON line, never as a traceback.

Protocol: one JSON request on stdin; JSON lines on stdout: ``{"total": N}`` and
``{"bytes": N}`` while downloading, then ``{"path": ...}``, ``{"etag": ...}`` or
``{"error": KIND, "message": ...}``. Plain URLs (``operation: "url"``) are fetched here
too, with urllib, so that every download of cnas has the same bounds. This file imports
only the standard library and huggingface_hub, so that it starts fast (no torch).
"""

from __future__ import annotations

import json
import sys
from typing import Any

CHUNK = 16 * 1024
"""Bytes per progress report: small, so that a slow but moving download is seen moving."""


def _emit(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def _timeout(connect: float, read: float) -> Any:
    """A timeout in the form the installed huggingface_hub passes to its HTTP client."""
    from huggingface_hub.utils import _http

    client = getattr(_http, "httpx2", None) or getattr(_http, "httpx", None)
    if client is not None and hasattr(client, "Timeout"):
        return client.Timeout(read, connect=connect)
    return (connect, read)  # requests, huggingface_hub before 1.0


def _configure(connect: float, read: float) -> Any:
    """Bound every request of huggingface_hub in this process; the timeout it is given."""
    from huggingface_hub import constants, file_download

    timeout = _timeout(connect, read)
    constants.HF_HUB_DOWNLOAD_TIMEOUT = timeout
    constants.HF_HUB_ETAG_TIMEOUT = timeout
    constants.DOWNLOAD_CHUNK_SIZE = CHUNK
    if hasattr(file_download, "_ETAG_RETRY_TIMEOUT"):
        file_download._ETAG_RETRY_TIMEOUT = timeout
    # hf_hub_download asks a second time, with five backed-off retries (about 25 s),
    # when the first request fails on the network and the file is not cached. One
    # request is enough to know: an offline machine fails in a second, and says so.
    for name in ("_DEFAULT_RETRY_ON_EXCEPTIONS", "_DEFAULT_RETRY_ON_STATUS_CODES"):
        if hasattr(file_download, name):
            setattr(file_download, name, ())
    # Recent huggingface_hub versions first fetch a list of "agent harnesses" from the
    # Hub to fill in the User-Agent header: a request that is not for the file. An
    # empty list (what huggingface_hub itself uses when that fetch fails) skips it.
    try:
        from huggingface_hub.utils import _detect_agent
    except ImportError:
        pass
    else:
        if hasattr(_detect_agent, "_registry"):
            _detect_agent._registry = {"standardEnvVars": [], "harnesses": {}}
    return timeout


def _reporting_tqdm() -> Any:
    from tqdm.std import tqdm  # type: ignore[import-untyped]

    class Reporting(tqdm):  # type: ignore[misc]
        """Draws nothing; reports each chunk to the parent, which draws the bar."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)
            if kwargs.get("total"):
                _emit({"total": int(kwargs["total"])})

        def update(self, n: float | None = 1) -> bool | None:
            if n:
                _emit({"bytes": int(n)})
            return None

    return Reporting


def _kind(exc: BaseException) -> str:
    from huggingface_hub import errors

    for kind, name in (
        ("local", "LocalEntryNotFoundError"),
        ("repository", "RepositoryNotFoundError"),
        ("revision", "RevisionNotFoundError"),
        ("file", "EntryNotFoundError"),
    ):
        cls = getattr(errors, name, None)
        if cls is not None and isinstance(exc, cls):
            return kind
    return "other"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return f"{type(exc).__name__}: {line[:300]}"


def _download(request: dict[str, Any], timeout: Any) -> dict[str, Any]:
    from huggingface_hub import hf_hub_download

    path = hf_hub_download(
        request["repo_id"],
        request["filename"],
        revision=request["revision"],
        cache_dir=request["cache_dir"],
        library_name="cnas",
        library_version=request["version"],
        endpoint=request["endpoint"],
        etag_timeout=timeout,
        tqdm_class=_reporting_tqdm(),
    )
    return {"path": str(path)}


def _etag(request: dict[str, Any], timeout: Any) -> dict[str, Any]:
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    url = hf_hub_url(
        request["repo_id"],
        request["filename"],
        revision=request["revision"],
        endpoint=request["endpoint"],
    )
    meta = get_hf_file_metadata(
        url,
        timeout=timeout,
        library_name="cnas",
        library_version=request["version"],
        endpoint=request["endpoint"],
    )
    return {"etag": meta.etag}


def _url(request: dict[str, Any], timeout: Any) -> dict[str, Any]:
    """A plain URL (the original release's files) into ``request["target"]``."""
    import urllib.request

    del timeout  # urllib takes one socket timeout, for connecting and for each read
    headers = {"User-Agent": f"cnas/{request['version']}"}
    opened = urllib.request.urlopen(
        urllib.request.Request(request["url"], headers=headers), timeout=float(request["read"])
    )
    with opened as response, open(request["target"], "wb") as out:
        length = response.headers.get("Content-Length", "")
        total = int(length) if length.isdigit() else None
        if total:
            _emit({"total": total})
        received = 0
        while chunk := response.read1(CHUNK):
            out.write(chunk)
            received += len(chunk)
            _emit({"bytes": len(chunk)})
    if total is not None and received != total:
        raise OSError(f"the answer ended after {received} of its {total} bytes")
    return {"path": request["target"]}


OPERATIONS = {"download": _download, "etag": _etag, "url": _url}


def main() -> int:
    """Serve one request from stdin; the result (or the error) as the last stdout line."""
    try:
        request = json.loads(sys.stdin.read())
        timeout = _configure(float(request["connect"]), float(request["read"]))
        _emit(OPERATIONS[request["operation"]](request, timeout))
    except BaseException as exc:  # every failure is reported, as one line
        try:
            kind = _kind(exc)
        except Exception:  # huggingface_hub itself did not import
            kind = "other"
        _emit({"error": kind, "message": _first_line(exc)})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
