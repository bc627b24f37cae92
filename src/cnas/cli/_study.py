"""``cnas study``: compare search strategies and curricula at one budget, with seeds,
retraining, random architectures and a held-out test split, in one report."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._common import CLIError, out, positive_int

if TYPE_CHECKING:
    from ..study import Study

__all__ = ["add_study_parser"]


def add_study_parser(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``study``."""
    p = sub.add_parser(
        "study",
        help="compare strategies and curricula: seeds, equal budgets, random baselines",
        description="Run a study: every arm (a strategy on a curriculum) searches with each "
        "search seed at the same budget, every derived cell and the random architectures are "
        "trained with one recipe and scored on a held-out test split, and report.md gives the "
        "table, Kendall's tau of weight sharing, the figure and the best cells. Every run is a "
        "plain cnas command recorded in study.json; a study started again with --resume skips "
        "finished runs and resumes the others. See docs/study.md.",
    )
    p.add_argument("plan", nargs="?", metavar="PLAN", help="a study plan (JSON file)")
    p.add_argument(
        "--preset",
        default=None,
        metavar="NAME",
        help="a shipped plan instead of PLAN: smoke (a minute or two), digits (about 25 minutes "
        "on 2 CPU cores) or quick (your own images with --data DIR)",
    )
    p.add_argument(
        "--data",
        default=None,
        metavar="DIR",
        help="an image folder (DIR/<class>/*, or DIR/train|val[|test]/<class>/*) to study "
        "instead of the plan's dataset",
    )
    p.add_argument("-o", "--output", default="runs/study", help="the study folder (runs/study)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the study in OUTPUT (its plan is read from OUTPUT/study.json when "
        "neither PLAN nor --preset is given)",
    )
    p.add_argument(
        "--jobs", type=positive_int, default=1, help="runs at a time, each its own process (1)"
    )
    p.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="threads per run (default: the CPU cores split between the jobs)",
    )
    p.add_argument(
        "--list-runs",
        action="store_true",
        help="print every run (index, id, command line) and exit",
    )
    p.add_argument("--print-plan", action="store_true", help="print the plan as JSON and exit")
    p.add_argument(
        "--prepare",
        action="store_true",
        help="create OUTPUT with study.json and the random genotypes, then exit (for a cluster "
        "scheduler that runs --run-index I)",
    )
    p.add_argument(
        "--run-index",
        type=int,
        default=None,
        metavar="I",
        help="run only run I of the study (a cluster job); implies --resume",
    )
    p.add_argument(
        "--report",
        action="store_true",
        help="write report.md from the finished runs, running nothing",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_study)


def _study(args: argparse.Namespace) -> Study:
    from ..study import STUDY_FILE, Study, StudyPlan, StudyPlanError

    if args.plan and args.preset:
        raise CLIError("give a PLAN file or --preset, not both")
    continuing = args.resume or args.run_index is not None or args.report
    data = {} if args.data is None else {"dataset": "folder", "data": args.data}
    if data and args.preset is None and args.plan is None:
        raise CLIError("--data DIR needs a plan: --preset quick, say")
    try:
        if args.preset:
            return Study(StudyPlan.preset(args.preset, **data), args.output)
        if args.plan:
            plan = StudyPlan.from_file(args.plan)
            if data:
                plan = StudyPlan.from_dict({**plan.to_dict(), **data})
            return Study(plan, args.output)
        if continuing and (Path(args.output) / STUDY_FILE).is_file():
            return Study.open(args.output)
    except (FileNotFoundError, StudyPlanError) as exc:
        raise CLIError(str(exc)) from None
    raise CLIError(
        "give a study plan (a JSON file) or --preset smoke|digits|quick; --resume alone needs a "
        f"study folder (-o, here {args.output}) that holds {STUDY_FILE}"
    )


def _cmd_study(args: argparse.Namespace) -> int:
    from ..study import StudyPlanError, StudyRunError

    study = _study(args)
    plan = study.plan
    if args.print_plan:
        out(json.dumps(plan.to_dict(), indent=2))
        return 0
    if args.list_runs:
        out(study.listing())
        return 0
    try:
        if args.prepare:
            study.prepare(resume=args.resume)
            out(f"prepared {study.folder}: {len(study.runs)} runs (cnas study --list-runs)")
            return 0
        if args.run_index is not None:
            return study.run_one(args.run_index, threads=args.threads)
        if args.report:
            study.prepare(resume=True)
            results = study.finish()
        else:
            results = study.run(
                jobs=args.jobs,
                threads=args.threads,
                resume=args.resume,
                progress=False if args.no_progress else None,
            )
    except (StudyPlanError, StudyRunError) as exc:
        raise CLIError(str(exc)) from None
    folder = study.folder
    state = "complete" if results["complete"] else f"{len(results['missing'])} run(s) unfinished"
    out(f"study {plan.name}: {state}")
    out(f"report:  {folder / 'report.md'}")
    out(f"results: {folder / 'study.json'}")
    return 0
