"""Published cells as ``cnas.Genotype`` constants, and a by-name registry.

The constants are data typed in from each paper's published genotype:

- ``CNAS``: Guo et al., "Breaking the Curse of Space Explosion: Towards Efficient NAS with
  Curriculum Search", ICML 2020 (the cell in the authors' README; 2.60% CIFAR-10 error,
  3.7M params; 75.4% ImageNet top-1).
- ``DARTS_V1`` / ``DARTS_V2``: Liu et al., "DARTS: Differentiable Architecture Search",
  ICLR 2019 (first- and second-order cells).
- ``PC_DARTS``: Xu et al., "PC-DARTS", ICLR 2020 (the CIFAR-10 cell).
- ``PDARTS``: Chen et al., "Progressive Differentiable Architecture Search", ICCV 2019.
- ``NASNet``: Zoph et al., "Learning Transferable Architectures", CVPR 2018 (NASNet-A),
  in the DARTS transcription (5 nodes).
- ``AmoebaNet``: Real et al., "Regularized Evolution", AAAI 2019 (AmoebaNet-A), in the
  DARTS transcription (5 nodes).

Examples:
    >>> import cnas
    >>> cnas.genotypes.get("DARTS_V2") is cnas.genotypes.DARTS_V2
    True
"""

from __future__ import annotations

import builtins
import os
import threading

from ._genotype import Genotype
from ._registry import close_matches
from .errors import UnknownGenotypeError

__all__ = [
    "CNAS",
    "DARTS",
    "DARTS_V1",
    "DARTS_V2",
    "PC_DARTS",
    "PDARTS",
    "AmoebaNet",
    "NASNet",
    "UnknownGenotypeError",
    "get",
    "list",
    "register",
    "resolve",
    "unregister",
]


CNAS = Genotype.from_arch(
    normal_arch=[
        ("dil_conv_3x3", 1, 2),
        ("sep_conv_3x3", 0, 2),
        ("sep_conv_3x3", 0, 3),
        ("skip_connect", 1, 3),
        ("sep_conv_3x3", 1, 4),
        ("max_pool_3x3", 3, 4),
        ("sep_conv_3x3", 2, 5),
        ("sep_conv_3x3", 4, 5),
    ],
    normal_concat=[2, 3, 4, 5],
    reduced_arch=[
        ("sep_conv_3x3", 0, 2),
        ("skip_connect", 1, 2),
        ("dil_conv_5x5", 2, 3),
        ("skip_connect", 1, 3),
        ("dil_conv_3x3", 2, 4),
        ("sep_conv_3x3", 1, 4),
        ("sep_conv_5x5", 0, 5),
        ("sep_conv_3x3", 3, 5),
    ],
    reduced_concat=[2, 3, 4, 5],
)
"""The cell found by CNAS on CIFAR-10 (Guo et al., ICML 2020)."""

DARTS_V1 = Genotype.from_darts(
    "Genotype(normal=[('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 0), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
    "('skip_connect', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
    "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 0), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('avg_pool_3x3', 0)], reduce_concat=[2, 3, 4, 5])"
)
"""DARTS first-order cell (Liu et al., ICLR 2019)."""

DARTS_V2 = Genotype.from_darts(
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
    "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "
    "('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
    "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
)
"""DARTS second-order cell (Liu et al., ICLR 2019); 3.3M params at C=36, 20 layers."""

DARTS = DARTS_V2
"""Alias of ``DARTS_V2``, as in the DARTS code."""

PC_DARTS = Genotype.from_darts(
    "Genotype(normal=[('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 0), "
    "('dil_conv_3x3', 1), ('sep_conv_5x5', 0), ('sep_conv_3x3', 1), ('avg_pool_3x3', 0), "
    "('dil_conv_3x3', 1)], normal_concat=range(2, 6), reduce=[('sep_conv_5x5', 1), "
    "('max_pool_3x3', 0), ('sep_conv_5x5', 1), ('sep_conv_5x5', 2), ('sep_conv_3x3', 0), "
    "('sep_conv_3x3', 3), ('sep_conv_3x3', 1), ('sep_conv_3x3', 2)], reduce_concat=range(2, 6))"
)
"""PC-DARTS CIFAR-10 cell (Xu et al., ICLR 2020); 3.6M params."""

PDARTS = Genotype.from_darts(
    "Genotype(normal=[('skip_connect', 0), ('dil_conv_3x3', 1), ('skip_connect', 0), "
    "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('sep_conv_3x3', 3), ('sep_conv_3x3', 0), "
    "('dil_conv_5x5', 4)], normal_concat=range(2, 6), reduce=[('avg_pool_3x3', 0), "
    "('sep_conv_5x5', 1), ('sep_conv_3x3', 0), ('dil_conv_5x5', 2), ('max_pool_3x3', 0), "
    "('dil_conv_3x3', 1), ('dil_conv_3x3', 1), ('dil_conv_5x5', 3)], reduce_concat=range(2, 6))"
)
"""P-DARTS cell (Chen et al., ICCV 2019); 3.4M params."""

