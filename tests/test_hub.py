"""Downloading weights from a Hub-compatible server and from release URLs, on 127.0.0.1.

The server answers ``HEAD``/``GET /{repo}/resolve/{revision}/{file}`` as the Hugging Face
Hub does: small files with their git blob id as ``ETag``; LFS files (``.safetensors``,
``.pth``) with a redirect to a second "CDN" server and ``X-Linked-Etag`` (their SHA-256)
and ``X-Linked-Size``; ``X-Repo-Commit`` on both; ``X-Error-Code`` on 404s. Every test
gets an empty Hub cache and torch.hub folder, and no socket may leave the loopback.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save as safetensors_bytes

import cnas
from cnas.models import (
    CNAS_CIFAR10_Weights,
    CNAS_ImageNet_Weights,
    HubSource,
    UrlSource,
    WeightsFormatError,
    WeightsIntegrityError,
    WeightsNotFoundError,
    network_config,
)

COMMIT = "0123456789abcdef0123456789abcdef01234567"
ROOT = Path(__file__).resolve().parents[1]

# sha256 of the sorted "key (shape)" lines of the state dict of the original release's
# network (cnas.model.eval.NetworkImageNet(48, 1000, 14, True, CNAS) in guoyongcs/CNAS),
# computed once from that code: 1,292 tensors.
ORIGINAL_LAYOUT_SHA256 = "b7ea58e6c2662fef0da267c8c2b9e5a2c2c5875b4d0469f013332c8fb3e594f9"
ORIGINAL_LAYOUT_SIZE = 1292


def layout_sha256(state: dict[str, torch.Tensor]) -> str:
    text = "\n".join(f"{k} {tuple(v.shape)}" for k, v in sorted(state.items()))
    return hashlib.sha256(text.encode()).hexdigest()


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


# -- the servers ------------------------------------------------------------------------------


@dataclasses.dataclass
class HubFile:
    content: bytes
    lfs: bool
    served: bytes  # what actually goes over the wire (differs from content when tampered)


class FakeHub:
    """A Hub-compatible server (plus a CDN for LFS files and plain release URLs)."""

    def __init__(self) -> None:
        self.repos: dict[str, dict[str, HubFile]] = {}
        self.urls: dict[str, bytes] = {}
        self.requests: list[tuple[str, str, str]] = []  # (method, path, user agent)
        self.hub = ThreadingHTTPServer(("127.0.0.1", 0), self._handler(cdn=False))
        self.cdn = ThreadingHTTPServer(("127.0.0.1", 0), self._handler(cdn=True))
        self._threads = [
            threading.Thread(target=s.serve_forever, daemon=True) for s in (self.hub, self.cdn)
        ]
        for t in self._threads:
            t.start()
        self.running = True

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.hub.server_address[1]}"

    def add(
        self, repo_id: str, filename: str, content: bytes, *, served: bytes | None = None
    ) -> None:
        lfs = filename.endswith((".safetensors", ".pth", ".pt", ".bin"))
        self.repos.setdefault(repo_id, {})[filename] = HubFile(
            content, lfs, content if served is None else served
        )

    def add_url(self, path: str, content: bytes) -> str:
        self.urls[path] = content
        return self.endpoint + path

    def stop(self) -> None:
        if self.running:
            for s in (self.hub, self.cdn):
                s.shutdown()
                s.server_close()
            self.running = False

    def _handler(self, cdn: bool) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_HEAD(self) -> None:
                self._answer(body=False)

            def do_GET(self) -> None:
                self._answer(body=True)

            def _send(self, status: int, headers: dict[str, str], data: bytes, body: bool) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if body:
                    self.wfile.write(data)

            def _answer(self, body: bool) -> None:
                hub.requests.append((self.command, self.path, self.headers.get("User-Agent", "")))
                if cdn:
                    sha = self.path.rsplit("/", 1)[-1]
                    for files in hub.repos.values():
                        for f in files.values():
                            if hashlib.sha256(f.content).hexdigest() == sha:
                                return self._send(200, {}, f.served, body)
                    return self._send(404, {}, b"", body)
                if self.path in hub.urls:
                    return self._send(200, {}, hub.urls[self.path], body)
                parts = self.path.lstrip("/").split("/")
                if len(parts) < 5 or parts[2] != "resolve":
                    return self._send(404, {}, b"not found", body)
                repo_id, revision, filename = "/".join(parts[:2]), parts[3], "/".join(parts[4:])
                if repo_id not in hub.repos:
                    return self._send(404, {"X-Error-Code": "RepoNotFound"}, b"", body)
                if revision not in ("main", COMMIT):
                    return self._send(404, {"X-Error-Code": "RevisionNotFound"}, b"", body)
                f = hub.repos[repo_id].get(filename)
                commit = {"X-Repo-Commit": COMMIT}
                if f is None:
                    return self._send(404, {**commit, "X-Error-Code": "EntryNotFound"}, b"", body)
                if not f.lfs:
                    etag = {"ETag": f'"{git_blob_id(f.content)}"'}
                    return self._send(200, {**commit, **etag}, f.served, body)
                sha = hashlib.sha256(f.content).hexdigest()
                cdn_url = f"http://127.0.0.1:{hub.cdn.server_address[1]}/lfs/{sha}"
                headers = {
                    **commit,
                    "ETag": f'"{git_blob_id(b"version https://git-lfs.github.com/spec/v1")}"',
                    "X-Linked-Etag": f'"{sha}"',
                    "X-Linked-Size": str(len(f.content)),
                    "Location": cdn_url,
                }
                return self._send(302, headers, b"", body)

        return Handler


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse any connection or name lookup that would leave this machine."""
    local = {"127.0.0.1", "localhost", "::1"}
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> None:
        if isinstance(address, tuple) and address[0] not in local:
            raise OSError(f"test tried to reach {address[0]}")
        real_connect(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in local and host is not None:
            raise OSError(f"test tried to resolve {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeHub]:
    from huggingface_hub import constants

    server = FakeHub()
    monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "default-hub-cache"))
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    yield server
    server.stop()


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "hub-cache"


