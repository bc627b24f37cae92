"""Running a study: its plan expanded into runs, each a configuration file in the study
folder (searches, trainings, supernet scorings), run by the library in local processes or
one at a time by a cluster scheduler, each resumable through its own resume path."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .._genotype import Genotype
from .._io import FileLockedError, atomic_write_text, find_link, lock_file, parse_json, unlock_file
from .._progress import progress_bar
from .._run import TEST_RESULT_NAME
from .._schema import finite_or_none
from ..errors import StudyPlanError, StudyRunError
from ._plan import StudyPlan
from ._processes import Handle, environment, start, wait_any, warm_up
from ._runs import (
    GENOTYPE_LIST,
    StudyRun,
    config_path,
    genotype_files,
    plan_runs,
    random_file,
    run_config,
)

__all__ = ["STUDY_FILE", "Study", "read_record"]

logger = logging.getLogger("cnas")

STUDY_FILE = "study.json"
STUDY_FORMAT = "cnas.study"


class Study:
    """A study folder: the plan, every run's own folder, ``study.json`` and ``report.md``.

    Args:
        plan: What to run.
        folder: The study folder (created by ``prepare``).

    Examples:
        >>> study = Study(StudyPlan.preset("smoke"), "runs/study")  # doctest: +SKIP
        >>> study.run(jobs=2)                                       # doctest: +SKIP
    """

    def __init__(self, plan: StudyPlan, folder: str | os.PathLike[str]) -> None:
        self.plan = plan
        self.folder = Path(folder)
        self.runs: list[StudyRun] = plan_runs(plan)

    @classmethod
    def open(cls, folder: str | os.PathLike[str]) -> Study:
        """The study in ``folder``, with the plan its ``study.json`` records.

        Raises:
            FileNotFoundError: the folder holds no ``study.json``.
            StudyPlanError: it is not a study record, or its plan is not valid here.
        """
        record = read_record(folder)
        if record is None:
            raise FileNotFoundError(f"{folder} holds no {STUDY_FILE}")
        return cls(StudyPlan.from_dict(record.get("plan")), folder)

    # -- the folder ---------------------------------------------------------------------

    def prepare(self, *, resume: bool = False) -> None:
        """Create the study folder (``study.json`` with the plan and every run, each run's
        configuration file in ``configs/``, and the random genotypes), or check that it
        holds this plan.

        Raises:
            StudyPlanError: the folder holds another plan, holds this one and ``resume``
                is off, is a non-empty folder of something else, or holds a symbolic
                link (a write could leave the folder through it). Nothing is changed.
        """
        _refuse_links(self.folder)
        record = self._read_record()
        if record is None:
            if self.folder.exists() and any(self.folder.iterdir()):
                raise StudyPlanError(
                    f"{self.folder} is a folder with other contents (no {STUDY_FILE}); "
                    "give a new folder for the study"
                )
        else:
            saved = record.get("plan")
            differ = _differences(saved, self.plan.to_dict())
            if differ:
                raise StudyPlanError(
                    f"{self.folder} holds another study (its {STUDY_FILE} differs in "
                    f"{', '.join(differ)}); nothing was changed. Use another folder, or "
                    "the plan it was started with"
                )
            if not resume:
                raise StudyPlanError(
                    f"{self.folder} holds this study already; pass --resume to continue it "
                    "(finished runs are skipped)"
                )
        self.folder.mkdir(parents=True, exist_ok=True)
        self._write_random_genotypes()
        self._write_configs()
        if record is None:
            self._update_record()

    def _read_record(self) -> dict[str, Any] | None:
        return read_record(self.folder)

    def _update_record(self, change: Callable[[dict[str, Any]], None] | None = None) -> None:
        """Rewrite ``study.json``: the plan and the runs as they are now, what it held
        already, and ``change`` applied to that."""
        record = self._read_record() or {}
        record.update(
            {
                "format": STUDY_FORMAT,
                "version": 1,
                "plan": self.plan.to_dict(),
                "commands": [
                    {
                        "index": r.index,
                        "id": r.id,
                        "kind": r.kind,
                        "config": r.config,
                        "command": r.command,
                        "depends": list(r.depends),
                    }
                    for r in self.runs
                ],
            }
        )
        if not isinstance(record.get("runs"), dict):
            record["runs"] = {}
        if not isinstance(record.get("sessions"), list):
            record["sessions"] = []
        record.setdefault("environment", None)
        record.setdefault("results", None)
        if change is not None:
            change(record)
        atomic_write_text(self.folder / STUDY_FILE, json.dumps(record, indent=2) + "\n")

    def random_genotypes(self) -> list[Genotype]:
        """The study's random architectures: uniform samples of the full space, seeded
        with ``plan.random_seed``."""
        import torch

        from ..space import SearchSpace

        space = SearchSpace(list(self.plan.ops), self.plan.nodes)
        generator = torch.Generator().manual_seed(self.plan.random_seed)
        return [space.sample(generator=generator) for _ in range(self.plan.random_archs)]

    def _write_random_genotypes(self) -> None:
        for i, genotype in enumerate(self.random_genotypes()):
            path = self.folder / random_file(i)
            if path.is_file():
                try:
                    saved = Genotype.load(path)
                except (ValueError, OSError) as exc:
                    raise StudyPlanError(f"{path} is not a genotype: {exc}") from None
                if saved != genotype:
                    raise StudyPlanError(
                        f"{path} is not the random genotype this plan samples; it was "
                        "changed after the study started"
                    )
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            genotype.save(path, overwrite=False)

    def _write_configs(self) -> None:
        """Each run's configuration file, and the list of the genotypes the scorings
        score; one that is there already must be this plan's."""
        files = [
            (config_path(self.folder, run), run_config(self.plan, run).to_json())
            for run in self.runs
        ]
        listed = json.dumps(genotype_files(self.plan), indent=1) + "\n"
        for path, text in [*files, (self.folder / GENOTYPE_LIST, listed)]:
            if path.is_file():
                if path.read_text(encoding="utf-8") != text:
                    raise StudyPlanError(
                        f"{path} is not the configuration this plan gives its run; it was "
                        "changed after the study started"
                    )
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, text)

    # -- status -------------------------------------------------------------------------

    def is_done(self, run: StudyRun) -> bool:
        """Whether ``run`` finished (from its own outputs, so cluster runs count too)."""
        path = self.folder / run.output
        if run.kind == "search":
            arm = next(a for a in self.plan.arms if a.label == run.arm)
            stages = self.plan.stages(arm)
            if not all(
                (path / "stages" / f"stage-{k}" / "result.json").is_file()
                for k in range(1, stages + 1)
            ):
                return False
            # the last stage's files come before the checkpoint that says it finished
            return _search_finished(path / "checkpoint.pt")
        target = path / TEST_RESULT_NAME if run.kind == "train" else path
        if not target.is_file():
            return False
        try:
            parse_json(target.read_bytes())
        except (ValueError, OSError):
            return False
        return True

    def listing(self) -> str:
        """Every run as a line ``index<TAB>id<TAB>command`` (``cnas study --list-runs``):
        the command runs it by hand or on a cluster, in the study folder."""
        return "\n".join(f"{r.index}\t{r.id}\t{r.command}" for r in self.runs)

    def pending(self) -> list[StudyRun]:
        """The runs that have not finished, in order."""
        return [r for r in self.runs if not self.is_done(r)]

    # -- running ------------------------------------------------------------------------

    def _log(self, run: StudyRun) -> Path:
        return self.folder / "logs" / f"{run.id.replace('/', '--')}.log"

    def _start(self, run: StudyRun, threads: int) -> Handle:
        """Start ``run`` in its own process, its output going to its log."""
        log = self._log(run)
        log.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | _NOFOLLOW, 0o644)
        with open(fd, "ab") as handle:
            handle.write(f"$ {run.command}\n".encode())
        return start(run, self.folder, log, threads)

    def _failure(self, run: StudyRun, code: int) -> StudyRunError:
        log = self._log(run)
        last = ""
        with contextlib.suppress(OSError):
            lines = [
                line
                for line in log.read_text(encoding="utf-8", errors="replace").splitlines()
                if line.strip()
            ]
            last = lines[-1] if lines else ""
        return StudyRunError(
            f"run {run.index} ({run.id}) failed with exit status {code}: {last} (log: {log}); "
            "the finished runs are kept, and --resume continues the study"
        )

    def run(
        self,
        *,
        jobs: int = 1,
        threads: int | None = None,
        resume: bool = False,
        progress: bool | None = None,
        report: bool = True,
    ) -> dict[str, Any]:
        """Run every unfinished run (``jobs`` at a time, in order as their dependencies
        finish), then collect the results into ``study.json`` and write ``report.md``.

        Args:
            jobs: Runs at a time, each its own process.
            threads: Threads per run (default: this machine's cores split between the jobs).
            resume: Continue a study folder that holds this plan.
            progress: A tqdm bar over the runs (default: on a terminal or in a notebook).
            report: Write ``report.md`` at the end.

        Returns:
            The results (as in ``study.json``).

        Raises:
            StudyPlanError: the folder holds another study, or this one without ``resume``.
            StudyRunError: a run failed (the others that were running finish first).
        """
        if jobs < 1:
            raise ValueError(f"jobs must be at least 1, got {jobs}")
        threads = threads or max(1, (os.cpu_count() or 1) // jobs)
        self.prepare(resume=resume)
        with self._lock():
            env = environment(jobs, threads)
            self._update_record(lambda record: record.update(environment=env))
            started = time.perf_counter()
            try:
                self._run_pending(jobs, threads, progress)
            finally:
                self._note_session(jobs, threads, time.perf_counter() - started)
            return self.finish(report=report)

    def _note_session(self, jobs: int, threads: int, seconds: float) -> None:
        session = {
            "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() - seconds)),
            "wall_s": seconds,
            "jobs": jobs,
            "threads_per_job": threads,
        }
        self._update_record(lambda record: record["sessions"].append(session))

    def _run_pending(self, jobs: int, threads: int, progress: bool | None) -> None:
        done = {r.id for r in self.runs if self.is_done(r)}
        pending = [r for r in self.runs if r.id not in done]
        skipped = len(self.runs) - len(pending)
        if skipped:
            logger.info("study: %d of %d runs finished already; skipped", skipped, len(self.runs))
        if pending:
            warm_up()
        bar = _progress_bar(len(self.runs), skipped, progress)
        failures: list[StudyRunError] = []
        running: list[Handle] = []
        try:
            while pending or running:
                if not failures:
                    ready = [r for r in pending if all(d in done for d in r.depends)]
                    for r in ready[: jobs - len(running)]:
                        pending.remove(r)
                        running.append(self._start(r, threads))
                        logger.info("study: run %d/%d %s", r.index + 1, len(self.runs), r.id)
                if not running:
                    break
                for handle in wait_any(running):
                    running.remove(handle)
                    r, code = handle.run, handle.exit_status()
                    seconds = time.perf_counter() - handle.started
                    self._note(r, code, seconds)
                    if code == 0 and self.is_done(r):
                        done.add(r.id)
                        bar.update(1)
                        logger.info("study: %s done (%.0f s)", r.id, seconds)
                    else:
                        failures.append(self._failure(r, code))
        except BaseException:
            for handle in running:
                handle.kill()
            raise
        finally:
            bar.close()
        if failures:
            raise failures[0]

    def _note(self, run: StudyRun, code: int, seconds: float) -> None:
        def count(record: dict[str, Any]) -> None:
            entry = record["runs"].get(run.id)
            if not isinstance(entry, dict):  # (a damaged entry starts again)
                entry = record["runs"][run.id] = {}
            attempts = entry.get("attempts")
            ok_attempts = isinstance(attempts, int) and not isinstance(attempts, bool)
            entry["attempts"] = (attempts if ok_attempts and 0 <= attempts < 10**9 else 0) + 1
            entry["wall_s"] = (finite_or_none(entry.get("wall_s")) or 0.0) + seconds
            entry["exit_status"] = code

        self._update_record(count)

    def run_one(self, index: int, *, threads: int | None = None) -> int:
        """Run ``runs[index]`` alone (what a cluster job runs; ``study.json`` is left to
        the final ``run``/``finish``). A finished run is skipped.

        Returns:
            The run's exit status (0 when it had finished already).

        Raises:
            StudyPlanError: no such run, the folder is not this study, or a run it needs
                has not finished.
        """
        if not 0 <= index < len(self.runs):
            raise StudyPlanError(
                f"--run-index {index}: the study has runs 0 to {len(self.runs) - 1}"
            )
        run = self.runs[index]
        self.prepare(resume=True)
        if self.is_done(run):
            logger.info("study: %s has finished already", run.id)
            return 0
        missing = [
            d for d in run.depends if not self.is_done(next(r for r in self.runs if r.id == d))
        ]
        if missing:
            raise StudyPlanError(
                f"run {index} ({run.id}) needs {', '.join(missing)}, which has not finished"
            )
        warm_up()
        handle = self._start(run, threads or (os.cpu_count() or 1))
        try:
            wait_any([handle])
        except BaseException:
            handle.kill()
            raise
        return handle.exit_status()

    def finish(self, *, report: bool = True) -> dict[str, Any]:
        """Collect the finished runs' results into ``study.json`` and write ``report.md``
        (a study with unfinished runs gets a report that says which)."""
        from ._report import collect, write_report

        results = collect(self)
        self._update_record(lambda record: record.update(results=results))
        if report:
            write_report(self, results)
        return results

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        path = self.folder / "study.lock"
        if importlib.util.find_spec("fcntl") is None:  # pragma: no cover - not POSIX
            yield
            return
        try:
            handle = lock_file(path)
        except FileLockedError:
            raise StudyPlanError(
                f"another cnas study is running in {self.folder}; wait for it to end"
            ) from None
        try:
            yield
        finally:
            unlock_file(handle, path)


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def _refuse_links(folder: Path) -> None:
    """A study writes only inside its folder: one that holds a symbolic link is refused.

    Raises:
        StudyPlanError: naming the link.
    """
    entry = find_link(folder)
    if entry is not None:
        raise StudyPlanError(
            f"{entry} is a symbolic link; a study writes only inside its folder and "
            "refuses links in it: remove the link"
        )


_FINISHED: dict[tuple[str, int, int], bool] = {}


def _search_finished(checkpoint: Path) -> bool:
    """Whether a search's checkpoint says it finished (read once per version of the file)."""
    from .._run import load_checkpoint
    from ..errors import CheckpointError

    try:
        stat = checkpoint.stat()
    except OSError:
        return False
    key = (str(checkpoint), stat.st_mtime_ns, stat.st_size)
    if key not in _FINISHED:
        try:
            state = load_checkpoint(checkpoint, "search")
            _FINISHED[key] = bool(state["position"]["finished"])
        except CheckpointError:
            return False  # its own resume says what is wrong with it
    return _FINISHED[key]


def read_record(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """A study folder's ``study.json`` (``None`` when there is none).

    Raises:
        StudyPlanError: it is not a study record.
    """
    path = Path(folder) / STUDY_FILE
    if not path.is_file():
        return None
    try:
        record = parse_json(path.read_bytes())
    except ValueError as exc:
        raise StudyPlanError(f"{path} is not a study record: {exc}") from None
    if not isinstance(record, dict) or record.get("format") != STUDY_FORMAT:
        raise StudyPlanError(f"{path} is not a study record (format {STUDY_FORMAT!r})")
    return record


def _differences(saved: Any, now: dict[str, Any]) -> list[str]:
    if not isinstance(saved, dict):
        return ["plan"]
    keys = sorted(set(saved) | set(now))
    return [k for k in keys if saved.get(k) != now.get(k)]


def _progress_bar(total: int, done: int, progress: bool | None) -> Any:
    return progress_bar(show=progress, total=total, initial=done, desc="study", unit="run")
