"""Declare a study in code and run it: does growing the node count (``cnas/nodes``) find
better cells than random search with weight sharing (``random/fixed``), at one budget?

    python examples/study_in_code.py runs/my-study           # a few minutes on a CPU
    python examples/study_in_code.py runs/my-study --quick   # seconds: one seed each

The same plan as a JSON file runs with ``cnas study plan.json -o runs/my-study``; this
script prints that file's contents too. Run it again with the same folder to continue an
interrupted study (finished runs are skipped).
"""

from __future__ import annotations

import argparse
import json
import logging

from cnas.study import Arm, Study, StudyPlan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", help="the study folder")
    parser.add_argument("--quick", action="store_true", help="one seed, tiny networks")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    quick = args.quick
    plan = StudyPlan(
        name="nodes-vs-random",
        arms=(
            Arm("cnas", "nodes", {"entropy_coeff": 0.001}),  # with a strategy setting
            Arm("random", "fixed"),  # no curriculum: the baseline
        ),
        dataset="digits",
        search_seeds=(0,) if quick else (0, 1, 2),
        train_seeds=(0,),
        random_archs=1 if quick else 6,
        search={
            # totals: the nodes curriculum has `nodes` stages and gets a share of each
            "warmup_epochs": 2,
            "epochs": 2 if quick else 4,
            "nodes": 2,
            "init_channels": 4 if quick else 8,
            "layers": 3 if quick else 5,
            "batch_size": 32 if quick else 64,
            "train_portion": 0.5,
            "derive_batches": 2,
            **({"steps_per_epoch": 2} if quick else {}),
        },
        train={
            "epochs": 1 if quick else 10,
            "init_channels": 4 if quick else 8,
            "layers": 3 if quick else 5,
            "train_portion": 0.25,
            **({"max_steps": 3} if quick else {}),
        },
    )
    print("the plan as a file for `cnas study plan.json`:")
    print(json.dumps(plan.to_dict(), indent=2))

    study = Study(plan, args.folder)
    print(f"{len(study.runs)} runs, for example: {study.runs[0].command}")
    results = study.run(jobs=2, resume=(study.folder / "study.json").is_file())
    for label, group in results["groups"].items():
        if group.get("n"):
            print(
                f"{label}: test top-1 {100 * group['test_top1_mean']:.2f}% "
                f"over {group['n']} genotype(s)"
            )
    print(f"report: {study.folder / 'report.md'}")


if __name__ == "__main__":
    main()