# -- test weights -----------------------------------------------------------------------------


def tiny_network() -> cnas.NetworkCIFAR:
    return cnas.NetworkCIFAR(4, 10, 3, True, "CNAS")


def publish_tiny(hub: FakeHub, repo_id: str = "me/tiny") -> cnas.NetworkCIFAR:
    """A repository as ``cnas train`` writes it: config.json + model.safetensors."""
    net = tiny_network()
    config = {**network_config(net), "dataset": "cifar10", "metrics": {}}
    hub.add(repo_id, "config.json", json.dumps(config).encode())
    hub.add(repo_id, "model.safetensors", safetensors_bytes(net.state_dict()))
    return net


def same_tensors(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture(scope="module")
def release_state() -> dict[str, torch.Tensor]:
    """A state dict with exactly the layout of the official ImageNet checkpoint."""
    torch.manual_seed(1)
    return cnas.NetworkImageNet(48, 1000, 14, True, "CNAS").state_dict()


@pytest.fixture(scope="module")
def release_pth(release_state: dict[str, torch.Tensor], tmp_path_factory: Any) -> bytes:
    path = tmp_path_factory.mktemp("release") / "release.pth"
    torch.save(release_state, path)
    return path.read_bytes()


def release_url(hub: FakeHub, data: bytes, prefix: str | None = None) -> str:
    prefix = prefix or hashlib.sha256(data).hexdigest()[:8]
    path = f"/guoyongcs/CNAS/releases/download/models/cnas-imagenet-{prefix}.pth"
    return hub.add_url(path, data)


def release_only(url: str) -> cnas.models.Weights:
    return dataclasses.replace(CNAS_ImageNet_Weights.IMAGENET1K_V1.value, sources=(UrlSource(url),))


# -- Hub repositories -------------------------------------------------------------------------


def test_first_download_builds_the_network_from_config_json(hub: FakeHub, cache: Path) -> None:
    net = publish_tiny(hub)
    model = cnas.models.from_pretrained("hf-hub:me/tiny", cache_dir=cache)
    assert isinstance(model, cnas.NetworkCIFAR) and not model.training
    assert same_tensors(model, net)
    gets = [p for m, p, _ in hub.requests if m == "GET"]
    assert any(p.endswith("/config.json") for p in gets)
    assert any(p.startswith("/lfs/") for p in gets)  # the LFS file came through the "CDN"
    assert all(f"cnas/{cnas.__version__}" in ua for m, p, ua in hub.requests if m == "HEAD")


def test_revision_pins_the_download(hub: FakeHub, cache: Path) -> None:
    publish_tiny(hub)
    cnas.models.from_pretrained(f"hf-hub:me/tiny@{COMMIT}", cache_dir=cache)
    assert any(f"/resolve/{COMMIT}/" in p for _, p, _ in hub.requests)
    with pytest.raises(WeightsNotFoundError, match="has no revision 'v9'"):
        cnas.models.from_pretrained("hf-hub:me/tiny@v9", cache_dir=cache)


def test_second_load_comes_from_the_cache_with_the_server_stopped(
    hub: FakeHub, cache: Path
) -> None:
    net = publish_tiny(hub)
    cnas.models.from_pretrained("hf-hub:me/tiny", cache_dir=cache)
    hub.stop()
    again = cnas.models.from_pretrained("hf-hub:me/tiny", cache_dir=cache)
    assert same_tensors(again, net)


def test_builder_takes_an_hf_hub_repo_as_weights(hub: FakeHub, cache: Path) -> None:
    net = publish_tiny(hub)
    model = cnas.models.cnas_cifar10(weights="hf-hub:me/tiny", cache_dir=cache)
    assert same_tensors(model, net)
    with pytest.raises(ValueError, match="holds a NetworkCIFAR, but cnas_imagenet builds"):
        cnas.models.cnas_imagenet(weights="hf-hub:me/tiny", cache_dir=cache)
    assert same_tensors(cnas.models.get_model("hf-hub:me/tiny", cache_dir=cache), net)


def test_offline_with_an_empty_cache_says_what_to_do(
    hub: FakeHub, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish_tiny(hub)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsNotFoundError, match="HF_HUB_OFFLINE") as info:
        cnas.models.from_pretrained("hf-hub:me/tiny", cache_dir=cache)
    assert "network access" in str(info.value)
    with pytest.raises(WeightsNotFoundError, match="HF_HUB_OFFLINE") as info:
        cnas.models.cnas_imagenet(weights="DEFAULT", cache_dir=cache)
    assert "not in the local caches" in str(info.value) and "weights=" in str(info.value)
    assert hub.requests == []


def test_offline_loads_what_is_cached(
    hub: FakeHub, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    net = publish_tiny(hub)
    cnas.models.from_pretrained("hf-hub:me/tiny", cache_dir=cache)
    seen = len(hub.requests)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert same_tensors(cnas.models.from_pretrained("hf-hub:me/tiny", cache_dir=cache), net)
    assert len(hub.requests) == seen


def test_tampered_download_is_refused_and_removed_from_the_cache(hub: FakeHub, cache: Path) -> None:
    net = publish_tiny(hub)
    good = safetensors_bytes(net.state_dict())
    bad = bytearray(good)
    bad[-1] ^= 0xFF  # same size: the Hub client's own size check passes
    hub.add("me/tiny", "model.safetensors", good, served=bytes(bad))
    with pytest.raises(WeightsIntegrityError, match="ETag") as info:
        cnas.models.from_pretrained("hf-hub:me/tiny", cache_dir=cache)
    assert hashlib.sha256(good).hexdigest() in str(info.value)
    blobs = list((cache / "models--me--tiny" / "blobs").iterdir())
    assert hashlib.sha256(good).hexdigest() not in [b.name for b in blobs]
    assert not list((cache / "models--me--tiny" / "snapshots").rglob("model.safetensors"))
    hub.add("me/tiny", "model.safetensors", good)  # the server is repaired
    assert same_tensors(cnas.models.from_pretrained("hf-hub:me/tiny", cache_dir=cache), net)


def test_a_tampered_small_file_is_caught_by_its_git_blob_id(hub: FakeHub, cache: Path) -> None:
    net = publish_tiny(hub)
    config = json.dumps(network_config(net)).encode()
    hub.add("me/tiny", "config.json", config, served=config.replace(b"4", b"5", 1))
    with pytest.raises(WeightsIntegrityError, match="config.json"):
        cnas.models.from_pretrained("hf-hub:me/tiny", cache_dir=cache)


def test_without_symlinks_the_hubs_hash_comes_from_a_head_request(
    hub: FakeHub, cache: Path
) -> None:
    net = publish_tiny(hub)
    good = safetensors_bytes(net.state_dict())
    hub.add("me/tiny", "model.safetensors", good)
    assert same_tensors(cnas.models.from_pretrained("hf-hub:me/tiny", cache_dir=cache), net)
    # the cache of a file system without symlinks (some Windows set-ups): a plain file,
    # whose name no longer says which ETag it was stored under
    (cached,) = cache.rglob("model.safetensors")
    blob = cached.resolve()
    cached.unlink()
    cached.write_bytes(good)
    assert same_tensors(cnas.models.from_pretrained("hf-hub:me/tiny", cache_dir=cache), net)
    cached.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))  # altered in the cache
    blob.unlink()
    with pytest.raises(WeightsIntegrityError, match="ETag"):
        cnas.models.from_pretrained("hf-hub:me/tiny", cache_dir=cache)
    assert not cached.exists()


