"""Attack a tiny search and a tiny training as a hostile user would, and print the table
of docs/reliability.md: SIGKILLs at many moments, damaged and ill-formed checkpoints, bad
command lines, and the families of round 3 (attack_families.py: folders that are not
runs, symbolic links, hostile Hub servers, bounds, empty data, huge JSON integers,
damaged study outputs); for each, whether the run survived or was refused in one line,
and whether anything was lost.

Usage: python tests/scripts/attack.py [--quick] [--flips N] [--work DIR] [--only NAME ...]

``--quick`` (the test suite's) kills once per run kind and flips fewer bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import attack_families  # noqa: E402
import torch  # noqa: E402

from cnas._run import load_checkpoint, save_checkpoint  # noqa: E402
from cnas._schema import digest  # noqa: E402
from cnas.errors import CheckpointError  # noqa: E402

Row = tuple[str, int, int, str]  # attack, tried, held, what "held" means


def _run(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, cwd=cwd, check=False
    )


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".lock" and "tensorboard" not in p.parts
    }


# -- kills ----------------------------------------------------------------------------------------


def kills(work: Path, points: list[int], train_points: list[int]) -> list[Row]:
    """SIGKILL a tiny search and a tiny training at data-item counts ``points``, resume,
    and compare with an uninterrupted run (genotype and weights, metrics)."""
    ref = work / "ref-search"
    _run([str(HERE / "tiny_search.py"), str(ref), "--rank-file-dir", str(ref)])
    expected = json.loads((ref / "rank0.json").read_text())
    same = 0
    for n in points:
        out = work / f"kill-search-{n}"
        killed = _run([str(HERE / "tiny_search.py"), str(out), "--kill-after-items", str(n)])
        resumed = _run([str(HERE / "tiny_search.py"), str(out), "--rank-file-dir", str(out)])
        if killed.returncode == -9 and resumed.returncode == 0:
            same += json.loads((out / "rank0.json").read_text()) == expected
    rows: list[Row] = [
        (
            "SIGKILL during a search, then resume",
            len(points),
            same,
            "resumed to the uninterrupted run's genotype and weights",
        )
    ]
    tref = work / "ref-train"
    _run([str(HERE / "tiny_train.py"), str(tref), "--epochs", "3"])
    want = torch.load(tref / "weights-rank0.pt", weights_only=True)
    same = 0
    for n in train_points:
        out = work / f"kill-train-{n}"
        killed = _run(
            [str(HERE / "tiny_train.py"), str(out), "--epochs", "3", "--kill-after-items", str(n)]
        )
        resumed = _run([str(HERE / "tiny_train.py"), str(out), "--epochs", "3", "--resume"])
        if killed.returncode == -9 and resumed.returncode == 0:
            got = torch.load(out / "weights-rank0.pt", weights_only=True)
            same += all(torch.equal(want[k], got[k]) for k in want)
    rows.append(
        (
            "SIGKILL during a training, then resume",
            len(train_points),
            same,
            "resumed to the uninterrupted run's weights, bit for bit",
        )
    )
    return rows


# -- damaged and ill-formed checkpoints ---------------------------------------------------------


def flips(path: Path, kind: str, count: int, work: Path) -> Row:
    """Overwrite 64 bytes at a random place, ``count`` times: each load is refused with a
    ``CheckpointError`` naming the file, or (bytes that hold no content) the same state."""
    original = path.read_bytes()
    expected = digest(load_checkpoint(path, kind))
    rng = random.Random(0)
    refused = same = 0
    for _ in range(count):
        damaged = bytearray(original)
        at = rng.randrange(0, len(original) - 64)
        for i in range(at, at + 64):
            damaged[i] ^= rng.randrange(1, 256)
        target = work / f"damaged-{kind}.pt"
        target.write_bytes(bytes(damaged))
        try:
            state = load_checkpoint(target, kind)
        except CheckpointError as exc:
            refused += str(exc).startswith(str(target)) and target.read_bytes() == damaged
        else:
            same += digest(state) == expected
    return (
        f"64 random bytes overwritten in a {kind} checkpoint",
        count,
        refused + same,
        f"{refused} refused naming the file, which is left in place; {same} hit bytes that "
        "hold no content (zip header fields that readers skip) and loaded the same state",
    )


def _edit(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(state: dict[str, Any]) -> None:
        target = state
        for key in path[:-1]:
            target = target[key]
        if value is _DELETE:
            del target[path[-1]]
        else:
            target[path[-1]] = value

    return apply


_DELETE = object()
EDITS: dict[str, list[Callable[[dict[str, Any]], None]]] = {
    "search": [
        _edit(("position", "stage"), 99),
        _edit(("history",), "garbage"),
        _edit(("optimizer", "param_groups", 0, "lr"), "0.1"),
        _edit(("supernet",), _DELETE),
        _edit(("strategy", "state", "controller"), {}),
        _edit(("rng", "python", 1), [1, 2, 3]),
        _edit(("position", "finished"), "yes"),
        _edit(("stages",), []),
    ],
    "training": [
        _edit(("model",), _DELETE),
        _edit(("epoch",), "1"),
        _edit(("history",), "garbage"),
        _edit(("best_epoch",), 99),
        _edit(("optimizer", "param_groups", 0, "lr"), float("nan")),
        _edit(("rng", "torch"), torch.zeros(3)),
    ],
}


def ill_formed(folder: Path, kind: str, resume: Callable[[Path], None]) -> Row:
    """Well-formed checkpoints (valid checksum) with wrong contents: each resume must be
    refused with a ``CheckpointError`` that names the file, leaving every file as it was."""
    name = "checkpoint.pt" if kind == "search" else "last.pt"
    ok = 0
    for i, change in enumerate(EDITS[kind]):
        copy = folder.parent / f"{folder.name}-edit-{i}"
        shutil.copytree(folder, copy)
        state = load_checkpoint(copy / name, kind)
        change(state)
        save_checkpoint(copy / name, state, kind, check=False)
        before = _snapshot(copy)
        try:
            resume(copy)
        except CheckpointError as exc:
            ok += str(copy / name) in str(exc) and _snapshot(copy) == before
    return (
        f"well-formed {kind} checkpoints with wrong contents (valid checksum)",
        len(EDITS[kind]),
        ok,
        "refused naming the file; no file in the folder changed",
    )


def _resume_search(folder: Path) -> None:
    from tiny_search import build

    searcher, train, val = build(str(folder), resume=True)
    searcher.fit(train, val)


def _resume_training(folder: Path) -> None:
    import cnas
    from cnas.training import TrainConfig, Trainer

    data = cnas.data.synthetic(num_samples=64, num_classes=4, image_size=8, seed=0)
    train = torch.utils.data.Subset(data, range(48))
    val = torch.utils.data.Subset(data, range(48, 64))
    config = TrainConfig.preset(
        "synthetic", init_channels=4, layers=3, epochs=3, batch_size=16, drop_path_prob=0.0
    )
    model = cnas.NetworkCIFAR(4, 4, 3, False, "DARTS_V2")
    Trainer(
        model, config.replace(runtime={"device": "cpu", "progress": False}), folder, resume=True
    ).fit(train, val)


# -- bad command lines ----------------------------------------------------------------------------

TINY = ["--dataset", "digits", "--init-channels", "4", "--layers", "3"]
SEARCH = [*TINY, "--nodes", "2", "--ops", "sep_conv_3x3,skip_connect,none"]
SEARCH += ["--warmup-epochs", "0", "--epochs-per-stage", "1", "--steps-per-epoch", "1"]


def bad_inputs(work: Path) -> Row:
    """Command lines a user gets wrong: each must exit non-zero with one line on stderr,
    without a traceback, and create nothing."""
    nested = work / "nested.json"
    nested.write_text("[" * 100_000 + "]" * 100_000)
    (work / "a-file").write_text("x")
    (work / "binary.json").write_bytes(b"\xff\xfe\x00")
    cases = [
        ["train", *TINY, "--arch", "CNAS", "--lr", "nan"],
        ["train", *TINY, "--arch", "CNAS", "--lr", "inf"],
        ["train", *TINY, "--arch", "CNAS", "--weight-decay", "nan"],
        ["train", *TINY, "--arch", "CNAS", "--momentum", "nan"],
        ["train", *TINY, "--arch", "CNAS", "--grad-clip", "nan"],
        ["search", *SEARCH, "--entropy-coeff", "inf"],
        ["search", *SEARCH, "--lr", "nan"],
        ["search", *SEARCH, "--temperature", "0"],
        ["search", *SEARCH, "--nodes", "1000"],
        ["search", *SEARCH, "--ops", ""],
        ["search", *SEARCH, "--ops", "bogus"],
        ["search", *SEARCH, "--init-channels", "100000"],
        ["train", *TINY, "--arch", "CNAS", "--init-channels", "100000"],
        ["train", *TINY, "--arch", "CNAS", "--layers", "5000"],
        ["train", *TINY, "--arch", "CNAS", "--device", "foo"],
        ["train", *TINY, "--arch", "CNAS", "--device", "cuda:7"],
        ["search", *SEARCH, "--seed", str(2**70)],
        ["train", *TINY, "--arch", str(nested)],
        ["train", *TINY, "--arch", str(work / "binary.json")],
        ["train", *TINY, "--arch", "NO_SUCH_GENOTYPE"],
        ["draw", str(nested)],
        ["genotypes", str(nested)],
        ["evaluate", "--weights", str(work / "missing.safetensors")],
        ["evaluate", "--weights", str(nested)],
        ["convert", str(nested), str(work / "converted")],
        ["train", *TINY, "--arch", "CNAS", "--bogus-flag"],
    ]
    ok = 0
    for i, argv in enumerate(cases):
        out = work / f"bad-{i}"
        args = [*argv, "-o", str(out)] if argv[0] in ("train", "search") else argv
        run = _run(["-m", "cnas", *args])
        # one error line, last (argparse prints its usage block above it)
        lines = run.stderr.strip().splitlines()
        errors = [x for x in lines if "error:" in x]
        one_line = len(errors) == 1 and lines[-1] == errors[0] and "Traceback" not in run.stderr
        ok += run.returncode != 0 and one_line and not out.exists()
        if not (run.returncode != 0 and one_line):
            print(f"not one line: cnas {' '.join(argv)[:80]} -> {run.returncode}", file=sys.stderr)
            print(run.stderr[-500:], file=sys.stderr)
    extra = work / "a-file" / "run"
    run = _run(["-m", "cnas", "search", *SEARCH, "-o", str(extra)])
    ok += run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1
    return (
        "bad flags, values and files on the command line",
        len(cases) + 1,
        ok,
        "exit status 2 or 1 with one error line, no traceback, no output folder",
    )


# -- the table ----------------------------------------------------------------------------------

ATTACKS = ("kills", "files", "inputs")
FAMILIES: dict[str, Callable[[Path], Row]] = {
    "folders": attack_families.foreign_folders,
    "links": attack_families.links,
    "hub": lambda work: attack_families.hostile_hubs(),
    "bounds": lambda work: attack_families.bounds(),
    "empty": attack_families.empty_data,
    "json": attack_families.huge_integers,
    "study": attack_families.damaged_study_outputs,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer kills and flips")
    parser.add_argument("--flips", type=int, default=None, help="byte flips per checkpoint kind")
    parser.add_argument("--work", default=None, help="work folder (default: a temporary one)")
    parser.add_argument(
        "--only",
        choices=[*ATTACKS, *FAMILIES],
        action="append",
        help="run only these attacks (repeatable; default: all)",
    )
    args = parser.parse_args()
    only = set(args.only or [*ATTACKS, *FAMILIES])
    work = Path(args.work or tempfile.mkdtemp(prefix="cnas-attack-"))
    work.mkdir(parents=True, exist_ok=True)
    flip_count = args.flips or (20 if args.quick else 300)
    rows: list[Row] = []
    if "kills" in only:
        rows += kills(
            work,
            [300] if args.quick else [40, 150, 300, 520, 700],
            [70] if args.quick else [20, 70, 110],
        )
    if "files" in only:
        search, train = work / "ref-search", work / "ref-train" / "run"
        if not (search / "checkpoint.pt").is_file():
            _run([str(HERE / "tiny_search.py"), str(search)])
        if not (train / "last.pt").is_file():
            _run([str(HERE / "tiny_train.py"), str(train.parent), "--epochs", "3"])
        rows.append(flips(search / "checkpoint.pt", "search", flip_count, work))
        rows.append(flips(train / "last.pt", "training", flip_count, work))
        rows.append(ill_formed(search, "search", _resume_search))
        rows.append(ill_formed(train, "training", _resume_training))
    if "inputs" in only:
        rows.append(bad_inputs(work))
    for name, family in FAMILIES.items():
        if name in only:
            rows.append(family(work))
    print("| attack | tried | held | held means |")
    print("|---|---:|---:|---|")
    for attack, tried, ok, meaning in rows:
        print(f"| {attack} | {tried} | {ok} | {meaning} |")
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    if any(ok != tried for _, tried, ok, _ in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
