"""One helper for deprecations: a ``FutureWarning`` that names the removing version."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec, TypeVar

__all__ = ["deprecated", "old_names", "warn_deprecated"]

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


def old_names(
    module: str, names: Mapping[str, tuple[Callable[[], Any], str | None]], *, removed_in: str
) -> Callable[[str], Any]:
    """A module ``__getattr__`` that serves retired names with a warning.

    Args:
        module: The module's name (``__name__``).
        names: Each old name -> (a function returning what it is now, what to use
            instead; ``None`` for an internal that has no public replacement).
        removed_in: The release that removes them.

    Examples:
        >>> import warnings
        >>> from cnas._deprecation import old_names
        >>> getattr_ = old_names("m", {"old": (lambda: 1, "m.new")}, removed_in="0.3")
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     value = getattr_("old")
        >>> value, str(caught[0].message)
        (1, 'm.old is deprecated and will be removed in cnas 0.3; use m.new instead')
    """

    def __getattr__(name: str) -> Any:  # noqa: N807 (a module's __getattr__)
        entry = names.get(name)
        if entry is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        current, instead = entry
        what = f"{module}.{name}"
        if instead is None:
            what += " (an internal, with no public replacement)"
        warn_deprecated(what, removed_in=removed_in, instead=instead)
        return current()

    return __getattr__