def test_pinned_sha256_is_checked_on_download_and_in_the_cache(hub: FakeHub, cache: Path) -> None:
    net = publish_tiny(hub, "cnas-models/pinned")
    data = safetensors_bytes(net.state_dict())
    digest = hashlib.sha256(data).hexdigest()
    weights = cnas.models.Weights(
        sources=(HubSource("cnas-models/pinned", revision=COMMIT, sha256=digest),),
        dataset="cifar10",
        num_classes=10,
        input_size=(3, 32, 32),
        resize_size=32,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
    )
    model = cnas.models.cnas_cifar10(weights=weights, C=4, layers=3, cache_dir=cache)
    assert same_tensors(model, net)
    (blob,) = (cache / "models--cnas-models--pinned" / "blobs").iterdir()
    blob.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # tampered in the cache
    with pytest.raises(WeightsIntegrityError, match="cnas weights metadata"):
        cnas.models.cnas_cifar10(weights=weights, C=4, layers=3, cache_dir=cache)
    assert not blob.exists()
    other = dataclasses.replace(
        weights, sources=(HubSource("cnas-models/pinned", sha256="0" * 64),)
    )
    with pytest.raises(WeightsIntegrityError, match="not 0000"):
        cnas.models.cnas_cifar10(weights=other, C=4, layers=3, cache_dir=cache)


