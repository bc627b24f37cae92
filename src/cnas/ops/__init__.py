"""Candidate operations: the op registry and the standard DARTS op family.

Every op is built by a factory ``factory(C, stride, affine) -> nn.Module`` that maps ``C``
channels to ``C`` channels. Register your own with ``register_op``, or ship them in a
package that declares them in the entry-point group ``cnas.ops``:

    [project.entry-points."cnas.ops"]
    my_op = "my_package.ops:my_op_factory"
"""

from .._deprecation import old_names
from .._registry import ENTRY_POINT_GROUPS
from ..errors import UnknownOpError as UnknownOpError
from . import _blocks, _norm
from ._blocks import DilConv as DilConv
from ._blocks import FactorizedReduce as FactorizedReduce
from ._blocks import FinalBatchNorm as FinalBatchNorm
from ._blocks import ReLUConvBN as ReLUConvBN
from ._blocks import SepConv as SepConv
from ._blocks import SubsampledDilatedConv2d as SubsampledDilatedConv2d
from ._blocks import Zero as Zero
from ._blocks import split_final_batchnorm as split_final_batchnorm
from ._norm import GemvBatchNorm2d as GemvBatchNorm2d
from ._registry import OpFactory as OpFactory
from ._registry import OpSpec as OpSpec
from ._registry import get_op as get_op
from ._registry import is_registered as is_registered
from ._registry import list_ops as list_ops
from ._registry import register_op as register_op
from ._registry import unregister_op as unregister_op
from ._standard import DARTS_OPS as DARTS_OPS
from ._standard import EXTRA_OPS as EXTRA_OPS

__all__ = [
    "DARTS_OPS",
    "EXTRA_OPS",
    "DilConv",
    "FactorizedReduce",
    "FinalBatchNorm",
    "GemvBatchNorm2d",
    "OpFactory",
    "OpSpec",
    "ReLUConvBN",
    "SepConv",
    "SubsampledDilatedConv2d",
    "UnknownOpError",
    "Zero",
    "get_op",
    "is_registered",
    "list_ops",
    "register_op",
    "split_final_batchnorm",
    "unregister_op",
]

# Internals of the fast paths that cnas's other packages use; not public (not in __all__).
_Tail = _blocks.Tail
_preactivated_tail = _blocks.preactivated_tail
_switch_batchnorm = _norm.switch_batchnorm
_use_gemv_batchnorm = _norm.use_gemv_batchnorm

__getattr__ = old_names(
    __name__,
    {
        "ENTRY_POINT_GROUP": (lambda: ENTRY_POINT_GROUPS["ops"], 'cnas.ENTRY_POINT_GROUPS["ops"]'),
        "Tail": (lambda: _blocks.Tail, None),
        "preactivated_tail": (lambda: _blocks.preactivated_tail, None),
        "switch_batchnorm": (lambda: _norm.switch_batchnorm, None),
        "use_gemv_batchnorm": (lambda: _norm.use_gemv_batchnorm, None),
    },
    removed_in="0.3",
)
