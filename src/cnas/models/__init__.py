"""Evaluation networks built from genotypes.

``NetworkCIFAR`` and ``NetworkImageNet`` keep the original CNAS release's parameter
names, so its checkpoints load with ``strict=True``.
"""

from ._network import AuxiliaryHeadCIFAR as AuxiliaryHeadCIFAR
from ._network import AuxiliaryHeadImageNet as AuxiliaryHeadImageNet
from ._network import Cell as Cell
from ._network import NetworkCIFAR as NetworkCIFAR
from ._network import NetworkImageNet as NetworkImageNet
from ._network import drop_path as drop_path

__all__ = [
    "AuxiliaryHeadCIFAR",
    "AuxiliaryHeadImageNet",
    "Cell",
    "NetworkCIFAR",
    "NetworkImageNet",
    "drop_path",
]
