"""Evaluation networks, the model registry and pretrained weights.

``NetworkCIFAR`` and ``NetworkImageNet`` keep the original CNAS release's parameter
names, so its checkpoints load with ``strict=True``. Builders such as ``cnas_imagenet``
are registered by name (``list_models``, ``get_model``) and take ``pretrained=True`` (the
original release's spelling) or ``weights=``: a member of their weights enum
(``CNAS_ImageNet_Weights.DEFAULT``), ``"hf-hub:ORG/NAME"`` or a local file.
``save_pretrained`` and ``from_pretrained`` write and read Hub-ready folders; ``convert``
turns other checkpoints into them.

Modules, bottom floor first: ``_weights`` (metadata), ``_network``, ``_hashes``,
``_download``, ``_state_dict``, ``_config``; ``_registry`` (with the weights lookup),
``_loading``; ``_saving``; ``_builders``, ``_factory`` (``get_model`` and ``hf-hub:``
names), ``_convert``; ``_catalog`` (the docs tables); ``_preprocess`` (what a model
records of its inputs), ``_export``, ``_predict`` (``cnas predict``).

Examples:
    >>> import cnas
    >>> cnas.models.list_models("*_imagenet")[:2]
    ['cnas_imagenet', 'darts_v1_imagenet']
    >>> cnas.models.CNAS_ImageNet_Weights.DEFAULT.metrics["top1"]
    75.4
"""

from .._deprecation import old_names as _old_names
from .._registry import ENTRY_POINT_GROUPS as _ENTRY_POINT_GROUPS
from ..errors import UnknownModelError as UnknownModelError
from ..errors import WeightsFormatError as WeightsFormatError
from ..errors import WeightsIntegrityError as WeightsIntegrityError
from ..errors import WeightsNotFoundError as WeightsNotFoundError
from ._builders import WeightsArg as WeightsArg
from ._builders import cnas_cifar10 as cnas_cifar10
from ._builders import cnas_imagenet as cnas_imagenet
from ._builders import darts_v1_cifar10 as darts_v1_cifar10
from ._builders import darts_v1_imagenet as darts_v1_imagenet
from ._builders import darts_v2_cifar10 as darts_v2_cifar10
from ._builders import darts_v2_imagenet as darts_v2_imagenet
from ._builders import pc_darts_cifar10 as pc_darts_cifar10
from ._builders import pc_darts_imagenet as pc_darts_imagenet
from ._builders import pdarts_cifar10 as pdarts_cifar10
from ._builders import pdarts_imagenet as pdarts_imagenet
from ._config import CARD_NAME as CARD_NAME
from ._config import CONFIG_NAME as CONFIG_NAME
from ._config import WEIGHTS_NAME as WEIGHTS_NAME
from ._config import network_config as network_config
from ._convert import convert as convert
from ._defaults import DEFAULT_NETWORKS as DEFAULT_NETWORKS
from ._defaults import DefaultNetwork as DefaultNetwork
from ._defaults import default_network as default_network
from ._defaults import network_for_images as network_for_images
from ._export import CHECK_TOLERANCE as CHECK_TOLERANCE
from ._export import DEFAULT_OPSET as DEFAULT_OPSET
from ._export import ExportResult as ExportResult
from ._export import export as export
from ._factory import get_model as get_model
from ._loading import from_pretrained as from_pretrained
from ._network import AuxiliaryHeadCIFAR as AuxiliaryHeadCIFAR
from ._network import AuxiliaryHeadImageNet as AuxiliaryHeadImageNet
from ._network import Cell as Cell
from ._network import NetworkCIFAR as NetworkCIFAR
from ._network import NetworkImageNet as NetworkImageNet
from ._network import drop_path as drop_path
from ._predict import Prediction as Prediction
from ._predict import Predictor as Predictor
from ._predict import predict as predict
from ._preprocess import Preprocessing as Preprocessing
from ._preprocess import WithPreprocessing as WithPreprocessing
from ._registry import ModelSpec as ModelSpec
from ._registry import find_weights as find_weights
from ._registry import get_model_weights as get_model_weights
from ._registry import list_models as list_models
from ._registry import register_model as register_model
from ._registry import unregister_model as unregister_model
from ._saving import model_record as model_record
from ._saving import save_pretrained as save_pretrained
from ._state_dict import read_state_dict as read_state_dict
from ._weights import CIFAR10_CATEGORIES as CIFAR10_CATEGORIES
from ._weights import HUB_ORG as HUB_ORG
from ._weights import HUB_REPOS as HUB_REPOS
from ._weights import CNAS_CIFAR10_Weights as CNAS_CIFAR10_Weights
from ._weights import CNAS_ImageNet_Weights as CNAS_ImageNet_Weights
from ._weights import HubSource as HubSource
from ._weights import UrlSource as UrlSource
from ._weights import Weights as Weights
from ._weights import WeightsEnum as WeightsEnum

__all__ = [
    "CARD_NAME",
    "CHECK_TOLERANCE",
    "CIFAR10_CATEGORIES",
    "CONFIG_NAME",
    "DEFAULT_NETWORKS",
    "DEFAULT_OPSET",
    "HUB_ORG",
    "HUB_REPOS",
    "WEIGHTS_NAME",
    "AuxiliaryHeadCIFAR",
    "AuxiliaryHeadImageNet",
    "CNAS_CIFAR10_Weights",
    "CNAS_ImageNet_Weights",
    "Cell",
    "DefaultNetwork",
    "ExportResult",
    "HubSource",
    "ModelSpec",
    "NetworkCIFAR",
    "NetworkImageNet",
    "Prediction",
    "Predictor",
    "Preprocessing",
    "UnknownModelError",
    "UrlSource",
    "Weights",
    "WeightsArg",
    "WeightsEnum",
    "WeightsFormatError",
    "WeightsIntegrityError",
    "WeightsNotFoundError",
    "WithPreprocessing",
    "cnas_cifar10",
    "cnas_imagenet",
    "convert",
    "darts_v1_cifar10",
    "darts_v1_imagenet",
    "darts_v2_cifar10",
    "darts_v2_imagenet",
    "default_network",
    "drop_path",
    "export",
    "find_weights",
    "from_pretrained",
    "get_model",
    "get_model_weights",
    "list_models",
    "model_record",
    "network_config",
    "network_for_images",
    "pc_darts_cifar10",
    "pc_darts_imagenet",
    "pdarts_cifar10",
    "pdarts_imagenet",
    "predict",
    "read_state_dict",
    "register_model",
    "save_pretrained",
    "unregister_model",
]

__getattr__ = _old_names(
    __name__,
    {
        "ENTRY_POINT_GROUP": (
            lambda: _ENTRY_POINT_GROUPS["models"],
            'cnas.ENTRY_POINT_GROUPS["models"]',
        ),
    },
    removed_in="0.3",
)