NASNet = Genotype.from_darts(
    "Genotype(normal=[('sep_conv_5x5', 1), ('sep_conv_3x3', 0), ('sep_conv_5x5', 0), "
    "('sep_conv_3x3', 0), ('avg_pool_3x3', 1), ('skip_connect', 0), ('avg_pool_3x3', 0), "
    "('avg_pool_3x3', 0), ('sep_conv_3x3', 1), ('skip_connect', 1)], "
    "normal_concat=[2, 3, 4, 5, 6], reduce=[('sep_conv_5x5', 1), ('sep_conv_7x7', 0), "
    "('max_pool_3x3', 1), ('sep_conv_7x7', 0), ('avg_pool_3x3', 1), ('sep_conv_5x5', 0), "
    "('skip_connect', 3), ('avg_pool_3x3', 2), ('sep_conv_3x3', 2), ('max_pool_3x3', 1)], "
    "reduce_concat=[4, 5, 6])"
)
"""NASNet-A (Zoph et al., CVPR 2018), as transcribed by DARTS."""

AmoebaNet = Genotype.from_darts(
    "Genotype(normal=[('avg_pool_3x3', 0), ('max_pool_3x3', 1), ('sep_conv_3x3', 0), "
    "('sep_conv_5x5', 2), ('sep_conv_3x3', 0), ('avg_pool_3x3', 3), ('sep_conv_3x3', 1), "
    "('skip_connect', 1), ('skip_connect', 0), ('avg_pool_3x3', 1)], "
    "normal_concat=[4, 5, 6], reduce=[('avg_pool_3x3', 0), ('sep_conv_3x3', 1), "
    "('max_pool_3x3', 0), ('sep_conv_7x7', 2), ('sep_conv_7x7', 0), ('avg_pool_3x3', 1), "
    "('max_pool_3x3', 0), ('max_pool_3x3', 1), ('conv_7x1_1x7', 0), ('sep_conv_3x3', 5)], "
    "reduce_concat=[3, 4, 6])"
)
"""AmoebaNet-A (Real et al., AAAI 2019), as transcribed by DARTS."""

_PUBLISHED: dict[str, Genotype] = {
    "CNAS": CNAS,
    "DARTS_V1": DARTS_V1,
    "DARTS_V2": DARTS_V2,
    "DARTS": DARTS,
    "PC_DARTS": PC_DARTS,
    "PDARTS": PDARTS,
    "NASNet": NASNet,
    "AmoebaNet": AmoebaNet,
}
_REGISTRY: dict[str, Genotype] = dict(_PUBLISHED)
_LOCK = threading.Lock()


def get(name: str) -> Genotype:
    """Return the genotype registered as ``name`` (case-insensitive).

    Raises:
        UnknownGenotypeError: no such name; the message suggests close matches.
    """
    if isinstance(name, str):
        if name in _REGISTRY:
            return _REGISTRY[name]
        folded = {k.lower(): v for k, v in _REGISTRY.items()}
        if name.lower() in folded:
            return folded[name.lower()]
    raise UnknownGenotypeError(f"unknown genotype {name!r}{close_matches(str(name), _REGISTRY)}")


def register(name: str, genotype: Genotype, *, override: bool = False) -> Genotype:
    """Register ``genotype`` under ``name``; ``get`` and ``resolve`` then find it (in this process).

    Raises:
        TypeError: ``genotype`` is not a ``cnas.Genotype``.
        ValueError: ``name`` is empty, names a published cell, or is taken and
            ``override`` is False.
    """
    if not isinstance(genotype, Genotype):
        raise TypeError(
            f"register({name!r}, ...): expected a cnas.Genotype, got {type(genotype).__name__}"
        )
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"genotype name must be a non-empty string, got {name!r}")
    with _LOCK:
        taken = {k.lower(): k for k in _REGISTRY}
        if name.lower() in {k.lower() for k in _PUBLISHED}:
            raise ValueError(f"{name!r} names a published genotype and cannot be replaced")
        if name.lower() in taken and not override:
            raise ValueError(
                f"genotype {taken[name.lower()]!r} is already registered; "
                "pass override=True to replace it"
            )
        if name.lower() in taken:
            del _REGISTRY[taken[name.lower()]]
        _REGISTRY[name] = genotype
    return genotype


def unregister(name: str) -> None:
    """Remove a user-registered genotype.

    Raises:
        UnknownGenotypeError: no such name.
        ValueError: ``name`` is a published genotype.
    """
    with _LOCK:
        if name in _PUBLISHED:
            raise ValueError(f"{name!r} is a published genotype and cannot be removed")
        if name not in _REGISTRY:
            raise UnknownGenotypeError(f"cannot unregister unknown genotype {name!r}")
        del _REGISTRY[name]


def list() -> builtins.list[str]:
    """The registered genotype names: the published ones first, then the user's."""
    return builtins.list(_REGISTRY)


def resolve(spec: Genotype | str | os.PathLike[str]) -> Genotype:
    """Turn a genotype, a registered name or a path to a genotype JSON file into a genotype.

    A string that names an existing file, or ends in ``.json``, is read as a file;
    any other string is looked up by name.

    Raises:
        UnknownGenotypeError: an unknown name.
        FileNotFoundError: a ``.json`` path that does not exist.
        GenotypeError: a file that is not a valid genotype.
    """
    if isinstance(spec, Genotype):
        return spec
    if isinstance(spec, os.PathLike) or (
        isinstance(spec, str) and (spec.endswith(".json") or os.path.isfile(spec))
    ):
        return Genotype.load(spec)
    if isinstance(spec, str):
        return get(spec)
    raise TypeError(f"expected a Genotype, a genotype name or a path, got {type(spec).__name__}")
