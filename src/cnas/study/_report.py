"""A study's results, read from its runs' own outputs (nothing here is measured again),
and ``report.md`` with its figure and cell diagrams."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from .._genotype import Genotype
from .._io import atomic_path, atomic_write_text
from ._outputs import DamagedOutputError, collect_run, unreadable, wall_time
from ._plan import StudyPlan
from ._runs import StudyRun
from ._stats import kendall_tau, mean_std, permutation_test, relative_improvement

__all__ = ["Study", "collect", "parameter_free_share", "write_report"]


class Study(Protocol):
    """What the report reads of a study (``cnas.study.Study``): its plan, folder, runs,
    record and which runs finished."""

    plan: StudyPlan
    folder: Path

    @property
    def runs(self) -> Sequence[StudyRun]:
        """Every run of the study."""

    def is_done(self, run: StudyRun) -> bool:
        """Whether ``run`` finished."""

    def _read_record(self) -> dict[str, Any] | None: ...


logger = logging.getLogger("cnas")

RANDOM = "random"
FIGURE = "accuracy.png"
PLOT_HINT = 'pip install "cnas[plot]"'


def parameter_free_share(genotype: Genotype) -> float:
    """The share of a genotype's edges (normal and reduction cells) whose op has no
    parameters at stride 1 (``none``, ``skip_connect``, pooling): a collapse indicator,
    since weight-sharing searches are known to drift towards such cells."""
    edges = [*genotype.normal, *genotype.reduce]
    free = sum(_parameter_free(edge[0]) for edge in edges)
    return free / len(edges)


_FREE: dict[str, bool] = {}


def _parameter_free(op: str) -> bool:
    if op not in _FREE:
        from ..ops import get_op

        module = get_op(op)(4, 1, True)
        _FREE[op] = not any(True for _ in module.parameters())
    return _FREE[op]


def collect(study: Study) -> dict[str, Any]:
    """Every finished run's numbers, and the statistics built from them."""
    plan = study.plan
    record = study._read_record() or {}
    walls = record.get("runs", {}) if isinstance(record.get("runs"), dict) else {}
    searches: dict[str, Any] = {}
    trainings: dict[str, Any] = {}
    scores: dict[str, dict[str, float]] = {}
    missing: list[str] = []
    damaged: dict[str, str] = {}
    genotype_files: dict[str, dict[str, Any]] = {}
    for i in range(plan.random_archs):
        genotype_files[f"random/r{i:02d}.json"] = {"arm": RANDOM, "seed": i}
    for run in study.runs:
        if run.kind == "search":
            genotype_files[f"{run.id}/genotype.json"] = {
                "arm": run.arm,
                "seed": run.seed,
                "search": run.id,
            }
    for run in study.runs:
        if not study.is_done(run):
            reason = unreadable(study.folder, run)
            if reason is not None:  # there, but not JSON: a resume runs it again
                logger.warning("study: %s is left out of the report: %s", run.id, reason)
                damaged[run.id] = reason
            missing.append(run.id)
            continue
        try:
            collect_run(study.plan, study.folder, run, walls, searches, trainings, scores, missing)
        except DamagedOutputError as exc:
            logger.warning("study: %s is left out of the report: %s", run.id, exc)
            damaged[run.id] = str(exc)
            missing.append(run.id)
    return _results(study, missing, damaged, searches, trainings, scores, genotype_files)


