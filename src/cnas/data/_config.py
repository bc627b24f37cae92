"""``DataConfig``: the data part of every run's configuration, shared by search and
training (and recorded in a trained model's ``config.json``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from torch.utils.data import Dataset

from .._config import Config, setting
from ..errors import ConfigError
from ._datasets import (
    DATASETS,
    DEFAULT_TEST_PORTION,
    DatasetInfo,
    load_test_data,
    load_train_data,
    search_splits,
)

__all__ = ["SEARCH_TRAIN_PORTION", "TRAIN_TRAIN_PORTION", "DataConfig", "DatasetName"]

DatasetName = Literal["cifar10", "digits", "synthetic", "imagenet"]

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
            set for tests), or `imagenet` (a folder with `train/` and `val/`; training
            only). Source: the original code searches and trains on CIFAR-10.
        root: The data folder: where CIFAR-10 is (or is downloaded to), or the ImageNet
            folder.
        download: Download CIFAR-10 into `root` when it is missing.
        train_portion: The share of the data that trains the weights; the rest
            validates. Unset: 0.4 in a search (the paper's 40%/60% split of CIFAR-10's
            training set, the original's `--train_portion`), 0.8 in a training (of the
            digits or synthetic set, or of what a held-out test split leaves).
        augment: Random crop (padding 4) and horizontal flip of CIFAR-10's images that
            train, as the original search does on both of its splits (candidates are
            scored without them) and the original evaluation in training.
        hold_out_test: Keep a test split out of the run, for an unbiased final score:
            CIFAR-10's test set, an ImageNet folder's `val/`, or a share
            (`test_portion`) of the digits or synthetic set drawn with `test_seed`.
            `cnas study` holds one out of every run.
        test_portion: With `hold_out_test`: the held-out share of the digits or
            synthetic set.
        test_seed: With `hold_out_test`: the seed of the held-out split (the same in
            every run of a study).
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

    def validate(self) -> None:
        """The test split's settings apply only with ``hold_out_test``; a folder's path
        holds no NUL character."""
        if "\0" in self.root:
            raise ConfigError("root", "a folder's path cannot hold a NUL character")
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
        return DATASETS[self.dataset]

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
        if self.dataset not in DATASETS:
            raise ConfigError(
                "dataset", f"a search reads {', '.join(DATASETS)}, not {self.dataset!r}"
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

    def load_test(self) -> Dataset[Any]:
        """The held-out test split (``hold_out_test``).

        Raises:
            ConfigError: no test split is held out.
            DatasetNotFoundError: the data is missing.
        """
        if not self.hold_out_test:
            raise ConfigError("hold_out_test", "no test split is held out of this run")
        return load_test_data(
            self.dataset,
            self.root,
            download=self.download,
            test_portion=self.test_portion,
            test_seed=self.test_seed,
        )