def test_missing_repository_or_file_is_a_clear_error(hub: FakeHub, cache: Path) -> None:
    with pytest.raises(WeightsNotFoundError, match="no repository 'me/nothing'"):
        cnas.models.from_pretrained("hf-hub:me/nothing", cache_dir=cache)
    hub.add("me/half", "config.json", b"{}")
    with pytest.raises(WeightsNotFoundError, match="no file 'model.safetensors'"):
        cnas.models.from_pretrained("hf-hub:me/half", cache_dir=cache)


def test_a_repository_without_a_cnas_config_is_refused(hub: FakeHub, cache: Path) -> None:
    hub.add("me/foreign", "config.json", b'{"architectures": ["BertModel"]}')
    hub.add("me/foreign", "model.safetensors", safetensors_bytes({"x": torch.zeros(1)}))
    with pytest.raises(WeightsFormatError, match="missing network, genotype"):
        cnas.models.from_pretrained("hf-hub:me/foreign", cache_dir=cache)


@pytest.mark.parametrize("spec", ["hf-hub:", "hf-hub:noslash", "hf-hub:a/b@", "hf-hub:a/b/c"])
def test_malformed_hf_hub_specs_are_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="hf-hub:ORG/NAME"):
        cnas.models.from_pretrained(spec)


# -- the default ImageNet weights through both sources ----------------------------------------


