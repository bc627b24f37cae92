"""Dataset builders: CIFAR-10, the embedded digits set, synthetic data, and splits."""

from __future__ import annotations

import gzip
import math
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset, Subset, TensorDataset

from .._validation import seeded
from ..errors import DatasetNotFoundError
from ._transforms import CIFAR10_MEAN, CIFAR10_STD, cifar10_train_transform, search_transform

__all__ = [
    "DATASETS",
    "DEFAULT_TEST_PORTION",
    "DatasetInfo",
    "cifar10",
    "digits",
    "hold_out",
    "imagenet",
    "load_search_data",
    "load_test_data",
    "load_train_data",
    "search_split",
    "search_splits",
    "synthetic",
]

DIGITS_SAMPLES = 1797


@dataclass(frozen=True)
class DatasetInfo:
    """What a model needs to know about a dataset.

    Attributes:
        name: The dataset's name (``"folder"`` for an image folder).
        in_channels: Image channels.
        num_classes: Classes.
        image_size: The images' side.
        classes: The class names in label order, where the dataset names them.
        mean: The per-channel mean its images are normalized with (pixels in [0, 1]),
            where cnas chose it (an image folder's).
        std: The per-channel standard deviation, likewise.
    """

    name: str
    in_channels: int
    num_classes: int
    image_size: int
    classes: tuple[str, ...] = ()
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None


DATASETS: dict[str, DatasetInfo] = {
    "cifar10": DatasetInfo("cifar10", 3, 10, 32),
    "digits": DatasetInfo("digits", 1, 10, 8),
    "synthetic": DatasetInfo("synthetic", 3, 10, 16),
}
"""The datasets ``load_search_data`` and the CLI know, with their default shapes."""


def cifar10(
    root: str | os.PathLike[str], train: bool = True, download: bool = False, transform: Any = None
) -> Dataset[Any]:
    """CIFAR-10 from torchvision, normalized (and with ``transform`` when given).

    Args:
        root: Folder that holds (or will hold) ``cifar-10-batches-py``.
        train: The 50,000-image training set, or the 10,000-image test set.
        download: Download it when missing (needs the internet).
        transform: A torchvision transform; default: to tensor and normalize.

    Raises:
        DatasetNotFoundError: the data is missing and ``download`` is False, or the
            download failed; the message says what to do.
    """
    import torchvision  # type: ignore[import-untyped]
    from torchvision import transforms as T

    if transform is None:
        transform = T.Compose([T.ToTensor(), T.Normalize(CIFAR10_MEAN, CIFAR10_STD)])
    folder = Path(root)
    if not download and not (folder / "cifar-10-batches-py").is_dir():
        raise DatasetNotFoundError(
            f"CIFAR-10 not found in {folder} (no cifar-10-batches-py folder); download it with "
            "download=True (cnas search downloads it unless given --no-download) or point "
            "root (--data) at the folder that holds it"
        )
    try:
        dataset: Dataset[Any] = torchvision.datasets.CIFAR10(
            str(folder), train=train, download=download, transform=transform
        )
        return dataset
    except (OSError, RuntimeError) as exc:
        raise DatasetNotFoundError(
            f"could not load CIFAR-10 into {folder}: {exc}. Without internet access, copy "
            "cifar-10-batches-py there by hand, or search on the embedded digits set "
            "(--dataset digits)"
        ) from None


