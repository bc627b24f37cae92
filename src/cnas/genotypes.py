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
    >>> cnas.genotypes.get_genotype("DARTS_V2") is cnas.genotypes.DARTS_V2
    True
"""

from __future__ import annotations

import builtins
import os

from ._deprecation import old_names
from ._genotype import Genotype
from ._registry import ENTRY_POINT_GROUPS, Registry
from .errors import UnknownGenotypeError as UnknownGenotypeError

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
    "get_genotype",
    "list_genotypes",
    "register_genotype",
    "resolve",
    "unregister_genotype",
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


def _from_entry_point(name: str, value: object, dist: str) -> Genotype:
    if not isinstance(value, Genotype):
        raise TypeError(f"genotype {name!r}: expected a cnas.Genotype, got {type(value).__name__}")
    return value


_REGISTRY: Registry[Genotype] = Registry(
    "genotype",
    error=UnknownGenotypeError,
    name_rule=(
        r"^[A-Za-z_][A-Za-z0-9_-]*$",
        "use letters, digits, '_' and '-', not starting with a digit",
    ),
    entry_point_group=ENTRY_POINT_GROUPS["genotypes"],
    from_entry_point=_from_entry_point,
    case_insensitive=True,
    protected=_PUBLISHED,
)
for _name, _genotype in _PUBLISHED.items():
    _REGISTRY.add(_name, _genotype)


def get_genotype(name: str) -> Genotype:
    """Return the genotype registered as ``name`` (case-insensitive: ``"cnas"`` is ``CNAS``).

    Raises:
        UnknownGenotypeError: no such name; the message suggests close matches.
    """
    return _REGISTRY.get(name)


def register_genotype(name: str, genotype: Genotype, *, override: bool = False) -> Genotype:
    """Register ``genotype`` under ``name``; ``get_genotype`` and ``resolve`` then find it
    (in this process).

    Names are case-insensitive: ``"mine"`` and ``"MINE"`` are one name. Installed packages
    can contribute genotypes through the entry-point group ``cnas.genotypes``.

    Raises:
        TypeError: ``genotype`` is not a ``cnas.Genotype``.
        ValueError: ``name`` breaks the name rule, names a published cell, or is taken and
            ``override`` is False.
    """
    if not isinstance(genotype, Genotype):
        raise TypeError(
            f"register_genotype({name!r}, ...): expected a cnas.Genotype, "
            f"got {type(genotype).__name__}"
        )
    _REGISTRY.add(name, genotype, override=override)
    return genotype


def unregister_genotype(name: str) -> None:
    """Remove a user-registered genotype.

    Raises:
        UnknownGenotypeError: no such name.
        ValueError: ``name`` is a published genotype.
    """
    _REGISTRY.remove(name)


__getattr__ = old_names(
    __name__,
    {
        "get": (lambda: get_genotype, "cnas.genotypes.get_genotype"),
        "register": (lambda: register_genotype, "cnas.genotypes.register_genotype"),
        "unregister": (lambda: unregister_genotype, "cnas.genotypes.unregister_genotype"),
        "ENTRY_POINT_GROUP": (
            lambda: ENTRY_POINT_GROUPS["genotypes"],
            'cnas.ENTRY_POINT_GROUPS["genotypes"]',
        ),
    },
    removed_in="0.3",
)


def list_genotypes(pattern: str | None = None) -> builtins.list[str]:
    """The registered genotype names, sorted; ``pattern`` keeps those matching a shell
    wildcard, regardless of case (``list_genotypes("darts*")``).

    Examples:
        >>> import cnas
        >>> cnas.genotypes.list_genotypes("DARTS*")
        ['DARTS', 'DARTS_V1', 'DARTS_V2']
    """
    return _REGISTRY.names(pattern)


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
        return get_genotype(spec)
    raise TypeError(f"expected a Genotype, a genotype name or a path, got {type(spec).__name__}")
