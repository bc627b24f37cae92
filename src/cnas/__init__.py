"""cnas: Curriculum Neural Architecture Search for PyTorch.

An implementation of Guo et al., "Breaking the Curse of Space Explosion: Towards
Efficient NAS with Curriculum Search" (ICML 2020). What ``__all__`` lists is the stable
public API.

Examples:
    >>> import cnas
    >>> net = cnas.NetworkCIFAR(36, 10, 20, True, cnas.genotypes.CNAS)
    >>> cnas.utils.count_params(net)
    3695374
"""

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__ as __version__

if TYPE_CHECKING:  # what the names below resolve to, for type checkers and the docs
    from . import costs as costs
    from . import data as data
    from . import distributed as distributed
    from . import errors as errors
    from . import genotypes as genotypes
    from . import kernels as kernels
    from . import models as models
    from . import ops as ops
    from . import search as search
    from . import study as study
    from . import training as training
    from . import utils as utils
    from . import viz as viz
    from ._genotype import Edge as Edge
    from ._genotype import Genotype as Genotype
    from ._registry import ENTRY_POINT_GROUPS as ENTRY_POINT_GROUPS
    from .curriculum import CurriculumSchedule as CurriculumSchedule
    from .curriculum import Stage as Stage
    from .errors import CheckpointError as CheckpointError
    from .errors import GenotypeError as GenotypeError
    from .models import NetworkCIFAR as NetworkCIFAR
    from .models import NetworkImageNet as NetworkImageNet
    from .ops import DARTS_OPS as DARTS_OPS
    from .search import ArchParameters as ArchParameters
    from .search import Callback as Callback
    from .search import Controller as Controller
    from .search import ControllerSample as ControllerSample
    from .search import Searcher as Searcher
    from .search import SearchResult as SearchResult
    from .search import StageResult as StageResult
    from .space import SearchSpace as SearchSpace
    from .supernet import MixedWeights as MixedWeights
    from .supernet import SuperNet as SuperNet

# ``import cnas`` stays light (no torch), so that ``cnas --help`` answers at once: each
# name below is imported when first used, and then it is an ordinary attribute.
_SUBMODULES = frozenset(
    {
        "costs",
        "data",
        "distributed",
        "errors",
        "genotypes",
        "kernels",
        "models",
        "ops",
        "search",
        "study",
        "training",
        "utils",
        "viz",
    }
)
_NAMES = {
    "ENTRY_POINT_GROUPS": "._registry",
    "Edge": "._genotype",
    "Genotype": "._genotype",
    "CurriculumSchedule": ".curriculum",
    "Stage": ".curriculum",
    "CheckpointError": ".errors",
    "GenotypeError": ".errors",
    "NetworkCIFAR": ".models",
    "NetworkImageNet": ".models",
    "DARTS_OPS": ".ops",
    "ArchParameters": ".search",
    "Callback": ".search",
    "Controller": ".search",
    "ControllerSample": ".search",
    "Searcher": ".search",
    "SearchResult": ".search",
    "StageResult": ".search",
    "SearchSpace": ".space",
    "MixedWeights": ".supernet",
    "SuperNet": ".supernet",
}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        module = importlib.import_module(f".{name}", __name__)
    elif name in _NAMES:
        module = importlib.import_module(_NAMES[name], __name__)
        module = getattr(module, name)
    else:
        raise AttributeError(f"module 'cnas' has no attribute {name!r}")
    globals()[name] = module
    return module


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "DARTS_OPS",
    "ENTRY_POINT_GROUPS",
    "ArchParameters",
    "Callback",
    "CheckpointError",
    "Controller",
    "ControllerSample",
    "CurriculumSchedule",
    "Edge",
    "Genotype",
    "GenotypeError",
    "MixedWeights",
    "NetworkCIFAR",
    "NetworkImageNet",
    "SearchResult",
    "SearchSpace",
    "Searcher",
    "Stage",
    "StageResult",
    "SuperNet",
    "__version__",
    "costs",
    "data",
    "distributed",
    "errors",
    "genotypes",
    "kernels",
    "models",
    "ops",
    "search",
    "study",
    "training",
    "utils",
    "viz",
]
