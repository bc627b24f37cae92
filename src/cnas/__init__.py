"""cnas: Curriculum Neural Architecture Search for PyTorch.

An implementation of Guo et al., "Breaking the Curse of Space Explosion: Towards
Efficient NAS with Curriculum Search" (ICML 2020). What ``__all__`` lists is the stable
public API.

Example:
    >>> import cnas
    >>> net = cnas.NetworkCIFAR(36, 10, 20, True, cnas.genotypes.CNAS)
    >>> cnas.utils.count_params(net)
    3695374
"""

from . import genotypes as genotypes
from . import models as models
from . import ops as ops
from . import utils as utils
from . import viz as viz
from ._errors import GenotypeError as GenotypeError
from ._genotype import Edge as Edge
from ._genotype import Genotype as Genotype
from ._version import __version__ as __version__
from .models import NetworkCIFAR as NetworkCIFAR
from .models import NetworkImageNet as NetworkImageNet
from .ops import DARTS_OPS as DARTS_OPS

__all__ = [
    "DARTS_OPS",
    "Edge",
    "Genotype",
    "GenotypeError",
    "NetworkCIFAR",
    "NetworkImageNet",
    "__version__",
    "genotypes",
    "models",
    "ops",
    "utils",
    "viz",
]
