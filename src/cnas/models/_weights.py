"""Pretrained-weights metadata: where each file lives, its hash, and how to use it.

One ``Weights`` record per set of trained weights; one enum per builder lists them, with
``DEFAULT`` naming the recommended member. Nothing here downloads: ``_download``
does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from ..data import CIFAR10_MEAN, CIFAR10_STD, IMAGENET_MEAN, IMAGENET_STD

if TYPE_CHECKING:
    import torch

__all__ = [
    "CIFAR10_CATEGORIES",
    "HUB_ORG",
    "HUB_REPOS",
    "CNAS_CIFAR10_Weights",
    "CNAS_ImageNet_Weights",
    "HubSource",
    "UrlSource",
    "Weights",
    "WeightsEnum",
    "check_revision",
]

HUB_ORG = "cnas-models"
"""The Hugging Face Hub organization that is to hold the cnas weights.

Declared, not yet created: no cnas weights have been uploaded to the Hub so far (see
the "Pretrained models" docs page for what exists where)."""

HUB_REPOS: Mapping[str, str] = MappingProxyType(
    {
        "cnas_imagenet": f"{HUB_ORG}/cnas-imagenet",
        "cnas_cifar10": f"{HUB_ORG}/cnas-cifar10",
    }
)
"""The Hub repository of each builder's weights (model name -> ``ORG/NAME``)."""

RELEASE_URL = (
    "https://github.com/guoyongcs/CNAS/releases/download/models/cnas-imagenet-602b7057.pth"
)
"""The official ImageNet weights of the original CNAS release (a PyTorch state dict)."""

PAPER_URL = "https://proceedings.mlr.press/v119/guo20b.html"

CIFAR10_CATEGORIES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
"""The CIFAR-10 class names, in label order."""


_HASH_IN_NAME = re.compile(r"-([a-f0-9]{6,64})\.")
_HEX = re.compile(r"^[a-f0-9]{64}$")


def _check_sha256(value: str | None) -> None:
    if value is not None and not _HEX.match(value):
        raise ValueError(f"sha256 must be 64 lower-case hex digits, got {value!r}")


def check_revision(revision: str) -> str:
    """``revision`` if it is a name a git revision can have and no path can escape
    through (huggingface_hub keeps ``refs/REVISION`` in its cache): a branch, a tag, a
    commit hash or ``refs/pr/N``; no ``..`` or ``.`` part, no empty part, no leading
    ``/`` or ``-``, no backslash, no control character or space, at most 255 characters.

    Raises:
        ValueError: any other revision.

    Examples:
        >>> from cnas.models._weights import check_revision
        >>> check_revision("refs/pr/1")
        'refs/pr/1'
    """
    shown = revision[:60] + ("..." if len(revision) > 60 else "")
    parts = revision.split("/")
    if (
        not revision
        or len(revision) > 255
        or any(part in ("", ".", "..") for part in parts)
        or revision.startswith("-")
        or "\\" in revision
        or any(ord(c) < 33 or ord(c) == 127 for c in revision)
        or revision.endswith((".lock", "."))
    ):
        raise ValueError(
            f"{shown!r} is not a revision (a branch, tag, commit hash or refs/pr/N, without "
            "'..', empty parts, backslashes, spaces or control characters)"
        )
    return revision


@dataclass(frozen=True)
class HubSource:
    """A weights file in a Hugging Face Hub model repository.

    Attributes:
        repo_id: ``ORG/NAME``.
        filename: The file in the repository; ``model.safetensors`` as ``cnas train`` and
            ``save_pretrained`` write it.
        revision: The commit (or tag/branch) to download. Pin a commit hash once the
            file is published.
        sha256: The file's SHA-256, once published. Until then, the download is checked
            against the hash the Hub reports for the file (an LFS file's ETag).
        published: ``False`` for a repository that is declared but not created yet:
            cnas then sends it no request at all (it only looks in the local Hub cache),
            and the weights' error says that they are not published.
    """

    repo_id: str
    filename: str = "model.safetensors"
    revision: str = "main"
    sha256: str | None = None
    published: bool = True

    def __post_init__(self) -> None:
        if self.repo_id.count("/") != 1 or not all(self.repo_id.split("/")):
            raise ValueError(f"repo_id must be 'ORG/NAME', got {self.repo_id!r}")
        check_revision(self.revision)
        _check_sha256(self.sha256)

    def __str__(self) -> str:
        return f"hf-hub:{self.repo_id}@{self.revision} ({self.filename})"