def test_layout_fixture_is_the_original_release_layout(
    release_state: dict[str, torch.Tensor],
) -> None:
    assert len(release_state) == ORIGINAL_LAYOUT_SIZE
    assert layout_sha256(release_state) == ORIGINAL_LAYOUT_SHA256


@pytest.fixture
def hub_published(monkeypatch: pytest.MonkeyPatch) -> None:
    """``CNAS_ImageNet_Weights.IMAGENET1K_V1`` as it will be once its Hub repository is
    created (today the source is declared with ``published=False`` and never asked)."""
    member = CNAS_ImageNet_Weights.IMAGENET1K_V1
    hub_source, *others = member.value.sources
    sources = (dataclasses.replace(hub_source, published=True), *others)
    monkeypatch.setattr(member, "_value_", dataclasses.replace(member.value, sources=sources))


@pytest.mark.usefixtures("hub_published")
def test_default_imagenet_weights_load_from_the_hub(
    hub: FakeHub, cache: Path, release_state: dict[str, torch.Tensor]
) -> None:
    repo = cnas.models.HUB_REPOS["cnas_imagenet"]
    hub.add(repo, "model.safetensors", safetensors_bytes(release_state))
    model = cnas.models.cnas_imagenet(weights="DEFAULT", cache_dir=cache)
    state = model.state_dict()
    assert layout_sha256(state) == ORIGINAL_LAYOUT_SHA256
    assert all(torch.equal(state[k], v) for k, v in release_state.items())
    assert not any("/releases/" in p for _, p, _ in hub.requests)  # the Hub came first


def test_default_imagenet_weights_load_from_the_release_url(
    hub: FakeHub, cache: Path, release_state: dict[str, torch.Tensor], release_pth: bytes
) -> None:
    url = release_url(hub, release_pth)
    model = cnas.models.cnas_imagenet(weights=release_only(url), cache_dir=cache)
    state = model.state_dict()
    assert layout_sha256(state) == ORIGINAL_LAYOUT_SHA256
    assert all(torch.equal(state[k], v) for k, v in release_state.items())
    assert (cache / url.rsplit("/", 1)[-1]).is_file()


def test_release_url_is_the_fallback_when_the_hub_lacks_the_weights(
    hub: FakeHub, cache: Path, release_pth: bytes
) -> None:
    url = release_url(hub, release_pth)
    hub_source = dataclasses.replace(CNAS_ImageNet_Weights.IMAGENET1K_V1.sources[0], published=True)
    weights = dataclasses.replace(release_only(url), sources=(hub_source, UrlSource(url)))
    model = cnas.models.cnas_imagenet(weights=weights, cache_dir=cache)
    assert layout_sha256(model.state_dict()) == ORIGINAL_LAYOUT_SHA256
    heads = [p for m, p, _ in hub.requests if m == "HEAD"]
    assert heads and "cnas-imagenet" in heads[0]  # the Hub was asked first
    hub.stop()  # from now on the cached release file is used without any request
    cnas.models.cnas_imagenet(weights=weights, cache_dir=cache)


def test_release_file_with_the_wrong_hash_prefix_is_refused(
    hub: FakeHub, cache: Path, release_pth: bytes
) -> None:
    url = release_url(hub, release_pth, prefix="602b7057")
    with pytest.raises(WeightsIntegrityError, match="602b7057"):
        cnas.models.cnas_imagenet(weights=release_only(url), cache_dir=cache)
    assert not cache.exists() or not any(cache.iterdir())


