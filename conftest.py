"""Collection rules for the doctests under ``src/cnas`` (``--doctest-modules``)."""

from __future__ import annotations

import importlib.util

# The Triton backend imports ``triton`` at module level; without Triton it is never
# imported by cnas either (see cnas/kernels/__init__.py), so it is not collected.
collect_ignore = [] if importlib.util.find_spec("triton") else ["src/cnas/kernels/_triton.py"]
