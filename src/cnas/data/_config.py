"""``DataConfig``: the data part of every run's configuration, shared by search and
training (and recorded in a trained model's ``config.json``)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch.utils.data import Dataset

from .._config import Config, setting
from .._io import shorten
from .._validation import seeded
from ..errors import ConfigError, DatasetError
from . import _folder
from ._datasets import (
    DATASETS,
    DEFAULT_TEST_PORTION,
    IMAGENET_MEAN,
    IMAGENET_STD,
    DatasetInfo,
    load_test_data,
    load_train_data,
    search_splits,
)

__all__ = ["SEARCH_TRAIN_PORTION", "TRAIN_TRAIN_PORTION", "DataConfig", "DatasetName"]

DatasetName = Literal["cifar10", "digits", "synthetic", "imagenet", "folder"]

SEARCH_TRAIN_PORTION = 0.4
"""A search's default share of its data that trains the supernet weights: the paper's
40%/60% split of CIFAR-10's training set (the original code's ``--train_portion``)."""

TRAIN_TRAIN_PORTION = 0.8
"""A training's default share of its data that trains (digits and synthetic data, and
what a held-out test split leaves of CIFAR-10 or ImageNet); the rest validates."""

_IMAGENET = DatasetInfo("imagenet", 3, 1000, 224)


@dataclass(frozen=True)
class DataConfig(Config):
    """Which images a run reads and how they are split: the part of a configuration that
    search and training share, and that a trained model records.

    Attributes:
        dataset: `cifar10` (CIFAR-10, downloaded on request), `digits` (the UCI
            handwritten digits, embedded: no download), `synthetic` (a learnable random
            set for tests), `imagenet` (a folder with `train/` and `val/`; training
            only), or `folder` (your own images: `root/<class>/*`, or `root/train/`,
            `root/val/` and an optional `root/test/` of class folders; decoded once and
            cached). Source: the original code searches and trains on CIFAR-10.
        root: The data folder: where CIFAR-10 is (or is downloaded to), the ImageNet
            folder, or the image folder.
        download: Download CIFAR-10 into `root` when it is missing.
        train_portion: The share of the data that trains the weights; the rest
            validates. Unset: 0.4 in a search (the paper's 40%/60% split of CIFAR-10's
            training set, the original's `--train_portion`), 0.8 in a training (of the
            digits or synthetic set, or of what a held-out test split leaves).
        augment: Random crop (padding 4) and horizontal flip of CIFAR-10's images that
            train, as the original search does on both of its splits (candidates are
            scored without them) and the original evaluation in training.
        hold_out_test: Keep a test split out of the run, for an unbiased final score:
            CIFAR-10's test set, an image folder's `test/` (an ImageNet folder's `val/`,
            in training), or a share (`test_portion`) of the digits or synthetic set, or
            of an image folder without `test/`, drawn with `test_seed`. `cnas study`
            holds one out of every run.
        test_portion: With `hold_out_test`: the held-out share of the digits or
            synthetic set, or of an image folder without `test/`.
        test_seed: With `hold_out_test`: the seed of the held-out split (the same in
            every run of a study).
        image_size: An image folder's images resized to this side (the shorter side,
            then the centre). Unset: their most common size is kept.
        normalize: How an image folder's pixels (scaled to [0, 1]) are normalized:
            `auto` (each channel's mean and standard deviation over the images that
            train: all but a held-out test split; computed once and recorded), `imagenet`
            (ImageNet's statistics), `none`, or explicit values `MEAN,.../STD,...` (one
            per channel). Other datasets keep their own normalization (`auto`).
    """

    dataset: DatasetName = setting("cifar10", flags=("--dataset",))
    root: str = setting("data", flags=("--data",), nonempty=True, metavar="DIR")
    download: bool = setting(True, flags=("--download",))
    train_portion: float | None = setting(
        None, flags=("--train-portion", "--train_portion"), above=0.0, below=1.0
    )
    augment: bool = setting(True, flags=("--augment", "--search-augment"))
    hold_out_test: bool = setting(False, flags=("--hold-out-test",))
    test_portion: float = setting(
        DEFAULT_TEST_PORTION, flags=("--test-portion",), above=0.0, below=1.0
    )
    test_seed: int = setting(0, flags=("--test-seed",), seed=True)
    image_size: int | None = setting(
        None, flags=("--image-size",), minimum=1, maximum=_folder.MAX_IMAGE_SIZE
    )
    normalize: str = setting(
        "auto", flags=("--normalize",), nonempty=True, metavar="auto|imagenet|none|MEAN,../STD,.."
    )

    def validate(self) -> None:
        """The test split's settings apply only with ``hold_out_test``; a folder's path
        holds no NUL character."""
        if "\0" in self.root:
            raise ConfigError("root", "a folder's path cannot hold a NUL character")
        if self.dataset != "folder":
            for name in ("image_size", "normalize"):
                if getattr(self, name) != DataConfig.__dataclass_fields__[name].default:
                    raise ConfigError(name, "applies to an image folder (dataset 'folder')")
        else:
            _normalization(self.normalize, None)
        if not self.hold_out_test:
            defaults = DataConfig.__dataclass_fields__
            for name in ("test_portion", "test_seed"):
                if getattr(self, name) != defaults[name].default:
                    raise ConfigError(
                        name, "applies to a held-out test split: set hold_out_test as well"
                    )

    # -- what it describes ----------------------------------------------------------------

    def info(self) -> DatasetInfo:
        """The dataset's image channels, classes and size, without loading it (an
        ImageNet folder: 1000 classes until it is read)."""
        if self.dataset == "imagenet":
            return _IMAGENET
        if self.dataset == "folder":
            return self._folder()[1]
        return DATASETS[self.dataset]

    def _folder(self) -> tuple[_folder.ImageFolderData, DatasetInfo, list[int], list[int]]:
        """The image folder, its info (with the normalization), the indices that search
        and training may use, and the held-out test indices (``hold_out_test``: its
        ``test/`` folder, else a ``test_portion`` of its training images)."""
        data = _folder.image_folder(self.root, self.image_size)
        development = data.indices("train")
        test: list[int] = []
        if self.hold_out_test:
            test = data.indices("test")
            if not test:
                order = torch.randperm(
                    len(development), generator=seeded(self.test_seed, "test_seed")
                ).tolist()
                cut = round(self.test_portion * len(development))
                if cut == 0 or cut == len(development):
                    raise DatasetError(
                        f"a test_portion of {self.test_portion} of {len(development)} images "
                        f"in {self.root} leaves one part empty"
                    )
                test = [development[i] for i in order[:cut]]
                development = [development[i] for i in order[cut:]]
        mean, std = _normalization(self.normalize, data.channels) or data.statistics(development)
        info = DatasetInfo(
            "folder",
            data.channels,
            len(data.classes),
            data.image_size,
            classes=data.classes,
            mean=mean,
            std=std,
        )
        return data, info, development, test

    def model_description(self) -> dict[str, Any]:
        """What a trained model's ``config.json`` records of this data, as
        ``save_pretrained`` takes it: the dataset's name, and for an image folder the
        preprocessing that a deployed network must repeat (``input_size``,
        ``resize_size``: the shorter side, then the centre, ``mean``/``std`` of pixels
        scaled to [0, 1], ``interpolation``) and the class names (``categories``)."""
        if self.dataset != "folder":
            return {"dataset": self.dataset}
        info = self.info()
        return {
            "dataset": "folder",
            "preprocessing": {
                "input_size": [info.in_channels, info.image_size, info.image_size],
                "resize_size": info.image_size,
                "mean": list(info.mean or ()),
                "std": list(info.std or ()),
                "interpolation": "bilinear",
            },
            "categories": list(info.classes),
        }

    def portion(self, kind: Literal["search", "training"]) -> float:
        """``train_portion``, or the default of a ``kind`` run."""
        if self.train_portion is not None:
            return self.train_portion
        return SEARCH_TRAIN_PORTION if kind == "search" else TRAIN_TRAIN_PORTION

    def _held_out(self) -> dict[str, Any]:
        if not self.hold_out_test:
            return {}
        return {
            "hold_out_test": True,
            "test_portion": self.test_portion,
            "test_seed": self.test_seed,
        }

    # -- loading --------------------------------------------------------------------------

    def load_search(
        self, seed: int
    ) -> tuple[Dataset[Any], Dataset[Any], Dataset[Any] | None, DatasetInfo]:
        """The search's splits: ``(weights part, controller part, scoring view, info)``.

        The split is drawn with the search's ``seed`` (as the original). The scoring view
        is the controller part without augmentation (``None`` when it has none).

        Raises:
            ConfigError: a dataset a search cannot read.
            DatasetNotFoundError: the data is missing.
        """
        if self.dataset == "folder":
            data, info, development, _ = self._folder()
            weights, controller = _portion(development, self.portion("search"), seed, self.root)
            mean, std = info.mean or (), info.std or ()
            return (
                data.dataset(weights, mean, std, augment=self.augment),
                data.dataset(controller, mean, std, augment=self.augment),
                data.dataset(controller, mean, std) if self.augment else None,
                info,
            )
        if self.dataset not in DATASETS:
            raise ConfigError(
                "dataset",
                f"a search reads {', '.join(DATASETS)} or an image folder (folder), not "
                f"{self.dataset!r}",
            )
        augment = self.augment and self.dataset == "cifar10"
        return search_splits(
            self.dataset,
            self.root,
            download=self.download,
            train_portion=self.portion("search"),
            seed=seed,
            augment=augment,
            **self._held_out(),
        )

    def load_train(self, seed: int, cutout: int) -> tuple[Dataset[Any], Dataset[Any], DatasetInfo]:
        """A training's ``(training part, validation part, info)``; ``seed`` draws the
        digits or synthetic split when no test split is held out.

        Raises:
            ConfigError: a ``train_portion`` that does not apply.
            DatasetNotFoundError: the data is missing.
        """
        if self.dataset == "folder":
            return self._load_folder_train(seed)
        if (
            self.train_portion is not None
            and not self.hold_out_test
            and self.dataset in ("cifar10", "imagenet")
        ):
            raise ConfigError(
                "train_portion",
                f"{self.dataset} trains on its training set and validates on its "
                f"{'test set' if self.dataset == 'cifar10' else 'val/ folder'}; a "
                "train_portion applies with hold_out_test",
            )
        return load_train_data(
            self.dataset,
            self.root,
            download=self.download,
            cutout=cutout,
            seed=seed,
            augment=self.augment,
            train_portion=self.portion("training"),
            **self._held_out(),
        )

    def _load_folder_train(self, seed: int) -> tuple[Dataset[Any], Dataset[Any], DatasetInfo]:
        data, info, development, _ = self._folder()
        mean, std = info.mean or (), info.std or ()
        if data.layout == "splits":
            if self.train_portion is not None:
                raise ConfigError(
                    "train_portion",
                    f"{self.root} has train/ and val/: train/ trains and val/ validates",
                )
            train, val = development, data.indices("val")
        else:
            if not self.hold_out_test:  # else: already in the held-out split's order
                order = torch.randperm(len(development), generator=seeded(seed)).tolist()
                development = [development[i] for i in order]
            cut = math.floor(self.portion("training") * len(development))
            if cut == 0 or cut == len(development):
                raise DatasetError(
                    f"a train_portion of {self.portion('training')} of {len(development)} "
                    f"images in {self.root} leaves one part empty"
                )
            train, val = development[:cut], development[cut:]
        return (
            data.dataset(train, mean, std, augment=self.augment),
            data.dataset(val, mean, std),
            info,
        )

    def load_test(self) -> Dataset[Any]:
        """The held-out test split (``hold_out_test``).

        Raises:
            ConfigError: no test split is held out.
            DatasetNotFoundError: the data is missing.
        """
        if not self.hold_out_test:
            raise ConfigError("hold_out_test", "no test split is held out of this run")
        if self.dataset == "folder":
            data, info, _, test = self._folder()
            return data.dataset(test, info.mean or (), info.std or ())
        return load_test_data(
            self.dataset,
            self.root,
            download=self.download,
            test_portion=self.test_portion,
            test_seed=self.test_seed,
        )


def _portion(
    indices: list[int], portion: float, seed: int, root: str
) -> tuple[list[int], list[int]]:
    """``indices`` split as ``search_split`` splits a dataset: a permutation seeded with
    ``seed``, its first ``floor(portion * n)`` and the rest."""
    order = torch.randperm(len(indices), generator=seeded(seed)).tolist()
    cut = math.floor(portion * len(indices))
    if cut == 0 or cut == len(indices):
        raise DatasetError(
            f"a train_portion of {portion} of {len(indices)} images in {root} leaves one part empty"
        )
    return [indices[i] for i in order[:cut]], [indices[i] for i in order[cut:]]


def _normalization(
    text: str, channels: int | None
) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """``normalize``'s mean and std for ``channels`` channels (``None`` for ``auto``).

    Raises:
        ConfigError: an unknown name, or values that are not one finite number per
            channel (a positive one for the std).
    """
    if text == "auto":
        return None
    if text == "imagenet":
        if channels == 1:
            return (round(sum(IMAGENET_MEAN) / 3, 6),), (round(sum(IMAGENET_STD) / 3, 6),)
        return tuple(IMAGENET_MEAN), tuple(IMAGENET_STD)
    if text == "none":
        n = channels or 1
        return (0.0,) * n, (1.0,) * n
    parts = text.split("/")
    try:
        if len(parts) != 2:
            raise ValueError
        mean = tuple(float(v) for v in parts[0].split(","))
        std = tuple(float(v) for v in parts[1].split(","))
    except ValueError:
        raise ConfigError(
            "normalize",
            f"expected auto, imagenet, none or MEAN,.../STD,..., got {shorten(text)}",
        ) from None
    if len(mean) != len(std) or not all(math.isfinite(v) for v in (*mean, *std)):
        raise ConfigError("normalize", "give one finite mean and one std per channel")
    if not all(v > 0 for v in std):
        raise ConfigError("normalize", "a standard deviation must be positive")
    if channels is not None and len(mean) != channels:
        raise ConfigError(
            "normalize", f"the images have {channels} channel(s); got {len(mean)} value(s)"
        )
    return mean, std