def digits(image_size: int = 8, channels: int = 1, normalize: bool = True) -> TensorDataset:
    """The UCI handwritten digits: 1,797 8x8 grey images of the digits 0-9.

    The data ships with cnas (credited in the module docstring), so no download happens.

    Args:
        image_size: Resize (bilinear) to this square size; 8 keeps the original pixels.
        channels: 1, or 3 to repeat the grey channel for RGB models.
        normalize: Scale to zero mean and unit variance (else pixels are in [0, 1]).

    Returns:
        A ``TensorDataset`` of ``(image, label)`` with images of shape
        ``(channels, image_size, image_size)``.
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    if image_size < 1:
        raise ValueError(f"image_size must be positive, got {image_size}")
    raw = gzip.decompress(
        resources.files("cnas.data").joinpath("_files/digits.bin.gz").read_bytes()
    )
    n = DIGITS_SAMPLES
    pixels = torch.frombuffer(bytearray(raw[: n * 64]), dtype=torch.uint8)
    labels = torch.frombuffer(bytearray(raw[n * 64 :]), dtype=torch.uint8).long()
    images = pixels.view(n, 1, 8, 8).float() / 16.0
    if image_size != 8:
        images = torch.nn.functional.interpolate(
            images, size=(image_size, image_size), mode="bilinear", align_corners=False
        )
    if normalize:
        images = (images - images.mean()) / images.std()
    if channels == 3:
        images = images.expand(-1, 3, -1, -1).contiguous()
    return TensorDataset(images, labels)


def synthetic(
    num_samples: int = 512,
    num_classes: int = 10,
    image_size: int = 32,
    channels: int = 3,
    noise: float = 0.5,
    seed: int = 0,
) -> TensorDataset:
    """A learnable synthetic image dataset: a fixed random pattern per class plus noise.

    Deterministic for a given ``seed``; meant for tests and benchmarks.
    """
    if num_samples < 1 or num_classes < 1 or image_size < 1 or channels < 1:
        raise ValueError("num_samples, num_classes, image_size and channels must be positive")
    g = seeded(seed)
    templates = torch.randn(num_classes, channels, image_size, image_size, generator=g)
    labels = torch.arange(num_samples) % num_classes
    labels = labels[torch.randperm(num_samples, generator=g)]
    images = templates[labels] + noise * torch.randn(
        num_samples, channels, image_size, image_size, generator=g
    )
    return TensorDataset(images, labels)


def search_split(
    dataset: Dataset[Any], train_portion: float = 0.4, seed: int = 2020
) -> tuple[Subset[Any], Subset[Any]]:
    """Split a training set for search: weights part and controller part.

    As the original code: a permutation from ``torch.randperm`` seeded with ``seed``; the
    first ``floor(train_portion * n)`` indices train the supernet weights, the rest the
    controller (and score derived architectures).
    """
    if not 0.0 < train_portion < 1.0:
        raise ValueError(f"train_portion must be in (0, 1), got {train_portion}")
    n = len(dataset)  # type: ignore[arg-type]
    indices = torch.randperm(n, generator=seeded(seed)).tolist()
    split = math.floor(train_portion * n)
    if split == 0 or split == n:
        raise ValueError(f"a {train_portion} split of {n} samples leaves one part empty")
    return Subset(dataset, indices[:split]), Subset(dataset, indices[split:])


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def imagenet(
    root: str | os.PathLike[str], split: str = "train", image_size: int = 224
) -> Dataset[Any]:
    """An ImageNet folder (``root/train/<class>/*.JPEG``, ``root/val/<class>/*.JPEG``).

    Training images get a random resized crop, a flip and colour jitter; validation images
    a resize to ``image_size / 0.875`` and a centre crop.

    Raises:
        DatasetNotFoundError: ``root/split`` is missing or holds no class folders of images.
    """
    import torchvision
    from torchvision import transforms as T

    folder = Path(root) / split
    if not folder.is_dir():
        raise DatasetNotFoundError(
            f"{folder} is not a folder; an ImageNet folder holds "
            "train/ and val/, each with one sub-folder per class"
        )
    normalize = T.Normalize(IMAGENET_MEAN, IMAGENET_STD)
    if split == "train":
        transform = T.Compose(
            [
                T.RandomResizedCrop(image_size),
                T.RandomHorizontalFlip(),
                T.ColorJitter(0.4, 0.4, 0.4, 0.2),
                T.ToTensor(),
                normalize,
            ]
        )
    else:
        transform = T.Compose(
            [T.Resize(int(image_size / 0.875)), T.CenterCrop(image_size), T.ToTensor(), normalize]
        )
    try:
        dataset: Dataset[Any] = torchvision.datasets.ImageFolder(str(folder), transform)
    except (FileNotFoundError, RuntimeError) as exc:
        raise DatasetNotFoundError(f"{folder} is not an ImageNet folder: {exc}") from None
    return dataset


DEFAULT_TEST_PORTION = 0.3
"""The share of the digits or synthetic set that ``hold_out_test`` keeps for testing."""

_HELD_OUT_SYNTHETIC = 1024  # the synthetic set a held-out split is drawn from, in every command


def hold_out(
    dataset: Dataset[Any], test_portion: float = DEFAULT_TEST_PORTION, seed: int = 0
) -> tuple[Subset[Any], Subset[Any]]:
    """Split ``dataset`` into a development part and a held-out test part.

    A permutation from ``torch.randperm`` seeded with ``seed``: the first
    ``round(test_portion * n)`` indices are the test part, the rest the development part
    (which search and training split further). The same arguments give the same split.

    Returns:
        ``(development, test)``.

    Raises:
        ValueError: ``test_portion`` is not in (0, 1), or leaves one part empty.
    """
    if not 0.0 < test_portion < 1.0:
        raise ValueError(f"test_portion must be in (0, 1), got {test_portion}")
    n = len(dataset)  # type: ignore[arg-type]
    order = torch.randperm(n, generator=seeded(seed)).tolist()
    cut = round(test_portion * n)
    if cut == 0 or cut == n:
        raise ValueError(f"a test portion of {test_portion} of {n} samples leaves one part empty")
    return Subset(dataset, order[cut:]), Subset(dataset, order[:cut])


def _split(dataset: Dataset[Any], portion: float, what: str) -> tuple[list[int], list[int]]:
    """The first ``portion`` of ``dataset``'s indices and the rest (a held-out development
    part is already shuffled; other sets are shuffled by the caller)."""
    if not 0.0 < portion < 1.0:
        raise ValueError(f"{what} must be in (0, 1), got {portion}")
    n = len(dataset)  # type: ignore[arg-type]
    cut = math.floor(portion * n)
    if cut == 0 or cut == n:
        raise ValueError(f"a {what} of {portion} of {n} samples leaves one part empty")
    return list(range(cut)), list(range(cut, n))


def _held_out_set(name: str, test_seed: int) -> Dataset[Any]:
    return (
        digits()
        if name == "digits"
        else synthetic(num_samples=_HELD_OUT_SYNTHETIC, image_size=16, seed=test_seed)
    )


def load_train_data(
    name: str,
    root: str | os.PathLike[str] = "data",
    download: bool = False,
    cutout: int = 16,
    seed: int = 0,
    *,
    augment: bool = True,
    hold_out_test: bool = False,
    test_portion: float = DEFAULT_TEST_PORTION,
    test_seed: int = 0,
    train_portion: float = 0.8,
) -> tuple[Dataset[Any], Dataset[Any], DatasetInfo]:
    """Training and validation data for training a network from scratch.

    ``cifar10``: the training set (crop and flip with ``augment``, then cutout) and the
    test set; ``imagenet``: an ImageNet folder's ``train`` and ``val``; ``digits`` and
    ``synthetic``: a split seeded with ``seed``, its first ``train_portion`` (80%)
    training.

    With ``hold_out_test``, a test split is kept out of both parts (``load_test_data``
    returns it): CIFAR-10's test set, the ImageNet folder's ``val``, or for digits and
    synthetic data the ``test_portion`` that ``hold_out`` draws with ``test_seed``. The
    validation part is then carved from what is left: its first ``train_portion``
    trains, the rest validates (CIFAR-10 and ImageNet: in the order of a permutation
    seeded with ``test_seed``, without augmentation on the validation part). ``seed``
    does not change these splits, so runs with several training seeds see the same data.

    Raises:
        ValueError: an unknown dataset name, or a portion that leaves a part empty.
        DatasetNotFoundError: the data is missing.
    """
    if name not in ("cifar10", "imagenet", "digits", "synthetic"):
        raise ValueError(f"unknown dataset {name!r}; known: cifar10, imagenet, digits, synthetic")
    if hold_out_test:
        return _held_out_train_data(
            name, root, download, cutout, augment, test_portion, test_seed, train_portion
        )
    if name == "cifar10":
        train = cifar10(
            root, train=True, download=download, transform=cifar10_train_transform(cutout, augment)
        )
        return train, cifar10(root, train=False, download=download), DATASETS["cifar10"]
    if name == "imagenet":
        info = DatasetInfo("imagenet", 3, 1000, 224)
        train = imagenet(root, "train")
        val = imagenet(root, "val")
        classes = len(getattr(train, "classes", [])) or 1000
        return train, val, DatasetInfo("imagenet", 3, classes, info.image_size)
    full = digits() if name == "digits" else synthetic(num_samples=640, image_size=16, seed=seed)
    n = len(full)
    order = torch.randperm(n, generator=seeded(seed)).tolist()
    first, rest = _split(full, train_portion, "train_portion")
    return (
        Subset(full, [order[i] for i in first]),
        Subset(full, [order[i] for i in rest]),
        DATASETS[name],
    )


def _held_out_train_data(
    name: str,
    root: str | os.PathLike[str],
    download: bool,
    cutout: int,
    augment: bool,
    test_portion: float,
    test_seed: int,
    train_portion: float,
) -> tuple[Dataset[Any], Dataset[Any], DatasetInfo]:
    if name in ("digits", "synthetic"):
        development, _ = hold_out(_held_out_set(name, test_seed), test_portion, test_seed)
        first, rest = _split(development, train_portion, "train_portion")
        return Subset(development, first), Subset(development, rest), DATASETS[name]
    if name == "cifar10":
        augmented: Dataset[Any] = cifar10(
            root, train=True, download=download, transform=cifar10_train_transform(cutout, augment)
        )
        plain: Dataset[Any] = cifar10(root, train=True, download=download)
        info = DATASETS["cifar10"]
    else:
        augmented = imagenet(root, "train")
        plain = _imagenet_eval_view(root)
        classes = len(getattr(augmented, "classes", [])) or 1000
        info = DatasetInfo("imagenet", 3, classes, 224)
    n = len(augmented)  # type: ignore[arg-type]
    order = torch.randperm(n, generator=seeded(test_seed, "test_seed")).tolist()
    first, rest = _split(augmented, train_portion, "train_portion")
    return (
        Subset(augmented, [order[i] for i in first]),
        Subset(plain, [order[i] for i in rest]),
        info,
    )


def _imagenet_eval_view(root: str | os.PathLike[str]) -> Dataset[Any]:
    """The ImageNet folder's ``train`` images with the validation transform."""
    import torchvision

    val = imagenet(root, "val")
    transform = getattr(val, "transform", None)
    view: Dataset[Any] = torchvision.datasets.ImageFolder(str(Path(root) / "train"), transform)
    return view


def load_test_data(
    name: str,
    root: str | os.PathLike[str] = "data",
    download: bool = False,
    *,
    test_portion: float = DEFAULT_TEST_PORTION,
    test_seed: int = 0,
) -> Dataset[Any]:
    """The test split that ``hold_out_test=True`` keeps out of ``load_train_data`` and
    ``load_search_data``: CIFAR-10's test set, an ImageNet folder's ``val``, or the held-out
    part of the digits or synthetic set (the same ``test_portion`` and ``test_seed``).

    Raises:
        ValueError: an unknown dataset name or a bad portion.
        DatasetNotFoundError: the data is missing.
    """
    if name == "cifar10":
        return cifar10(root, train=False, download=download)
    if name == "imagenet":
        return imagenet(root, "val")
    if name in ("digits", "synthetic"):
        return hold_out(_held_out_set(name, test_seed), test_portion, test_seed)[1]
    raise ValueError(f"unknown dataset {name!r}; known: cifar10, imagenet, digits, synthetic")


def load_search_data(
    name: str,
    root: str | os.PathLike[str] = "data",
    download: bool = False,
    train_portion: float = 0.4,
    seed: int = 2020,
    *,
    augment: bool = True,
    hold_out_test: bool = False,
    test_portion: float = DEFAULT_TEST_PORTION,
    test_seed: int = 0,
) -> tuple[Dataset[Any], Dataset[Any], DatasetInfo]:
    """The weights and controller parts of a dataset for search, and its shape.

    Args:
        name: ``cifar10``, ``digits`` or ``synthetic``.
        root: Data folder (CIFAR-10).
        download: Allow downloading CIFAR-10.
        train_portion: Share of the training set that trains the supernet weights.
        seed: Seed of the split.
        augment: CIFAR-10: random crop (padding 4) and horizontal flip on both parts, as
            the original search does (``search_transform``). The digits and synthetic
            sets are never augmented. ``False`` gives the same split without the
            augmentation, for scoring candidates.
        hold_out_test: Search only on the development part, as ``load_train_data`` with
            the same flag: digits and synthetic data without the ``test_portion`` that
            ``hold_out`` draws with ``test_seed``. (A CIFAR-10 search never sees the
            test set anyway.)
        test_portion: The held-out share (digits, synthetic).
        test_seed: The seed of the held-out split.

    Raises:
        ValueError: an unknown dataset name.
        DatasetNotFoundError: CIFAR-10 is missing.
    """
    weights, controller, _, info = search_splits(
        name,
        root,
        download,
        train_portion,
        seed,
        augment=augment,
        hold_out_test=hold_out_test,
        test_portion=test_portion,
        test_seed=test_seed,
    )
    return weights, controller, info


def search_splits(
    name: str,
    root: str | os.PathLike[str] = "data",
    download: bool = False,
    train_portion: float = 0.4,
    seed: int = 2020,
    *,
    augment: bool = True,
    hold_out_test: bool = False,
    test_portion: float = DEFAULT_TEST_PORTION,
    test_seed: int = 0,
) -> tuple[Dataset[Any], Dataset[Any], Dataset[Any] | None, DatasetInfo]:
    """``load_search_data`` and the view that scores candidates: ``(weights part,
    controller part, scoring view, info)``. The scoring view is the controller part
    without augmentation (CIFAR-10 with ``augment``; ``None`` otherwise), from the same
    images: the dataset is read once.

    Raises:
        ValueError: an unknown dataset name.
        DatasetNotFoundError: CIFAR-10 is missing.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    plain: Dataset[Any] | None = None
    if name == "cifar10":
        images = cifar10(root, train=True, download=download, transform=_untransformed)
        full: Dataset[Any] = _Transformed(images, search_transform(augment))
        if augment:
            plain = _Transformed(images, search_transform(False))
    elif hold_out_test:
        full = hold_out(_held_out_set(name, test_seed), test_portion, test_seed)[0]
    elif name == "digits":
        full = digits()
    else:
        full = synthetic(num_samples=1024, image_size=16, seed=seed)
    weights, controller = search_split(full, train_portion, seed)
    score = None if plain is None else Subset(plain, controller.indices)
    return weights, controller, score, DATASETS[name]


def _untransformed(image: Any) -> Any:
    """No transform (torchvision's CIFAR-10 would otherwise get cnas's default one)."""
    return image


class _Transformed(Dataset[Any]):
    """``(transform(image), label)`` of a dataset of ``(image, label)``: two views of one
    loaded dataset (augmented and plain) without reading it twice."""

    def __init__(self, base: Dataset[Any], transform: Any) -> None:
        self.base = base
        self.transform = transform

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        image, label = self.base[index]
        return self.transform(image), label
