"""One run of a study, executed by the library in the study folder: a search or a
training from its configuration file, or a scoring of genotypes with a search's
supernet. ``python -m cnas.study._execute KIND CONFIG OUTPUT`` runs one in a new process
(where forking is not available)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from .._io import atomic_write_text, parse_json

__all__ = ["execute", "main"]

logger = logging.getLogger("cnas")


def execute(kind: str, config: str, output: str) -> int:
    """Run one study run in the current folder (the study's) and return its exit status:
    0, or 1 after one line on standard error saying what failed."""
    from ..errors import CnasError

    try:
        if kind == "search":
            _search(config, output)
        elif kind == "train":
            _train(config, output)
        elif kind == "score":
            _score(config, output)
        else:
            raise ValueError(f"unknown run kind {kind!r}")
    except (CnasError, OSError, ValueError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    return 0


def _search(config: str, output: str) -> None:
    from ..search import SearchConfig, Searcher

    Searcher.from_config(SearchConfig.load(config), output, resume=True).fit()


def _train(config: str, output: str) -> None:
    from ..training import TrainConfig, Trainer

    resume = (Path(output) / "last.pt").is_file()
    Trainer.from_config(TrainConfig.load(config), output, resume=resume).fit()


def _score(config: str, output: str) -> None:
    from ..genotypes import resolve
    from ..search import Searcher, scores_record
    from ._runs import ScoreConfig

    score = ScoreConfig.load(config)
    runtime: dict[str, object] = {"progress": False, "draw": False, "tensorboard": False}
    if score.device is not None:
        runtime["device"] = score.device
    searcher = Searcher.open(score.search, runtime=runtime)
    listed = parse_json(Path(score.genotypes).read_bytes())
    if not isinstance(listed, list) or not all(isinstance(g, str) for g in listed):
        raise ValueError(f"{score.genotypes} is not a list of genotype files")
    genotypes = [resolve(g) for g in listed]
    batches = searcher.engine.derive_batches
    accuracies = searcher.evaluate_stage(-1, genotypes, None, batches)
    stage = searcher.finished_stages()[-1] + 1
    scored = list(zip(listed, genotypes, strict=True))
    record = scores_record(score.search, stage, batches, scored, accuracies)
    atomic_write_text(output, json.dumps(record, indent=2) + "\n")


def _end_with_parent(parent: int) -> None:
    """End this process as soon as ``parent`` (the study) is no longer its parent: a
    study killed by any signal leaves no run behind that keeps writing into it."""
    import os
    import threading

    def watch() -> None:
        if sys.platform == "win32":  # a process's parent id stays: wait on its handle
            import ctypes

            kernel = ctypes.windll.kernel32
            handle = kernel.OpenProcess(0x00100000, False, parent)  # SYNCHRONIZE
            if handle:
                kernel.WaitForSingleObject(handle, 0xFFFFFFFF)  # INFINITE
            os._exit(1)
        import time

        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="cnas-study-parent", daemon=True).start()


def main() -> None:
    """``python -m cnas.study._execute KIND CONFIG OUTPUT``, in the study folder."""
    import os

    parent = os.environ.get("CNAS_STUDY_PARENT", "")
    if parent.isdigit():
        _end_with_parent(int(parent))
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    kind, config, output = sys.argv[1:4]
    sys.exit(execute(kind, config, output))


if __name__ == "__main__":
    main()
