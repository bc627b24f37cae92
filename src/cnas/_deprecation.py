"""One helper for deprecations: a ``FutureWarning`` that names the removing version."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import ParamSpec, TypeVar

__all__ = ["deprecated", "warn_deprecated"]

P = ParamSpec("P")
R = TypeVar("R")


def warn_deprecated(
    what: str, *, removed_in: str, instead: str | None = None, stacklevel: int = 2
) -> None:
    """Emit a ``FutureWarning`` saying ``what`` is deprecated and goes in ``removed_in``.

    Examples:
        >>> import warnings
        >>> from cnas._deprecation import warn_deprecated
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     warn_deprecated("old()", removed_in="1.0", instead="new()")
        >>> str(caught[0].message)
        'old() is deprecated and will be removed in cnas 1.0; use new() instead'
    """
    message = f"{what} is deprecated and will be removed in cnas {removed_in}"
    if instead:
        message += f"; use {instead} instead"
    warnings.warn(message, FutureWarning, stacklevel=stacklevel + 1)


def deprecated(
    *, removed_in: str, instead: str | None = None
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Make each call of the decorated function warn that it is deprecated."""

    def decorator(func: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            warn_deprecated(
                f"{func.__qualname__}()", removed_in=removed_in, instead=instead, stacklevel=2
            )
            return func(*args, **kwargs)

        return wrapper

    return decorator