def _results(
    study: Study,
    missing: list[str],
    damaged: dict[str, str],
    searches: dict[str, Any],
    trainings: dict[str, Any],
    scores: dict[str, dict[str, float]],
    genotype_files: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    genotypes = []
    for file, meta in genotype_files.items():
        runs = [t for t in trainings.values() if t["genotype"] == file]
        if not runs:
            continue
        try:
            genotype = Genotype.load(study.folder / file)
        except (OSError, ValueError):
            continue
        genotypes.append(
            {
                "file": file,
                **meta,
                "test_top1": sum(t["top1"] for t in runs) / len(runs),
                "test_top1_runs": [t["top1"] for t in sorted(runs, key=lambda t: t["train_seed"])],
                "params": runs[0]["params"],
                "madds": runs[0]["madds"],
                "parameter_free": parameter_free_share(genotype),
            }
        )
    results: dict[str, Any] = {
        "complete": not missing,
        "missing": missing,
        "damaged": damaged,
        "searches": searches,
        "trainings": trainings,
        "scores": scores,
        "genotypes": genotypes,
    }
    results.update(_statistics(study, searches, genotypes, scores))
    return results


def _statistics(
    study: Study,
    searches: dict[str, Any],
    genotypes: list[dict[str, Any]],
    scores: dict[str, dict[str, float]],
) -> dict[str, Any]:
    plan = study.plan
    by_arm: dict[str, list[dict[str, Any]]] = {}
    for g in genotypes:
        by_arm.setdefault(g["arm"], []).append(g)
    random_values = [g["test_top1"] for g in by_arm.get(RANDOM, [])]
    random_mean = mean_std(random_values)[0] if random_values else None
    baseline = plan.baseline_arm.label if plan.baseline_arm else None
    baseline_values = [g["test_top1"] for g in by_arm.get(baseline or "", [])]
    groups: dict[str, Any] = {}
    for label in [RANDOM, *(a.label for a in plan.arms)]:
        members = by_arm.get(label, [])
        values = [g["test_top1"] for g in members]
        entry: dict[str, Any] = {"n": len(values)}
        if values:
            mean, std = mean_std(values)
            best = max(members, key=lambda g: g["test_top1"])
            entry.update(
                {
                    "test_top1_mean": mean,
                    "test_top1_std": std,
                    "params_mean": sum(g["params"] for g in members) / len(members),
                    "madds_mean": sum(g["madds"] for g in members) / len(members),
                    "parameter_free": sum(g["parameter_free"] for g in members) / len(members),
                    "best": best["file"],
                    "best_top1": best["test_top1"],
                }
            )
            if random_mean:
                entry["relative_improvement"] = relative_improvement(mean, random_mean)
            if baseline_values and label != baseline:
                entry["p_vs_baseline"] = permutation_test(values, baseline_values)
            if random_values and label != RANDOM:
                entry["p_vs_random"] = permutation_test(values, random_values)
        own = [s for s in searches.values() if s["arm"] == label]
        if own:
            entry["searches"] = len(own)
            entry["supernet_images"] = sorted({s["supernet_images"] for s in own})
            entry["search_hours_mean"] = sum(s["epochs_s"] for s in own) / len(own) / 3600
            walls = [s["wall_s"] for s in own if s["wall_s"] is not None]
            if walls:
                entry["wall_hours_mean"] = sum(walls) / len(walls) / 3600
            entry["search_val_mean"] = sum(s["val_accuracy"] for s in own) / len(own)
        groups[label] = entry
    test_of = {g["file"]: g["test_top1"] for g in genotypes}
    per_supernet: dict[str, float] = {}
    for search_id, scored in scores.items():
        files = [f for f in scored if f in test_of]
        if len(files) >= 2:
            tau = kendall_tau([scored[f] for f in files], [test_of[f] for f in files])
            if not math.isnan(tau):
                per_supernet[search_id] = tau
    per_arm: dict[str, float] = {}
    for label in (a.label for a in plan.arms):
        taus = [t for s, t in per_supernet.items() if searches.get(s, {}).get("arm") == label]
        if taus:
            per_arm[label] = sum(taus) / len(taus)
    own_pairs = [
        (searches[g["search"]]["val_accuracy"], g["test_top1"])
        for g in genotypes
        if g.get("search") in searches
    ]
    tau_record: dict[str, Any] = {
        "per_supernet": per_supernet,
        "per_arm": per_arm,
        "mean": sum(per_supernet.values()) / len(per_supernet) if per_supernet else None,
        "genotypes": len(test_of),
    }
    if len(own_pairs) >= 2:
        own_tau = kendall_tau([a for a, _ in own_pairs], [b for _, b in own_pairs])
        tau_record["derived_own_supernet"] = None if math.isnan(own_tau) else own_tau
    images = {s["supernet_images"] for s in searches.values()}
    return {
        "groups": groups,
        "baseline": baseline,
        "kendall_tau": tau_record,
        "equal_budget": len(images) <= 1,
    }


# -- report.md ---------------------------------------------------------------------------------


def _pct(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{100 * value:.{digits}f}"


def _hours(group: dict[str, Any]) -> str:
    if "search_hours_mean" not in group:
        return "-"
    wall = group.get("wall_hours_mean")
    return f"{_hour(group['search_hours_mean'])}; " + ("-" if wall is None else _hour(wall))


def _hour(hours: float) -> str:
    """Hours to 3 decimals; under 0.01 h (36 s), seconds, which 0.000 would hide."""
    return f"{hours:.3f}" if hours >= 0.01 else f"{3600 * hours:.1f} s"


def _first(ids: list[str], n: int = 8) -> str:
    return ", ".join(ids[:n]) + (", ..." if len(ids) > n else "")


def _p(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def write_report(study: Study, results: dict[str, Any]) -> Path:
    """Write ``report.md`` (with ``accuracy.png`` when matplotlib is installed and the
    best cells' diagrams when graphviz is) from ``results``; return its path."""
    plan = study.plan
    groups = results["groups"]
    baseline = results["baseline"]
    lines = [f"# Study: {plan.name}", ""]
    test_images = sorted({t["test_images"] for t in results["trainings"].values()})
    lines += [
        f"{len(plan.arms)} arm(s) x {len(plan.search_seeds)} search seed(s), "
        f"{plan.random_archs} random architecture(s), {len(plan.train_seeds)} training "
        f"seed(s) each, on {_dataset(plan)}. Every genotype is trained from scratch with one "
        "recipe and scored once, with its final weights, on a held-out test split "
        f"({', '.join(map(str, test_images)) or '?'} images) that no search and no model "
        "selection saw. The plan, every run's configuration and the environment are in "
        "`study.json`.",
        "",
    ]
    if plan.name == "smoke":
        lines += [
            "**A smoke study: its numbers mean nothing.** The `smoke` preset checks that a "
            "study runs end to end, with searches and trainings of a few steps: its "
            "accuracies are near chance and its hours round to zero. For numbers, run "
            "`--preset digits` (about 25 minutes on a 2-core CPU) or `--preset quick` on "
            "your own images.",
            "",
        ]
    if not results["complete"]:
        lines += [
            f"**Incomplete**: {len(results['missing'])} run(s) have not finished "
            f"({_first(results['missing'])}); "
            "`cnas study ... --resume` continues the study.",
            "",
        ]
    for run_id, reason in results.get("damaged", {}).items():
        lines += [f"**Damaged output, left out**: {run_id}: {reason}", ""]
    lines += ["## Results", ""]
    header = (
        "| arm | searches | supernet images per search | search hours (epochs; wall) | "
        "test top-1 % (mean ± std, n) | vs random (RI %) | "
        f"p vs {baseline or 'baseline'} | p vs random | params (M) | MAdds (M) | "
        "param-free ops |"
    )
    lines += [header, "|" + "---|" * 11]
    for label in [*(a.label for a in plan.arms), RANDOM]:
        g = groups.get(label, {"n": 0})
        name = "random architectures" if label == RANDOM else label
        if label == baseline:
            name += " (baseline)"
        images = g.get("supernet_images")
        cells = [
            name,
            str(g.get("searches", "-")) if label != RANDOM else "-",
            ", ".join(f"{i:,}" for i in images) if images else ("0" if label == RANDOM else "-"),
            _hours(g),
            (
                f"{_pct(g['test_top1_mean'])} ± {_pct(g['test_top1_std'])} ({g['n']})"
                if g.get("n")
                else "-"
            ),
            f"{g['relative_improvement']:+.2f}" if "relative_improvement" in g else "-",
            _p(g.get("p_vs_baseline")),
            _p(g.get("p_vs_random")),
            f"{g['params_mean'] / 1e6:.4f}" if "params_mean" in g else "-",
            f"{g['madds_mean'] / 1e6:.3f}" if "madds_mean" in g else "-",
            f"{100 * g['parameter_free']:.0f}%" if "parameter_free" in g else "-",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "- test top-1: each genotype's accuracy averaged over its training seeds; mean and "
        "sample standard deviation over the arm's genotypes (one per search seed).",
        "- RI: relative improvement over the random architectures' mean, "
        "100 (acc - acc_random) / acc_random (Yang et al., ICLR 2020).",
        "- p: two-sided permutation test of the difference of means (exact over all "
        "relabelings up to 20,000 of them, else 20,000 seeded ones); no normality assumed.",
        "- supernet images: images the supernet weights were trained on (warm-up and search "
        "epochs, from each search's metrics.jsonl); hours: the sum of its epochs' times "
        "(metrics.jsonl) and the wall time of its process (study.json; it includes deriving, "
        "checkpoints and start-up), each the mean over the arm's searches.",
        "- param-free ops: share of cell edges whose op has no parameters (none, skip, "
        "pooling): a collapse indicator.",
        "",
    ]
    if not results["equal_budget"]:
        lines += [
            "**Note**: the searches did not train the supernet on the same number of images.",
            "",
        ]
    tau = results["kendall_tau"]
    lines += ["## Ranking quality of weight sharing", ""]
    if tau["per_supernet"]:
        lines += [
            "Kendall's tau (tau-b) between a genotype's validation accuracy with a search's "
            f"final supernet weights and its test accuracy after training, over the "
            f"{tau['genotypes']} trained genotypes (random and derived), for each search's "
            "supernet:",
            "",
            "| arm | mean tau over its supernets |",
            "|---|---|",
        ]
        lines += [f"| {arm} | {value:+.3f} |" for arm, value in tau["per_arm"].items()]
        lines += [f"| all supernets | {tau['mean']:+.3f} |", ""]
    else:
        lines += ["No supernet scoring has finished yet.", ""]
    if tau.get("derived_own_supernet") is not None:
        lines += [
            "Over the derived genotypes alone, each scored by its own search: tau "
            f"{tau['derived_own_supernet']:+.3f}.",
            "",
        ]
    lines += ["## Accuracy distribution", ""]
    figure = _figure(study, results)
    if figure:
        lines += [
            f"![test accuracy per arm]({FIGURE})",
            "",
            "Each point is a genotype (its mean over the training seeds); the boxes give the "
            "quartiles and the median, the black line the mean.",
            "",
        ]
    else:
        lines += [
            f"The figure needs matplotlib: `{PLOT_HINT}`, then `cnas study -o "
            f"{study.folder} --report` draws it (nothing runs again).",
            "",
        ]
    lines += ["## Best cell of each arm", ""]
    for arm in plan.arms:
        g = groups.get(arm.label, {})
        if "best" not in g:
            continue
        drawn = _cell(study, arm.slug, g["best"])
        lines.append(f"- {arm.label}: `{g['best']}`, test top-1 {_pct(g['best_top1'])}%")
        if drawn:
            lines += ["", f"  ![{arm.label}]({drawn})", ""]
    record = study._read_record() or {}
    runs = record.get("runs")
    walls: dict[str, Any] = runs if isinstance(runs, dict) else {}
    lines += ["", "## Runs", "", "| run | wall s | attempts |", "|---|---|---|"]
    total = 0.0
    for run in study.runs:
        found = walls.get(run.id)
        entry: dict[str, Any] = found if isinstance(found, dict) else {}
        wall = wall_time(walls, run.id)  # (a damaged entry counts as none)
        total += wall or 0.0
        state = "-" if wall is None else f"{wall:.1f}"
        if run.id in results["missing"]:
            state = "not finished"
        attempts = entry.get("attempts")
        shown = attempts if isinstance(attempts, int) and not isinstance(attempts, bool) else "-"
        lines.append(f"| {run.id} | {state} | {shown} |")
    found_sessions = record.get("sessions")
    sessions = (
        [x for x in found_sessions if isinstance(x, dict)]
        if isinstance(found_sessions, list)
        else []
    )
    session_walls = [wall_time({"s": x}, "s") or 0.0 for x in sessions]
    lines += [
        "",
        f"The runs' wall times add up to {total / 3600:.2f} hours; the study took "
        f"{sum(session_walls) / 3600:.2f} hours of wall time "
        f"in {len(sessions)} session(s) (`study.json`, `sessions`).",
    ]
    env = record.get("environment") or {}
    if env:
        lines += ["", "## Environment", ""]
        lines += [f"- {k}: {v}" for k, v in env.items()]
    path = study.folder / "report.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def _figure(study: Study, results: dict[str, Any]) -> bool:
    try:
        import matplotlib  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # type: ignore[import-not-found, unused-ignore]

    plan = study.plan
    labels = [RANDOM, *(a.label for a in plan.arms)]
    data = [
        [100 * g["test_top1"] for g in results["genotypes"] if g["arm"] == label]
        for label in labels
    ]
    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(labels), 3.6))
    for i, values in enumerate(data):
        if not values:
            continue
        offsets = [((j * 0.618) % 1.0 - 0.5) * 0.3 for j in range(len(values))]
        ax.scatter([i + o for o in offsets], values, s=18, alpha=0.8, zorder=3)
        mean = sum(values) / len(values)
        ax.hlines(mean, i - 0.25, i + 0.25, colors="black", zorder=4)
    ax.boxplot(
        [v if v else [math.nan] for v in data],
        positions=list(range(len(labels))),
        widths=0.5,
        showfliers=False,
    )
    ax.set_xticks(list(range(len(labels))), ["random\narchitectures", *labels[1:]])
    ax.set_ylabel("test top-1 (%)")
    ax.set_title(f"{plan.name}: test accuracy after training")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    with atomic_path(study.folder / FIGURE) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    return True


def _cell(study: Study, slug: str, file: str) -> str | None:
    from ..viz import draw

    target = f"cells/{slug}.svg"
    try:
        draw(Genotype.load(study.folder / file), study.folder / target, title=f"{slug}: {file}")
    except (OSError, RuntimeError, ValueError) as exc:
        logger.warning("no cell diagram for %s: %s", file, exc)
        return None
    return target


def _dataset(plan: Any) -> str:
    if plan.dataset == "folder":
        return f"the image folder `{plan.data}`"
    return f"`{plan.dataset}`"