@dataclass(frozen=True)
class UrlSource:
    """A weights file at a plain URL (the original release's files).

    The file name must carry the first digits of the file's SHA-256 after a dash
    (``name-602b7057.pth``, torchvision's rule) unless ``sha256`` gives the whole hash;
    every download and every cached copy is checked against it.

    Attributes:
        url: Where to download the file.
        sha256: The file's full SHA-256, when known.
    """

    url: str
    sha256: str | None = None

    def __post_init__(self) -> None:
        _check_sha256(self.sha256)
        if not self.filename:
            raise ValueError(f"url has no file name: {self.url!r}")
        if self.sha256 is None and self.hash_prefix is None:
            raise ValueError(
                f"{self.url!r}: give sha256, or name the file NAME-<sha256 prefix>.EXT "
                "so the download can be checked"
            )

    @property
    def filename(self) -> str:
        """The last path component of the URL."""
        return urlparse(self.url).path.rsplit("/", 1)[-1]

    @property
    def hash_prefix(self) -> str | None:
        """The SHA-256 prefix in the file name, if any (``602b7057``)."""
        match = _HASH_IN_NAME.search(self.filename)
        return match.group(1) if match else None

    @property
    def published(self) -> bool:
        """Always true: a URL source names a file that exists."""
        return True

    def __str__(self) -> str:
        return self.url


Source = HubSource | UrlSource


