"""Datasets: the embedded digits, synthetic data, the search split and CIFAR-10 errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from cnas import data


def test_digits_ship_with_the_package() -> None:
    ds = data.digits()
    assert len(ds) == 1797
    x, _ = ds[0]
    assert x.shape == (1, 8, 8)
    labels = ds.tensors[1]
    assert sorted(labels.unique().tolist()) == list(range(10))
    assert torch.bincount(labels).min() >= 170  # about 180 images per digit
    assert abs(ds.tensors[0].mean().item()) < 1e-4


def test_digits_can_be_resized_and_made_rgb() -> None:
    ds = data.digits(image_size=16, channels=3, normalize=False)
    x, _ = ds[5]
    assert x.shape == (3, 16, 16)
    assert x.min().item() >= 0.0
    assert x.max().item() <= 1.0
    with pytest.raises(ValueError, match="channels must be 1 or 3"):
        data.digits(channels=2)


def test_synthetic_is_deterministic_and_balanced() -> None:
    a, b = data.synthetic(64, 4, 8, seed=1), data.synthetic(64, 4, 8, seed=1)
    assert torch.equal(a.tensors[0], b.tensors[0])
    assert torch.bincount(a.tensors[1]).tolist() == [16, 16, 16, 16]
    assert not torch.equal(a.tensors[0], data.synthetic(64, 4, 8, seed=2).tensors[0])


def test_search_split_follows_the_original_40_60_rule() -> None:
    ds = data.digits()
    weights, controller = data.search_split(ds, 0.4, seed=2020)
    assert (len(weights), len(controller)) == (718, 1079)
    assert not set(weights.indices) & set(controller.indices)
    perm = torch.randperm(1797, generator=torch.Generator().manual_seed(2020)).tolist()
    assert list(weights.indices) == perm[:718]
    with pytest.raises(ValueError, match="train_portion must be in"):
        data.search_split(ds, 1.0)


def test_missing_cifar10_gives_one_clear_message(tmp_path: Path) -> None:
    with pytest.raises(data.DatasetNotFoundError, match="CIFAR-10 not found in .*download"):
        data.cifar10(tmp_path, download=False)
    assert issubclass(data.DatasetNotFoundError, FileNotFoundError)


def test_load_search_data_knows_its_datasets(tmp_path: Path) -> None:
    weights, controller, info = data.load_search_data("digits")
    assert (info.in_channels, info.num_classes, info.image_size) == (1, 10, 8)
    assert len(weights) + len(controller) == 1797
    with pytest.raises(ValueError, match="unknown dataset 'mnist'"):
        data.load_search_data("mnist")
    with pytest.raises(data.DatasetNotFoundError):
        data.load_search_data("cifar10", tmp_path, download=False)


def test_cifar10_search_splits_get_the_originals_augmentation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from torchvision import transforms as T

    seen: list[object] = []

    def fake_cifar10(root: object, train: bool, download: bool, transform: object) -> Any:
        seen.append(transform)
        return torch.utils.data.TensorDataset(torch.zeros(10, 3, 32, 32), torch.zeros(10))

    monkeypatch.setattr("cnas.data._datasets.cifar10", fake_cifar10)
    weights, controller, info = data.load_search_data("cifar10")
    assert (len(weights), len(controller), info.image_size) == (4, 6, 32)
    unaugmented, _, _ = data.load_search_data("cifar10", augment=False)
    assert len(seen) == 2  # each call reads CIFAR-10 once, and transforms views of it
    augmented = weights.dataset.transform  # type: ignore[attr-defined]
    plain = unaugmented.dataset.transform  # type: ignore[attr-defined]
    steps = [type(t) for t in augmented.transforms]  # type: ignore[attr-defined]
    assert steps == [T.RandomCrop, T.RandomHorizontalFlip, T.ToTensor, T.Normalize]
    crop = augmented.transforms[0]  # type: ignore[attr-defined]
    assert (crop.size, crop.padding) == ((32, 32), 4)
    assert [type(t) for t in plain.transforms] == [T.ToTensor, T.Normalize]  # type: ignore[attr-defined]


def test_search_augmentation_crops_and_flips_images() -> None:
    from PIL import Image

    image = Image.fromarray((torch.arange(32 * 32 * 3) % 256).reshape(32, 32, 3).byte().numpy())
    torch.manual_seed(0)
    views = {tuple(data.search_transform()(image).flatten()[:64].tolist()) for _ in range(8)}
    assert len(views) > 1  # random crops and flips
    plain = data.search_transform(augment=False)
    assert torch.equal(plain(image), plain(image))


def test_the_held_out_test_split_is_kept_out_of_search_and_training() -> None:
    full = data.digits()
    development, test = data.hold_out(full)
    assert (len(development), len(test)) == (1258, 539)
    held = set(test.indices)
    assert held.isdisjoint(development.indices)
    assert set(data.load_test_data("digits").indices) == held
    weights, controller, _ = data.load_search_data("digits", train_portion=0.5, hold_out_test=True)
    searched = {development.indices[i] for part in (weights, controller) for i in part.indices}
    assert searched == set(development.indices)  # all of the rest, none of the test part
    train, val, _ = data.load_train_data("digits", hold_out_test=True, train_portion=0.25, seed=7)
    again, _, _ = data.load_train_data("digits", hold_out_test=True, train_portion=0.25, seed=0)
    assert train.indices == again.indices  # the training seed does not move the split
    trained = {development.indices[i] for part in (train, val) for i in part.indices}
    assert trained == set(development.indices) and (len(train), len(val)) == (314, 944)
    with pytest.raises(ValueError, match="test_portion must be in"):
        data.hold_out(full, 1.0)
