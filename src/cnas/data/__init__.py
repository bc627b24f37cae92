"""Datasets for search and training.

- ``cifar10``: CIFAR-10 through torchvision (downloads on request).
- ``digits``: the UCI handwritten digits (1,797 8x8 images), shipped inside cnas so a
  search runs with no download. Source: E. Alpaydin and C. Kaynak, "Optical Recognition
  of Handwritten Digits", UCI Machine Learning Repository (1998),
  <https://doi.org/10.24432/C50P49>, licensed CC BY 4.0.
- ``synthetic``: a learnable synthetic dataset for tests and benchmarks.
- ``image_folder``: your own images, ``DIR/<class>/*`` or ``DIR/train|val[|test]/<class>/*``,
  decoded once into a cache (``ImageFolderData``, served as ``FolderImages``); a run
  reads one with ``DataConfig(dataset="folder", root=DIR)`` (``--dataset folder``).
- ``DataConfig``: the data part of a run's configuration (which dataset, where, how it
  is split and augmented, the held-out test split), shared by search and training.
- ``hold_out`` and ``load_test_data``: a test split that no search or training sees
  (``hold_out_test=True`` in ``load_search_data``/``load_train_data``), for studies.
- ``search_split``: the original CNAS split of a training set into a part that
  trains the supernet weights (40%) and a part that trains the controller (60%);
  ``search_transform``: the original's search-time augmentation of CIFAR-10.
- ``Cutout`` and ``cifar10_train_transform``: the original evaluation's augmentation.
"""

from ..errors import DatasetError as DatasetError
from ..errors import DatasetNotFoundError as DatasetNotFoundError
from ._config import DataConfig as DataConfig
from ._datasets import DATASETS as DATASETS
from ._datasets import DEFAULT_TEST_PORTION as DEFAULT_TEST_PORTION
from ._datasets import IMAGENET_MEAN as IMAGENET_MEAN
from ._datasets import IMAGENET_STD as IMAGENET_STD
from ._datasets import DatasetInfo as DatasetInfo
from ._datasets import cifar10 as cifar10
from ._datasets import digits as digits
from ._datasets import hold_out as hold_out
from ._datasets import imagenet as imagenet
from ._datasets import load_search_data as load_search_data
from ._datasets import load_test_data as load_test_data
from ._datasets import load_train_data as load_train_data
from ._datasets import search_split as search_split
from ._datasets import synthetic as synthetic
from ._folder import IMAGE_EXTENSIONS as IMAGE_EXTENSIONS
from ._folder import FolderImages as FolderImages
from ._folder import ImageFolderData as ImageFolderData
from ._folder import decode_image as decode_image
from ._folder import image_folder as image_folder
from ._folder_cache import cache_dir as cache_dir
from ._transforms import CIFAR10_MEAN as CIFAR10_MEAN
from ._transforms import CIFAR10_STD as CIFAR10_STD
from ._transforms import Cutout as Cutout
from ._transforms import cifar10_train_transform as cifar10_train_transform
from ._transforms import search_transform as search_transform

__all__ = [
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "DATASETS",
    "DEFAULT_TEST_PORTION",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "IMAGE_EXTENSIONS",
    "Cutout",
    "DataConfig",
    "DatasetError",
    "DatasetInfo",
    "DatasetNotFoundError",
    "FolderImages",
    "ImageFolderData",
    "cache_dir",
    "cifar10",
    "cifar10_train_transform",
    "decode_image",
    "digits",
    "hold_out",
    "image_folder",
    "imagenet",
    "load_search_data",
    "load_test_data",
    "load_train_data",
    "search_split",
    "search_transform",
    "synthetic",
]