def test_a_malicious_pickle_from_a_release_url_is_refused(
    hub: FakeHub, cache: Path, tmp_path: Path, write_exploit: Callable[[Path, str], Path]
) -> None:
    marker = write_exploit(tmp_path / "evil.pth", "stem0.0.weight")
    url = release_url(hub, (tmp_path / "evil.pth").read_bytes())
    with pytest.raises(WeightsFormatError, match=r"refused.*weights_only=True"):
        cnas.models.cnas_imagenet(weights=release_only(url), cache_dir=cache)
    assert not marker.exists()


def test_hub_repositories_are_declared_under_one_constant() -> None:
    for name in cnas.models.list_models():
        enum = cnas.models.get_model_weights(name)
        if enum is None:
            continue
        for member in enum:
            for source in member.sources:
                if isinstance(source, HubSource):
                    assert source.repo_id == cnas.models.HUB_REPOS[name]
                    assert source.repo_id.startswith(f"{cnas.models.HUB_ORG}/")


# -- without a network -----------------------------------------------------------------------


class CountingProxy:
    """An HTTP(S) proxy on 127.0.0.1 that refuses every connection (it closes it at once)
    after noting its first line: the download worker reaches every host through it."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self._socket.settimeout(0.1)  # so that stop() is seen at once
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:  # closed
                return
            with connection:
                connection.settimeout(5)
                try:
                    first = connection.recv(4096).split(b"\r\n", 1)[0]
                except OSError:
                    first = b""
                self.lines.append(first.decode("latin-1"))

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(5)
        self._socket.close()


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[CountingProxy]:
    from huggingface_hub import constants

    proxy = CountingProxy()
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, proxy.url)
    for name in ("NO_PROXY", "no_proxy", "HF_ENDPOINT", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    try:  # forget a list of "agent harnesses" fetched earlier: any fetch is seen here
        from huggingface_hub.utils import _detect_agent

        monkeypatch.setattr(_detect_agent, "_registry", None)
    except (ImportError, AttributeError):
        pass
    yield proxy
    proxy.stop()


def test_without_a_network_default_weights_fail_after_one_request(
    no_network: CountingProxy, tmp_path: Path
) -> None:
    # The declared-but-not-created Hub repository is never asked; the release URL is
    # asked once, with no retry, and the error says where the file goes and what
    # HF_HUB_OFFLINE does.
    with pytest.raises(WeightsNotFoundError) as info:
        cnas.models.cnas_imagenet(pretrained=True)
    assert [line.split()[:2] for line in no_network.lines] == [["CONNECT", "github.com:443"]]
    message = str(info.value)
    target = tmp_path / "torch-home" / "hub" / "checkpoints" / "cnas-imagenet-602b7057.pth"
    assert "CNAS_ImageNet_Weights.IMAGENET1K_V1" in message
    assert str(target) in message and "HF_HUB_OFFLINE=1" in message and "weights=" in message


def test_unpublished_weights_fail_without_any_request(no_network: CountingProxy) -> None:
    with pytest.raises(WeightsNotFoundError, match="no CIFAR-10 weights are published yet"):
        cnas.models.cnas_cifar10(pretrained=True)
    with pytest.raises(WeightsNotFoundError, match="CNAS_CIFAR10_Weights.CIFAR10_V1"):
        cnas.models.get_model("cnas_cifar10", weights="DEFAULT")
    assert no_network.lines == []
    assert cnas.models.list_models(with_weights=True) == ["cnas_imagenet"]
    assert not CNAS_CIFAR10_Weights.DEFAULT.value.published
    assert cnas.models.get_model_weights("cnas_cifar10") is CNAS_CIFAR10_Weights


def test_without_a_network_a_hub_repository_is_asked_once(no_network: CountingProxy) -> None:
    # huggingface_hub alone would ask again with five backed-off retries (about 25 s).
    with pytest.raises(WeightsNotFoundError, match="HF_HUB_OFFLINE=1"):
        cnas.models.get_model("hf-hub:me/some-model")
    assert [line.split()[:2] for line in no_network.lines] == [["CONNECT", "huggingface.co:443"]]


def test_offline_default_weights_name_the_file_and_its_folder(
    no_network: CountingProxy, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsNotFoundError, match="HF_HUB_OFFLINE is set") as info:
        cnas.models.cnas_imagenet(pretrained=True)
    target = tmp_path / "torch-home" / "hub" / "checkpoints" / "cnas-imagenet-602b7057.pth"
    assert str(target) in str(info.value)
    assert no_network.lines == []


def test_imagenet_default_keeps_the_official_release_url() -> None:
    (url,) = [s for s in CNAS_ImageNet_Weights.DEFAULT.sources if isinstance(s, UrlSource)]
    assert url.url == (
        "https://github.com/guoyongcs/CNAS/releases/download/models/cnas-imagenet-602b7057.pth"
    )
    assert url.hash_prefix == "602b7057"


# -- torch.hub -------------------------------------------------------------------------------


def test_hubconf_lists_the_builders_with_weights() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("cnas_hubconf", ROOT / "hubconf.py")
    assert spec is not None and spec.loader is not None
    hubconf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hubconf)
    entry_points = sorted(n for n in vars(hubconf) if callable(getattr(hubconf, n)) and n[0] != "_")
    assert entry_points == ["cnas_cifar10", "cnas_imagenet"]
    assert set(hubconf.dependencies) >= {"torch", "huggingface_hub", "safetensors"}


def test_hubconf_builds_networks_through_torch_hub() -> None:
    model = torch.hub.load(str(ROOT), "cnas_imagenet", source="local", weights=None)
    assert isinstance(model, cnas.NetworkImageNet)
    assert cnas.utils.count_params(model) == 5_318_368


def test_hubconf_takes_pretrained_false_as_the_original_did() -> None:
    model = torch.hub.load(str(ROOT), "cnas_imagenet", False, source="local")
    assert isinstance(model, cnas.NetworkImageNet) and model.training


@pytest.mark.usefixtures("hub_published")
def test_hubconf_loads_the_default_weights_as_the_original_did(
    hub: FakeHub, cache: Path, release_state: dict[str, torch.Tensor]
) -> None:
    repo = cnas.models.HUB_REPOS["cnas_imagenet"]
    hub.add(repo, "model.safetensors", safetensors_bytes(release_state))
    model = torch.hub.load(str(ROOT), "cnas_imagenet", source="local", cache_dir=cache)
    assert torch.equal(model.state_dict()["classifier.weight"], release_state["classifier.weight"])


def test_predict_reads_a_hub_model_with_its_recorded_preprocessing(
    hub: FakeHub, tmp_path: Path
) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).with_name("scripts")))
    from image_folders import make_folder

    images = sorted(
        make_folder(tmp_path / "shapes", classes=3, per_class=2, size=16).rglob("*.png")
    )
    net = cnas.NetworkCIFAR(4, 3, 3, False, "CNAS")
    preprocessing = {
        "input_size": [3, 16, 16],
        "resize_size": 16,
        "mean": [0.3, 0.3, 0.3],
        "std": [0.25, 0.25, 0.25],
        "interpolation": "bilinear",
    }
    folder = cnas.models.save_pretrained(
        net,
        tmp_path / "model",
        dataset="folder",
        preprocessing=preprocessing,
        categories=["a", "b", "c"],
    )
    for name in ("config.json", "model.safetensors"):
        hub.add("me/shapes", name, (folder / name).read_bytes())
    local = cnas.models.predict(folder, images, top_k=2)
    remote = cnas.models.predict("hf-hub:me/shapes", images, top_k=2)
    assert [p.to_dict() for p in remote] == [p.to_dict() for p in local]
    assert {p.name for p in remote} <= {"a", "b", "c"} and len(remote[0].top_k) == 2