def _imagenet_categories() -> tuple[str, ...]:
    # torchvision ships the ImageNet-1k class names with its own weights; reuse them
    # rather than keep a second copy of the list.
    from torchvision.models import ResNet50_Weights  # type: ignore[import-untyped]

    return tuple(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


_DATASET_NAMES = {"imagenet-1k": "ImageNet-1k", "cifar10": "CIFAR-10"}

_CATEGORIES: dict[str, Callable[[], tuple[str, ...]]] = {
    "imagenet-1k": _imagenet_categories,
    "cifar10": lambda: CIFAR10_CATEGORIES,
}


@dataclass(frozen=True)
class Weights:
    """One set of trained weights: where to get it and how to use it.

    Attributes:
        sources: Where the file can be downloaded, in order of preference (safetensors on
            the Hub first). A file already in a local cache is used before any download.
        dataset: The training dataset (``"imagenet-1k"``, ``"cifar10"``).
        num_classes: Outputs of the classifier.
        input_size: ``(C, H, W)`` of the network input at evaluation.
        resize_size: The shorter image side is resized to this before the centre crop to
            ``input_size``.
        mean: Per-channel mean subtracted after scaling pixels to [0, 1].
        std: Per-channel standard deviation divided by.
        interpolation: Resize interpolation (``"bilinear"`` or ``"bicubic"``).
        license: The license of the weights (an SPDX-like id, as on the Hub).
        metrics: Accuracies in percent (``top1``, ``top5``) on the dataset's
            validation/test set.
        metrics_source: Where the metrics come from: ``"paper"`` (reported in the paper)
            or ``"measured"`` (this file, evaluated).
        num_params: Parameters without the auxiliary head.
        madds: Multiply-adds per image at ``input_size``, as the paper counts them.
        paper: The paper the numbers come from.
        description: One line about the weights.
    """

    sources: tuple[Source, ...]
    dataset: str
    num_classes: int
    input_size: tuple[int, int, int]
    resize_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bilinear"
    license: str = "bsd-3-clause"
    metrics: Mapping[str, float] = field(default_factory=dict, hash=False)
    metrics_source: str = "paper"
    num_params: int | None = None
    madds: int | None = None
    paper: str = PAPER_URL
    description: str = ""

    def __post_init__(self) -> None:
        if self.interpolation not in ("bilinear", "bicubic", "nearest"):
            raise ValueError(
                f"interpolation must be bilinear, bicubic or nearest, got {self.interpolation!r}"
            )
        object.__setattr__(self, "metrics", MappingProxyType(dict(self.metrics)))

    @property
    def published(self) -> bool:
        """Whether some source holds a published file (one cnas may download)."""
        return any(s.published for s in self.sources)

    @property
    def dataset_name(self) -> str:
        """The training dataset as people write it (``ImageNet-1k``, ``CIFAR-10``)."""
        return _DATASET_NAMES.get(self.dataset, self.dataset)

    @property
    def categories(self) -> tuple[str, ...] | None:
        """The class names in label order, or ``None`` for an unknown dataset.

        The ImageNet-1k names come from torchvision, which ships them.
        """
        make = _CATEGORIES.get(self.dataset)
        return make() if make is not None else None

    def transforms(self) -> Callable[[Any], torch.Tensor]:
        """The evaluation preprocessing: resize, centre crop, scale to [0, 1], normalize.

        Takes a PIL image or a ``uint8`` tensor ``(C, H, W)``; returns a float tensor.

        Examples:
            >>> import torch, cnas
            >>> preprocess = cnas.models.CNAS_CIFAR10_Weights.DEFAULT.transforms()
            >>> preprocess(torch.zeros(3, 40, 40, dtype=torch.uint8)).shape
            torch.Size([3, 32, 32])
        """
        import torch
        from torchvision.transforms import v2  # type: ignore[import-untyped]

        mode = getattr(v2.InterpolationMode, self.interpolation.upper())
        return v2.Compose(  # type: ignore[no-any-return]
            [
                v2.ToImage(),
                v2.Resize(self.resize_size, interpolation=mode, antialias=True),
                v2.CenterCrop(list(self.input_size[1:])),
                v2.ToDtype(torch.float32, scale=True),
                v2.Normalize(list(self.mean), list(self.std)),
            ]
        )

    @property
    def meta(self) -> dict[str, Any]:
        """The metadata as a plain dict (with torchvision's ``meta`` key names where they
        overlap: ``categories``, ``num_params``)."""
        return {
            "dataset": self.dataset,
            "num_classes": self.num_classes,
            "categories": self.categories,
            "input_size": self.input_size,
            "resize_size": self.resize_size,
            "mean": self.mean,
            "std": self.std,
            "interpolation": self.interpolation,
            "license": self.license,
            "metrics": dict(self.metrics),
            "metrics_source": self.metrics_source,
            "num_params": self.num_params,
            "madds": self.madds,
            "paper": self.paper,
            "sources": [str(s) for s in self.sources],
        }


class WeightsEnum(Enum):
    """Base of the per-builder weights enums; each member's value is a ``Weights``.

    Members forward the most used ``Weights`` fields (``transforms()``, ``categories``,
    ``num_classes``, ``metrics``, ``meta``, ``sources``); the rest are on ``.value``.
    """

    _value_: Weights

    @classmethod
    def from_str(cls, name: str) -> WeightsEnum:
        """The member called ``name``: ``"DEFAULT"``, ``"IMAGENET1K_V1"`` or
        ``"CNAS_ImageNet_Weights.IMAGENET1K_V1"``.

        Raises:
            KeyError: no such member; the message lists the members.
        """
        short = name.split(".", 1)[1] if name.startswith(f"{cls.__name__}.") else name
        member = cls.__members__.get(short)
        if member is None:
            known = ", ".join(cls.__members__)
            raise KeyError(f"{cls.__name__} has no member {name!r}; members: {known}")
        return member

    def transforms(self) -> Callable[[Any], torch.Tensor]:
        """The evaluation preprocessing of these weights (see ``Weights.transforms``)."""
        return self.value.transforms()

    @property
    def categories(self) -> tuple[str, ...] | None:
        """The class names in label order."""
        return self.value.categories

    @property
    def num_classes(self) -> int:
        """Outputs of the classifier."""
        return self.value.num_classes

    @property
    def metrics(self) -> Mapping[str, float]:
        """Accuracies in percent (see ``Weights.metrics_source`` for their origin)."""
        return self.value.metrics

    @property
    def meta(self) -> dict[str, Any]:
        """All metadata as a dict."""
        return self.value.meta

    @property
    def sources(self) -> tuple[Source, ...]:
        """Where the file can be downloaded, in order of preference."""
        return self.value.sources

    def __str__(self) -> str:
        return f"{type(self).__name__}.{self.name}"


class CNAS_ImageNet_Weights(WeightsEnum):  # noqa: N801 (torchvision's naming)
    """Weights of ``cnas_imagenet``: ``NetworkImageNet(48, 1000, 14, True, CNAS)``.

    ``IMAGENET1K_V1`` is the official ImageNet checkpoint of the original release
    (``cnas-imagenet-602b7057.pth``, 75.4% top-1 and 92.6% top-5 in the paper). It is
    read from the Hub as ``model.safetensors`` once that is published, and from the
    original GitHub release until then.
    """

    IMAGENET1K_V1 = Weights(
        sources=(
            HubSource(HUB_REPOS["cnas_imagenet"], published=False),
            UrlSource(RELEASE_URL),
        ),
        dataset="imagenet-1k",
        num_classes=1000,
        input_size=(3, 224, 224),
        resize_size=256,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        metrics={"top1": 75.4, "top5": 92.6},
        num_params=5_318_368,
        madds=576_000_000,
        description="the original release's ImageNet checkpoint (250 epochs, label smoothing)",
    )
    DEFAULT = IMAGENET1K_V1


class CNAS_CIFAR10_Weights(WeightsEnum):  # noqa: N801 (torchvision's naming)
    """Weights of ``cnas_cifar10``: ``NetworkCIFAR(36, 10, 20, True, CNAS)``.

    ``CIFAR10_V1`` is declared for the Hub and not yet trained or published; the metrics
    are the paper's (2.60% test error, a mean over runs).
    """

    CIFAR10_V1 = Weights(
        sources=(HubSource(HUB_REPOS["cnas_cifar10"], published=False),),
        dataset="cifar10",
        num_classes=10,
        input_size=(3, 32, 32),
        resize_size=32,
        mean=CIFAR10_MEAN,
        std=CIFAR10_STD,
        metrics={"top1": 97.40},
        num_params=3_695_374,
        description="the paper's CIFAR-10 recipe (600 epochs, cutout, drop-path 0.2)",
    )
    DEFAULT = CIFAR10_V1
