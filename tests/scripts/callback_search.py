"""The tiny search with a callback that keeps state, killed with SIGKILL from that
callback after a given epoch (deterministic: no timing involved).

Usage: python callback_search.py OUTPUT_DIR STATE_FILE [--kill-after-epoch N]

At the end the callback writes its state and what it was handed on resume to STATE_FILE.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
from collections.abc import Mapping
from typing import Any

from tiny_search import build  # this folder: sys.path[0] when run

import cnas


class Patience(cnas.search.Callback):
    """An early stop's bookkeeping: epochs seen, the best accuracy and epochs since it."""

    def __init__(self, kill_after: int | None) -> None:
        self.epochs = 0
        self.best = -1.0
        self.since_best = 0
        self.restored: dict[str, Any] | None = None
        self.kill_after = kill_after

    def state_dict(self) -> dict[str, Any]:
        return {"epochs": self.epochs, "best": self.best, "since_best": self.since_best}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.restored = dict(state)
        self.epochs, self.best = int(state["epochs"]), float(state["best"])
        self.since_best = int(state["since_best"])

    def on_epoch_end(self, searcher: cnas.search.SearchLoop, record: dict[str, Any]) -> None:
        self.epochs += 1
        top1 = float(record.get("top1", -1.0))
        if top1 > self.best:
            self.best, self.since_best = top1, 0
        else:
            self.since_best += 1
        if self.kill_after is not None and self.epochs == self.kill_after:
            os.kill(os.getpid(), signal.SIGKILL)  # before this epoch's checkpoint


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("output")
    parser.add_argument("state")
    parser.add_argument("--kill-after-epoch", type=int, default=None)
    args = parser.parse_args()
    patience = Patience(args.kill_after_epoch)
    searcher, train, val = build(args.output, "random", callbacks=[patience])
    searcher.fit(train, val)
    with open(args.state, "w", encoding="utf-8") as fh:
        json.dump({"state": patience.state_dict(), "restored": patience.restored}, fh)


if __name__ == "__main__":
    main()
