"""Candidate operations: the op registry and the standard DARTS op family.

Every op is built by a factory ``factory(C, stride, affine) -> nn.Module`` that maps ``C``
channels to ``C`` channels. Register your own with ``register_op``, or ship them in a
package that declares them in the entry-point group ``cnas.ops``:

    [project.entry-points."cnas.ops"]
    my_op = "my_package.ops:my_op_factory"
"""

from ..errors import UnknownOpError as UnknownOpError
from ._blocks import DilConv as DilConv
from ._blocks import FactorizedReduce as FactorizedReduce
from ._blocks import FinalBatchNorm as FinalBatchNorm
from ._blocks import ReLUConvBN as ReLUConvBN
from ._blocks import SepConv as SepConv
from ._blocks import SubsampledDilatedConv2d as SubsampledDilatedConv2d
from ._blocks import Tail as Tail
from ._blocks import Zero as Zero
from ._blocks import preactivated_tail as preactivated_tail
from ._blocks import split_final_batchnorm as split_final_batchnorm
from ._norm import GemvBatchNorm2d as GemvBatchNorm2d
from ._norm import switch_batchnorm as switch_batchnorm
from ._norm import use_gemv_batchnorm as use_gemv_batchnorm
from ._registry import ENTRY_POINT_GROUP as ENTRY_POINT_GROUP
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
    "ENTRY_POINT_GROUP",
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
    "Tail",
    "UnknownOpError",
    "Zero",
    "get_op",
    "is_registered",
    "list_ops",
    "preactivated_tail",
    "register_op",
    "split_final_batchnorm",
    "switch_batchnorm",
    "unregister_op",
    "use_gemv_batchnorm",
]
