"""Progress bars: where they are shown by default, and which kind.

Shown by default when standard error is a terminal or the code runs in a Jupyter kernel
(where standard error is never a terminal, so a cell would otherwise stay silent for
minutes). In a notebook the bars are widgets when ``ipywidgets`` is installed and text
bars otherwise, without tqdm's "IProgress not found" warning. Every bar of cnas is made
here.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

__all__ = ["in_notebook", "progress_bar", "show_progress_by_default"]


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (JupyterLab, Notebook, VS Code, Colab).

    IPython is not imported here: a kernel has always imported it already.
    """
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    if get is None:
        return False
    try:
        shell = get()
    except Exception:  # an IPython too broken to ask
        return False
    return shell is not None and getattr(shell, "kernel", None) is not None


def show_progress_by_default() -> bool:
    """Whether progress bars are on when a run leaves ``progress`` unset: on a terminal
    and in a notebook."""
    return sys.stderr.isatty() or in_notebook()


def _has_ipywidgets() -> bool:
    return importlib.util.find_spec("ipywidgets") is not None


def _bar_class() -> Any:
    if in_notebook() and _has_ipywidgets():
        from tqdm.notebook import tqdm as notebook_tqdm  # type: ignore[import-untyped]

        return notebook_tqdm
    from tqdm.std import tqdm  # type: ignore[import-untyped]

    return tqdm


def progress_bar(*, show: bool | None = None, **kwargs: Any) -> Any:
    """A tqdm bar: a widget in a notebook with ipywidgets, else a text bar on stderr.

    Args:
        show: Draw it (``None``: ``show_progress_by_default()``). A bar that is not
            shown still counts, so callers need no second code path.
        **kwargs: tqdm's arguments (``total``, ``desc``, ``unit``, ...).
    """
    visible = show_progress_by_default() if show is None else show
    return _bar_class()(disable=not visible, **kwargs)
