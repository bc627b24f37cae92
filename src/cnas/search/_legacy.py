"""The 0.1 development call of the ``Searcher``, kept for a release with a
``FutureWarning``: ``Searcher(supernet, controller, schedule, output_dir, <strategy
settings>)`` becomes ``Searcher(supernet, schedule, output_dir, strategy=...)``."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from .._deprecation import warn_deprecated
from ..curriculum import CurriculumSchedule
from ._controller import Controller
from ._strategy import Strategy

__all__ = ["accept_legacy_call"]

P = ParamSpec("P")
R = TypeVar("R")


# -- the 0.1 development call: Searcher(supernet, controller, schedule, output_dir, ...) --------

_LEGACY_STRATEGY_KWARGS = {
    "controller_lr",
    "controller_weight_decay",
    "grad_clip",
    "entropy_coeff",
    "baseline_decay",
    "derive_rounds",
    "derive_samples",
    "alpha_lr",
    "alpha_betas",
    "alpha_weight_decay",
    "tau_max",
    "tau_min",
}


def _translate_legacy(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """The new call for an old one: the controller and the strategy keyword arguments move
    into the strategy object."""
    args = tuple(args)
    legacy_position = len(args) >= 2 and (args[1] is None or isinstance(args[1], Controller))
    if legacy_position:
        controller, args = args[1], (args[0], *args[2:])
    else:
        controller = kwargs.pop("controller", None)
    kwargs.pop("controller", None)
    options = {k: kwargs.pop(k) for k in list(kwargs) if k in _LEGACY_STRATEGY_KWARGS}
    strategy = kwargs.get("strategy", "cnas")
    if isinstance(strategy, Strategy):
        if options or controller is not None:
            raise TypeError(
                "strategy settings and the controller belong to the strategy object; "
                "pass them to its constructor"
            )
        return args
    if controller is not None and strategy != "cnas":
        raise ValueError(
            f"strategy {strategy!r} trains architecture parameters, not a controller; "
            "pass controller=None"
        )
    from ._registry import get_strategy

    cls = get_strategy(strategy)
    accepted = set(inspect.signature(cls.__init__).parameters)
    settings = {k: v for k, v in options.items() if k in accepted}
    if controller is not None:
        settings["controller"] = controller
    kwargs["strategy"] = cls(**settings)
    return args


def accept_legacy_call(init: Callable[P, R]) -> Callable[P, R]:
    """Let ``Searcher.__init__`` take the 0.1 development call, with a ``FutureWarning``."""

    @functools.wraps(init)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        positional = args[1:]  # without self
        legacy = (
            len(positional) >= 2
            and not isinstance(positional[1], CurriculumSchedule)
            and (positional[1] is None or isinstance(positional[1], Controller))
        ) or bool(set(kwargs) & (_LEGACY_STRATEGY_KWARGS | {"controller"}))
        if legacy:
            warn_deprecated(
                "Searcher(supernet, controller, schedule, output_dir, <strategy settings>)",
                removed_in="0.2",
                instead="Searcher(supernet, schedule, output_dir, strategy=cnas.search."
                "Reinforce(controller, ...)) or strategy=cnas.search.Darts(...)",
                stacklevel=2,
            )
            new_args = _translate_legacy(positional, kwargs)
            return init(args[0], *new_args, **kwargs)  # type: ignore[arg-type]
        return init(*args, **kwargs)

    return wrapper
