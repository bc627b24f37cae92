"""Progress bars: on by default on a terminal and in a Jupyter kernel, text bars there
without ipywidgets (and no warning), widgets with it."""

from __future__ import annotations

import sys
import types
import warnings
from pathlib import Path

import pytest

from cnas import _progress

sys.path.insert(0, str(Path(__file__).with_name("scripts")))
from tiny_search import build


class _KernelShell:
    """What ``get_ipython()`` returns in a Jupyter kernel: a shell with a kernel."""

    kernel = object()


class _TerminalShell:
    """What ``get_ipython()`` returns in the terminal IPython: no kernel."""


def _fake_ipython(monkeypatch: pytest.MonkeyPatch, shell: object) -> None:
    module = types.ModuleType("IPython")
    module.get_ipython = lambda: shell  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", module)


@pytest.fixture
def jupyter(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fake Jupyter kernel without ipywidgets."""
    _fake_ipython(monkeypatch, _KernelShell())
    monkeypatch.setattr(_progress, "_has_ipywidgets", lambda: False)


@pytest.mark.usefixtures("jupyter")
def test_a_search_in_a_notebook_shows_progress_by_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    searcher, train, val = build(str(tmp_path / "run"), progress=None)
    assert searcher.config.runtime.progress is None  # left at its default
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # tqdm's "IProgress not found" would fail here
        searcher.fit(train, val)
    err = capsys.readouterr().err
    assert "it/s]" in err or "s/it]" in err  # text bars, drawn on stderr
    assert "IProgress" not in err


def test_outside_a_terminal_and_a_notebook_a_search_draws_no_bar(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    searcher, train, val = build(str(tmp_path / "run"), progress=None)
    searcher.fit(train, val)
    err = capsys.readouterr().err
    assert "it/s]" not in err and "s/it]" not in err


def test_the_terminal_ipython_is_not_a_notebook(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_ipython(monkeypatch, _TerminalShell())
    assert not _progress.in_notebook()
    _fake_ipython(monkeypatch, None)  # IPython imported, no shell running
    assert not _progress.in_notebook()
    monkeypatch.delitem(sys.modules, "IPython")
    assert not _progress.in_notebook()


@pytest.mark.usefixtures("jupyter")
def test_notebook_bars_are_widgets_only_with_ipywidgets(monkeypatch: pytest.MonkeyPatch) -> None:
    from tqdm.notebook import tqdm as notebook_tqdm
    from tqdm.std import tqdm as text_tqdm

    assert _progress.in_notebook() and _progress.show_progress_by_default()
    assert _progress._bar_class() is text_tqdm
    monkeypatch.setattr(_progress, "_has_ipywidgets", lambda: True)
    assert _progress._bar_class() is notebook_tqdm


def test_an_explicit_choice_wins_over_the_default(jupyter: None) -> None:
    bar = _progress.progress_bar(show=False, total=3)
    assert bar.disable
    bar.close()
