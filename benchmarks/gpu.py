"""The GPU run: kernel tests, supernet and mixed steps, training throughput, in one JSON.

Runs a list of named parts, each a command of its own with its own timeout, so that a
hang or a slow compile costs that part only, and writes one JSON file with the machine's
environment and, per part, the command, its exit status, its wall time and the results
it wrote. On one GPU the whole run fits in about 7.5 minutes (``--budget``, 450 s):

- ``kernels``: ``pytest tests/test_kernels.py`` on the CUDA machine, which adds opcheck
  and gradcheck on CUDA tensors (the Triton kernels) and the CUDA-against-CPU-reference
  comparison to the CPU tests; pass, fail and skip counts from its JUnit XML;
- ``supernet``: the single-path supernet step (C=16, 8 cells, batch 64, forward,
  backward, SGD), fp32 and bf16, eager with a new architecture every step (as a search
  runs it) and with one fixed architecture, eager and replayed as a CUDA graph;
- ``mixed``: the DARTS-style mixed step (every op of every edge, through the fused
  ``cnas`` kernels), fp32 and bf16, eager and as a CUDA graph;
- ``mixed-memory-fp32``, ``mixed-memory-bf16``: ``benchmarks/mixed_memory.py`` on CUDA
  (saved activations, peak memory and step time, fused against stock ops);
- ``train-fp32``, ``train-bf16``, ``train-bf16-compile``: ``benchmarks/train_speed.py
  --only cnas`` on CUDA at batch 96: images/s in fp32, bf16, and bf16 compiled
  (channels-last throughout, the default);
- ``supernet-compiled`` (fp32 and bf16), ``mixed-compiled`` (bf16): the two steps with
  ``torch.compile``, then the compiled step replayed as a CUDA graph. They come last:
  compiling takes minutes, and a part is cut to the budget that is left (``--budget``).

Usage::

    bash benchmarks/gpu.sh                          # the GPU run, writes gpu-results.json
    python benchmarks/gpu.py --json h200.json       # the same
    python benchmarks/gpu.py --only kernels,mixed   # some parts (the others: skipped)
    python benchmarks/gpu.py --list                 # the parts and their commands
    python benchmarks/gpu.py --dry-run              # CPU, tiny sizes: checks the pipeline

``--dry-run`` runs the same parts on the CPU with tiny sizes, most of them inside the
driver's own process to spare the start-up of torch, and skips what needs CUDA or takes
minutes on a CPU (CUDA graphs, ``torch.compile``, bf16 training). Its numbers mean
nothing; it checks the commands, the parsing and the JSON. The exit status is 1 if a
part failed or ran out of time, 0 otherwise.

The supernet and mixed parts run this script's own worker (``--worker``), which writes
its results after every variant, so a part that times out still reports what finished.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import runpy
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BENCHMARKS = REPO / "benchmarks"
SCHEMA = 1
DEFAULT_BUDGET_S = 450.0
MIN_PART_S = 20.0  # a part is not started with less time than this left in the budget
TAIL_CHARS = 4000
WORKER_KINDS = ("supernet", "mixed")
WORKER_MODES = ("sampled", "eager", "graph", "compiled", "compiled-graph")

ResultParser = Callable[[Path], dict[str, Any]]
ResultCheck = Callable[[dict[str, Any]], str | None]


# --- the parts -------------------------------------------------------------------------


@dataclass
class Part:
    """One named step of the run: a command, how long it may take, where its results go.

    Attributes:
        name: The part's name (``--only`` takes these).
        summary: One line on what it measures.
        argv: The command; ``argv[0]`` is the Python interpreter.
        timeout_s: Wall-clock limit of the command (the budget may cut it shorter).
        result_file: The file the command writes its results to, if any.
        parse: Reads ``result_file`` into the part's ``results``.
        check: Given the results, a problem that fails the part although the command
            succeeded (``None``: no problem).
        in_process: In a dry run, run the command inside the driver's process
            (``runpy``), which spares the start-up of another torch.
        skipped: Why the part does not run, if it does not.
    """

    name: str
    summary: str
    argv: list[str]
    timeout_s: float
    result_file: Path | None = None
    parse: ResultParser | None = None
    check: ResultCheck | None = None
    in_process: bool = False
    skipped: str | None = None


def read_json(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``."""
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path} holds a {type(data).__name__}, not a JSON object")
    return data


def _is_cuda_test(name: str) -> bool:
    """Whether a test, by its pytest name, runs on CUDA tensors: ``test_cuda_*``, or a
    parametrized test whose parameters include the device ``cuda``."""
    return name.startswith("test_cuda") or "cuda" in name.partition("[")[2]


def read_junit(path: Path) -> dict[str, Any]:
    """Pass, fail, error and skip counts of a pytest JUnit XML report, in total and for
    the tests on CUDA, with the names of the tests that did not pass."""
    root = ET.parse(path).getroot()
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    cuda = dict(counts)
    not_passed: dict[str, str] = {}
    for case in root.iter("testcase"):
        name = case.get("name", "?")
        outcome = "passed"
        for tag, kind in (("failure", "failed"), ("error", "errors"), ("skipped", "skipped")):
            child = case.find(tag)
            if child is not None:
                outcome = kind
                not_passed[name] = f"{kind}: {(child.get('message') or '').strip()[:300]}"
                break
        counts[outcome] += 1
        if _is_cuda_test(name):
            cuda[outcome] += 1
    return {"tests": sum(counts.values()), **counts, "cuda": cuda, "not_passed": not_passed}


def check_cuda_tests_ran(results: dict[str, Any]) -> str | None:
    """On the GPU machine every CUDA test must run: none may be skipped, some must pass."""
    cuda = results.get("cuda", {})
    if not cuda.get("passed"):
        return "no CUDA test passed (is the machine's torch a CUDA build?)"
    if cuda.get("skipped"):
        return f"{cuda['skipped']} CUDA test(s) skipped"
    return None


def check_worker(results: dict[str, Any]) -> str | None:
    """A worker's variants must each have a result or a reason to be skipped."""
    errors = [k for k, v in results.get("variants", {}).items() if "error" in v]
    return f"variants failed: {', '.join(errors)}" if errors else None


@dataclass(frozen=True)
class Sizes:
    """The workload of a run, as command-line options: full sizes on the GPU, tiny ones
    in a dry run."""

    device: str
    kernel_tests: str
    supernet: str
    mixed: str
    mixed_memory: str
    train: str
    train_compile: str


GPU_SIZES = Sizes(
    device="cuda",
    kernel_tests="",
    supernet="--C 16 --layers 8 --batch-size 64 --image-size 32 --steps 30 --warmup 5 --archs 16",
    mixed="--C 16 --layers 8 --batch-size 64 --image-size 32 --steps 10 --warmup 3",
    mixed_memory="",  # the script's defaults: C=16, 8 cells, batch 64, 3 rounds of 5 steps
    train="--batch-size 96 --steps 20 --warmup 5 --rounds 2",
    train_compile="--batch-size 96 --steps 20 --warmup 5 --rounds 1",
)
DRY_SIZES = Sizes(
    device="cpu",
    # two quick tests; no assertion rewriting and no hypothesis or anyio plugin, which
    # cost seconds in every interpreter where bytecode is not cached
    kernel_tests="-k mixed_sum_equals_the_weighted_sum --assert=plain -p no:hypothesispytest "
    "-p no:anyio",
    supernet="--C 4 --layers 3 --batch-size 2 --image-size 8 --steps 1 --warmup 0 --archs 2",
    mixed="--C 4 --layers 1 --batch-size 2 --image-size 8 --steps 1 --warmup 0",
    mixed_memory="--C 4 --layers 1 --batch-size 2 --image-size 8 --steps 1 --warmup 0 --rounds 1",
    train="--batch-size 2 --steps 1 --warmup 0 --rounds 1 --threads 1",
    train_compile="--batch-size 2 --steps 1 --warmup 0 --rounds 1 --threads 1",
)
NO_COMPILE = "dry run: torch.compile is left to the GPU run (Inductor takes minutes on a CPU)"
NO_BF16_TRAIN = (
    "dry run: a bf16 step of the 20-cell network takes many seconds on a CPU without bf16 "
    "units; train-fp32 runs the same script"
)


def build_parts(dry_run: bool, work: Path) -> list[Part]:
    """The parts of a run, in the order they run; their files go under ``work``."""
    py = sys.executable
    sizes = DRY_SIZES if dry_run else GPU_SIZES
    dev = ["--device", sizes.device]
    this = str(Path(__file__).resolve())
    mixed_memory = [py, str(BENCHMARKS / "mixed_memory.py"), *dev, *sizes.mixed_memory.split()]
    train = [py, str(BENCHMARKS / "train_speed.py"), "--only", "cnas", *dev]
    no_compile = NO_COMPILE if dry_run else None

    def worker(
        name: str, summary: str, kind: str, modes: str, timeout: float, dtypes: str = "fp32,bf16"
    ) -> Part:
        """A part that runs this script's worker on ``kind`` in ``modes`` and ``dtypes``."""
        path = work / f"{name}.json"
        extra = (sizes.mixed if kind == "mixed" else sizes.supernet).split()
        argv = [py, this, "--worker", kind, *dev, "--dtypes", dtypes, "--modes", modes]
        argv += [*extra, "--out", str(path)]
        compiled = "compiled" in modes
        return Part(
            name,
            summary,
            argv,
            timeout,
            result_file=path,
            parse=read_json,
            check=check_worker,
            in_process=not compiled,
            skipped=no_compile if compiled else None,
        )

    def script(name: str, summary: str, argv: list[str], timeout: float, **kw: Any) -> Part:
        """A part that runs a benchmark script, which writes its ``--json`` file."""
        path = work / f"{name}.json"
        return Part(name, summary, [*argv, "--json", str(path)], timeout, path, read_json, **kw)

    junit = work / "kernels.xml"
    pytest = [py, "-m", "pytest", str(REPO / "tests" / "test_kernels.py"), "-q", "-rfEs"]
    pytest += ["-p", "no:cacheprovider", f"--junitxml={junit}", *sizes.kernel_tests.split()]
    return [
        Part(
            "kernels",
            "pytest tests/test_kernels.py: opcheck, gradcheck, Triton against the reference",
            pytest,
            180,
            result_file=junit,
            parse=read_junit,
            check=None if dry_run else check_cuda_tests_ran,
            in_process=True,
        ),
        worker(
            "supernet",
            "single-path supernet step: fp32/bf16; sampled archs, fixed arch, CUDA graph",
            "supernet",
            "sampled,eager,graph",
            60,
        ),
        worker(
            "mixed",
            "mixed (DARTS) supernet step, fused kernels: fp32/bf16; eager, CUDA graph",
            "mixed",
            "eager,graph",
            60,
        ),
        script(
            "mixed-memory-fp32",
            "benchmarks/mixed_memory.py --dtype fp32: saved activations, peak, step time",
            [*mixed_memory, "--dtype", "fp32"],
            60,
            in_process=True,
        ),
        script(
            "mixed-memory-bf16",
            "benchmarks/mixed_memory.py --dtype bf16 (autocast)",
            [*mixed_memory, "--dtype", "bf16"],
            60,
            in_process=True,
        ),
        script(
            "train-fp32",
            "benchmarks/train_speed.py: NetworkCIFAR training images/s, fp32",
            [*train, *sizes.train.split(), "--precision", "fp32"],
            60,
        ),
        script(
            "train-bf16",
            "benchmarks/train_speed.py: training images/s, bf16 autocast",
            [*train, *sizes.train.split(), "--precision", "bf16"],
            60,
            skipped=NO_BF16_TRAIN if dry_run else None,
        ),
        script(
            "train-bf16-compile",
            "benchmarks/train_speed.py: training images/s, bf16 + channels-last + compile",
            [*train, *sizes.train_compile.split(), "--precision", "bf16", "--compile"],
            150,
            skipped=no_compile,
        ),
        worker(
            "supernet-compiled",
            "single-path supernet step, fixed arch, torch.compile: fp32/bf16, + CUDA graph",
            "supernet",
            "compiled,compiled-graph",
            120,
        ),
        worker(  # bf16 only: compiling the mixed step (every op of every edge) takes minutes
            "mixed-compiled",
            "mixed supernet step, torch.compile: bf16, + CUDA graph",
            "mixed",
            "compiled,compiled-graph",
            150,
            dtypes="bf16",
        ),
    ]


PART_NAMES = tuple(p.name for p in build_parts(False, Path("WORK")))


# --- running a part --------------------------------------------------------------------


def _tail(text: str) -> str:
    """The last ``TAIL_CHARS`` characters of ``text``."""
    return text[-TAIL_CHARS:]


def _child_env(dry_run: bool) -> dict[str, str]:
    """The environment of the parts' commands: ours, unbuffered, one thread in a dry run."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if dry_run:
        env.setdefault("OMP_NUM_THREADS", "1")
    return env


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill the command ``proc`` and whatever it started (its process group), and reap it.

    The leader is not reaped yet, so its id still names this group alone.
    """
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def run_subprocess(part: Part, timeout_s: float, logs: Path, env: dict[str, str]) -> dict[str, Any]:
    """Run ``part`` as a process group of its own, the group killed after ``timeout_s``."""
    out_path, err_path = logs / f"{part.name}.stdout", logs / f"{part.name}.stderr"
    timed_out = False
    start = time.perf_counter()
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = subprocess.Popen(
            part.argv,
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        try:
            rc: int | None = proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            timed_out, rc = True, None
            _kill_group(proc)
        except BaseException:  # Ctrl-C: the part, in a session of its own, goes too
            _kill_group(proc)
            raise
    wall = time.perf_counter() - start
    stdout = out_path.read_text(errors="replace")
    stderr = err_path.read_text(errors="replace")
    record = {"rc": rc, "wall_s": round(wall, 3), "timeout_s": round(timeout_s, 1)}
    return _finish(part, record, timed_out, stdout, stderr)


@contextlib.contextmanager
def _as_main(argv: Sequence[str]) -> Iterator[None]:
    """``sys.argv`` and ``sys.path`` as a command would see them, restored afterwards."""
    saved_argv, saved_path = sys.argv[:], sys.path[:]
    sys.argv = list(argv)
    try:
        yield
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path


def _exit_code(code: object) -> int:
    """The exit status a ``SystemExit(code)`` gives a process."""
    if code is None:
        return 0
    return code if isinstance(code, int) else 1


def run_in_process(part: Part) -> dict[str, Any]:
    """Run ``part``'s Python command inside this process (``runpy``), without a timeout."""
    args = part.argv[1:]
    stdout, stderr = io.StringIO(), io.StringIO()
    start = time.perf_counter()
    rc = 0
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                if args[0] == "-m":
                    with _as_main(args[1:]):
                        runpy.run_module(args[1], run_name="__main__", alter_sys=True)
                else:
                    with _as_main(args):
                        runpy.run_path(args[0], run_name="__main__")
            except SystemExit as exc:
                rc = _exit_code(exc.code)
                if isinstance(exc.code, str):
                    print(exc.code, file=sys.stderr)
    except Exception:
        rc = 1
        stderr.write(traceback.format_exc())
    wall = time.perf_counter() - start
    record = {"rc": rc, "wall_s": round(wall, 3), "timeout_s": None, "in_process": True}
    return _finish(part, record, False, stdout.getvalue(), stderr.getvalue())


def _finish(
    part: Part, record: dict[str, Any], timed_out: bool, stdout: str, stderr: str
) -> dict[str, Any]:
    """Complete a part's record: its results, its status, the output tails on failure."""
    problem = None
    results = None
    if part.result_file is not None and part.parse is not None:
        if part.result_file.is_file():
            try:
                results = part.parse(part.result_file)
            except Exception as exc:
                problem = f"unreadable results in {part.result_file.name}: {exc}"
        elif record["rc"] == 0:
            problem = f"wrote no results ({part.result_file.name})"
    if problem is None and results is not None and part.check is not None and not timed_out:
        problem = part.check(results)
    if timed_out:
        status = "timeout"
        problem = f"killed after {record['timeout_s']} s"
    elif record["rc"] != 0 or problem is not None:
        status = "failed"
    else:
        status = "passed"
    record = {"status": status, **record, "results": results}
    if problem is not None:
        record["problem"] = problem
    if status != "passed":
        record["stdout_tail"] = _tail(stdout)
        record["stderr_tail"] = _tail(stderr)
    return record


def headline(name: str, record: dict[str, Any]) -> str:
    """One line on a part's outcome, for the summary table."""
    if record["status"] == "skipped":
        return f"skipped: {record['skipped']}"
    results = record.get("results") or {}
    text: str = record.get("problem", "")
    with contextlib.suppress(Exception):
        if name == "kernels":
            cuda = results["cuda"]
            text = (
                f"{results['passed']} passed, {results['failed']} failed, "
                f"{results['errors']} errors, {results['skipped']} skipped "
                f"(CUDA: {cuda['passed']} passed, {cuda['skipped']} skipped) {text}"
            )
        elif "variants" in results:
            cells = []
            for key, value in results["variants"].items():
                if "step_s" in value:
                    cells.append(f"{key} {1e3 * value['step_s']:.1f} ms")
                elif "error" in value:
                    cells.append(f"{key} error")
            text = ", ".join(cells) + (f" {text}" if text else "")
        elif "images_per_s" in results:
            text = f"{results['images_per_s']['cnas']:.0f} images/s {text}"
        elif "saved_memory_reduction" in results:
            text = (
                f"saved activations {100 * results['saved_memory_reduction']:.1f}% less, "
                f"naive/fused step {results['speedup']:.2f}x {text}"
            )
    return text.strip()


# --- the run ---------------------------------------------------------------------------


def _dist_version(*names: str) -> str | None:
    """The installed version of the first of the distributions ``names`` found."""
    from importlib import metadata

    for name in names:
        with contextlib.suppress(metadata.PackageNotFoundError):
            return metadata.version(name)
    return None


def _command_output(argv: list[str]) -> str | None:
    """A short command's stripped standard output, ``None`` if it fails."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _cpu_name() -> str:
    """The CPU's model name (from ``/proc/cpuinfo`` on Linux)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or platform.machine()


def environment(dry_run: bool) -> dict[str, Any]:
    """The software and the device of this run."""
    import torch

    import cnas
    import cnas.kernels

    cuda = torch.cuda.is_available()
    env: dict[str, Any] = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),  # type: ignore[no-untyped-call]
        "triton": _dist_version("triton", "pytorch-triton"),
        "cnas": cnas.__version__,
        "kernels_backend_cuda": cnas.kernels.backend("cuda"),
        "git_commit": _command_output(["git", "-C", str(REPO), "rev-parse", "HEAD"]),
        "git_dirty": None,
        "device": "cpu" if dry_run or not cuda else "cuda",
        "device_name": _cpu_name(),
        "allow_tf32": {
            "cudnn": torch.backends.cudnn.allow_tf32,
            "matmul": torch.backends.cuda.matmul.allow_tf32,
        },
        "variables": {
            k: os.environ[k]
            for k in ("CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS", "TRITON_INTERPRET")
            if k in os.environ
        },
    }
    status = _command_output(["git", "-C", str(REPO), "status", "--porcelain"])
    if status is not None:
        env["git_dirty"] = bool(status)
    if cuda:
        props = torch.cuda.get_device_properties(0)
        env["cuda_devices"] = torch.cuda.device_count()
        env["cuda_device_name"] = torch.cuda.get_device_name(0)
        env["cuda_capability"] = f"{props.major}.{props.minor}"
        env["cuda_memory_gib"] = round(props.total_memory / 2**30, 1)
        if shutil.which("nvidia-smi"):
            query = ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"]
            driver = _command_output(query)
            env["nvidia_driver"] = driver.splitlines()[0] if driver else None
        if not dry_run:
            env["device_name"] = env["cuda_device_name"]
    return env


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: readers see the
    old file or the new one, never half of one."""
    path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # as open() would create it, not mkstemp's 0600
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@dataclass
class Run:
    """The state of one run: its parts, its records so far, where it writes them."""

    parts: list[Part]
    json_path: Path
    work: Path
    dry_run: bool
    budget_s: float
    doc: dict[str, Any] = field(default_factory=dict)

    def save(self) -> None:
        """Write the document as it stands (the parts finished so far)."""
        write_json_atomic(self.json_path, self.doc)

    def record(self, name: str, record: dict[str, Any]) -> None:
        """Store one part's record and write the document."""
        self.doc["parts"][name] = record
        self.save()


def _log(index: int, total: int, name: str, record: dict[str, Any]) -> None:
    """Print one part's outcome."""
    wall = f"{record['wall_s']:7.1f} s" if record.get("wall_s") is not None else " " * 9
    print(f"[{index:2d}/{total}] {name:20s} {record['status']:8s} {wall}  {headline(name, record)}")


def _record(part: Part, outcome: dict[str, Any]) -> dict[str, Any]:
    """A part's record: what it is and runs, then how it went."""
    return {"summary": part.summary, "command": shlex.join(part.argv), **outcome}


def _skip_reason(part: Part, selected: set[str]) -> str | None:
    """Why ``part`` does not run at all in this run, if it does not."""
    if part.name not in selected:
        return "not selected (--only)"
    return part.skipped


def run_parts(run: Run, selected: set[str]) -> dict[str, Any]:
    """Run the selected parts, each recorded as it ends; return the document.

    The document gets the environment first. On the GPU the parts then run in order, one
    at a time, each a process of its own; a part starts only with ``MIN_PART_S`` left in
    the budget, and its timeout is cut to what is left. In a dry run the parts that are
    not ``in_process`` start first, as subprocesses in the background, and the others
    run in this process meanwhile, one after another (timings mean nothing there).
    """
    start = time.perf_counter()
    deadline = start + run.budget_s
    env = _child_env(run.dry_run)
    logs = run.work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    total = len(run.parts)
    background: dict[str, Future[dict[str, Any]]] = {}
    with ThreadPoolExecutor(max_workers=2) as pool:
        if run.dry_run:
            for part in run.parts:
                if not part.in_process and _skip_reason(part, selected) is None:
                    background[part.name] = pool.submit(
                        run_subprocess, part, part.timeout_s, logs, env
                    )
        env_info = run.doc["environment"] = environment(run.dry_run)
        run.save()
        print(
            f"torch {env_info['torch']} (CUDA {env_info['cuda']}), triton {env_info['triton']}, "
            f"cnas {env_info['cnas']} at {str(env_info['git_commit'])[:12]}, on "
            f"{env_info['device_name']}; cnas kernels on CUDA: {env_info['kernels_backend_cuda']}"
        )
        for index, part in enumerate(run.parts, 1):
            reason = _skip_reason(part, selected)
            if part.name in background:
                continue
            if reason is not None:
                outcome: dict[str, Any] = {"status": "skipped", "skipped": reason}
            elif run.dry_run:
                outcome = run_in_process(part)
            elif deadline - time.perf_counter() < MIN_PART_S:
                spent = f"time budget spent ({run.budget_s:.0f} s, --budget)"
                outcome = {"status": "skipped", "skipped": spent}
            else:
                timeout = min(part.timeout_s, deadline - time.perf_counter())
                outcome = run_subprocess(part, timeout, logs, env)
            run.record(part.name, _record(part, outcome))
            _log(index, total, part.name, run.doc["parts"][part.name])
        for index, part in enumerate(run.parts, 1):
            if part.name in background:
                run.record(part.name, _record(part, background[part.name].result()))
                _log(index, total, part.name, run.doc["parts"][part.name])
    # the parts in their order, whatever order they finished in
    run.doc["parts"] = {p.name: run.doc["parts"][p.name] for p in run.parts}
    run.doc["wall_s"] = round(time.perf_counter() - start, 1)
    return run.doc


def cuda_available() -> bool:
    """Whether torch sees a CUDA device."""
    import torch

    return torch.cuda.is_available()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the parts and write the JSON; the exit status: 1 if a part failed, else 0."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", default="gpu-results.json", help="output (gpu-results.json)")
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes: test the run")
    parser.add_argument("--only", help="comma-separated parts to run (the others: skipped)")
    parser.add_argument("--list", action="store_true", help="print the parts and exit")
    parser.add_argument(
        "--budget",
        type=float,
        default=DEFAULT_BUDGET_S,
        help=f"seconds for all parts together (default {DEFAULT_BUDGET_S:.0f}); a part "
        "starts only with time left and may take no more than what is left",
    )
    parser.add_argument(
        "--work-dir", help="keep the parts' own files and logs here (default: a temporary dir)"
    )
    parser.add_argument("--worker", choices=WORKER_KINDS, help=argparse.SUPPRESS)
    add_worker_arguments(parser)
    args = parser.parse_args(argv)
    if args.worker:
        return worker_main(args)

    names = PART_NAMES
    selected = set(names)
    if args.only:
        selected = {n.strip() for n in args.only.split(",") if n.strip()}
        unknown = sorted(selected - set(names))
        if unknown:
            parser.error(f"unknown part(s) {', '.join(unknown)}; the parts: {', '.join(names)}")
    if args.list:
        for part in build_parts(args.dry_run, Path("$WORK")):
            note = f"  [skipped: {part.skipped}]" if part.skipped else ""
            print(f"{part.name:20s} {part.timeout_s:5.0f} s  {part.summary}{note}")
            print(f"{'':20s} {shlex.join(part.argv)}")
        return 0
    if args.dry_run:
        os.environ.setdefault("OMP_NUM_THREADS", "1")  # the dry run checks, it does not time
    elif not cuda_available():
        print("gpu.py: no CUDA device here; --dry-run checks the run on the CPU")
        return 2
    with contextlib.ExitStack() as stack:
        if args.work_dir:
            work = Path(args.work_dir).resolve()
            work.mkdir(parents=True, exist_ok=True)
        else:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cnas-gpu-")))
        run = Run(build_parts(args.dry_run, work), Path(args.json), work, args.dry_run, args.budget)
        run.doc = {
            "schema": SCHEMA,
            "dry_run": args.dry_run,
            "complete": False,
            "ok": None,
            "budget_s": args.budget,
            "environment": {},
            "parts": {},
        }
        run.save()
        doc = run_parts(run, selected)
    failed = [n for n, r in doc["parts"].items() if r["status"] in ("failed", "timeout")]
    doc["complete"] = True
    doc["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    doc["ok"] = not failed
    doc["failed"] = failed
    write_json_atomic(Path(args.json), doc)
    print(f"wrote {args.json}: " + (f"FAILED {', '.join(failed)}" if failed else "all parts ok"))
    return 1 if failed else 0


# --- the worker: supernet and mixed steps ----------------------------------------------


def add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    """The worker's options (hidden: the parts pass them)."""
    hidden = argparse.SUPPRESS
    parser.add_argument("--device", default="cuda", help=hidden)
    parser.add_argument("--dtypes", default="fp32,bf16", help=hidden)
    parser.add_argument("--modes", default="eager", help=hidden)
    parser.add_argument("--C", type=int, default=16, help=hidden)
    parser.add_argument("--layers", type=int, default=8, help=hidden)
    parser.add_argument("--batch-size", type=int, default=64, help=hidden)
    parser.add_argument("--image-size", type=int, default=32, help=hidden)
    parser.add_argument("--steps", type=int, default=10, help=hidden)
    parser.add_argument("--warmup", type=int, default=3, help=hidden)
    parser.add_argument("--archs", type=int, default=16, help=hidden)
    parser.add_argument("--backend", default="inductor", help=hidden)
    parser.add_argument("--out", help=hidden)


class StepBench:
    """One supernet training step (forward, backward, SGD) to time, in one dtype.

    ``kind`` ``"supernet"`` is the single-path step on sampled architectures (what the
    CNAS controller trains), ``"mixed"`` the DARTS-style step over every op of every edge
    with softmax-weighted architecture parameters (through the fused ``cnas`` kernels).
    With ``compiled``, the forward runs through ``torch.compile``.
    """

    def __init__(self, kind: str, args: argparse.Namespace, dtype: str, compiled: bool) -> None:
        """Build the supernet, its optimizer and one batch on ``args.device``."""
        import torch

        import cnas

        torch.manual_seed(0)
        self.kind = kind
        self.device = torch.device(args.device)
        self.dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype]
        space = cnas.SearchSpace(cnas.DARTS_OPS, n_nodes=4)
        self.ops = space.ops
        self.net = cnas.SuperNet(space, C=args.C, num_classes=10, layers=args.layers)
        self.net.to(self.device)
        self.opt = torch.optim.SGD(
            self.net.parameters(), lr=0.01, momentum=0.9, weight_decay=3e-4, nesterov=True
        )
        size = args.image_size
        self.x = torch.randn(args.batch_size, 3, size, size, device=self.device)
        self.x = self.x.contiguous(memory_format=torch.channels_last)  # as the Searcher's
        self.y = torch.randint(0, 10, (args.batch_size,), device=self.device)
        gen = torch.Generator().manual_seed(0)
        self.archs = [space.sample(gen) for _ in range(max(args.archs, 1))]
        self.arch = self.archs[0]
        self.alphas = [
            (1e-3 * torch.randn(14, len(self.ops))).to(self.device).requires_grad_()
            for _ in range(2)
        ]
        self.forward: Callable[..., torch.Tensor] = (
            self._forward_mixed if kind == "mixed" else self._forward_fixed
        )
        if compiled:
            self.forward = torch.compile(self.forward, backend=args.backend)

    def _forward_fixed(self, x: Any) -> Any:
        """Logits of the fixed architecture."""
        return self.net(x, self.arch)

    def _forward_mixed(self, x: Any, a_normal: Any, a_reduce: Any) -> Any:
        """Logits of the mixed supernet under the softmax of the architecture parameters."""
        import cnas

        weights = cnas.MixedWeights(a_normal.softmax(-1), a_reduce.softmax(-1), self.ops)
        return self.net(x, weights)

    def step(self, i: int | None = None) -> None:
        """One training step; ``i`` picks the ``i``-th sampled architecture (single path,
        eager), ``None`` the fixed one or the mixed step."""
        import torch
        import torch.nn.functional as F

        # No cast cache: every weight is used once a step, and casts inside a CUDA graph
        # must be recorded there, not served from a cache filled before the capture.
        with torch.autocast(
            self.device.type,
            dtype=self.dtype,
            enabled=self.dtype != torch.float32,
            cache_enabled=False,
        ):
            if i is not None:
                logits = self.net(self.x, self.archs[i % len(self.archs)])
            elif self.kind == "mixed":
                logits = self.forward(self.x, *self.alphas)
            else:
                logits = self.forward(self.x)
            loss = F.cross_entropy(logits, self.y)
        self.opt.zero_grad(set_to_none=True)
        for a in self.alphas:
            a.grad = None
        loss.backward()  # type: ignore[no-untyped-call]
        self.opt.step()

    def capture(self) -> Any:
        """The step captured as a CUDA graph, after warm-up steps on a side stream (what
        capture needs: allocator, cuBLAS and autograd set up, optimizer state created)."""
        import torch

        stream = torch.cuda.Stream()  # type: ignore[no-untyped-call]
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(3):
                self.step()
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self.step()
        torch.cuda.synchronize()
        return graph

    def measure(self, mode: str, steps: int, warmup: int) -> dict[str, Any]:
        """Time ``mode``: the first call alone (compilation, capture), ``warmup`` more
        untimed, then the median of ``steps`` calls; on CUDA also the peak memory."""
        import torch

        cuda = self.device.type == "cuda"
        sync: Callable[[], None] = torch.cuda.synchronize if cuda else (lambda: None)
        if cuda:
            sync()
            torch.cuda.reset_peak_memory_stats(self.device)
        graph = None
        start = time.perf_counter()
        if mode.endswith("graph"):
            graph = self.capture()

        def call(i: int) -> None:
            """Step ``i`` of ``mode``."""
            if graph is not None:
                graph.replay()
            else:
                self.step(i if mode == "sampled" else None)

        call(0)
        sync()
        first = time.perf_counter() - start
        for i in range(warmup):
            call(1 + i)
        sync()
        times = []
        for i in range(max(steps, 1)):
            begin = time.perf_counter()
            call(1 + warmup + i)
            sync()
            times.append(time.perf_counter() - begin)
        median = statistics.median(times)
        result: dict[str, Any] = {
            "step_s": median,
            "step_s_min": min(times),
            "images_per_s": self.x.shape[0] / median,
            "first_call_s": first,
            "steps": steps,
            "warmup": warmup,
        }
        if cuda:
            result["peak_allocated_mib"] = torch.cuda.max_memory_allocated(self.device) / 2**20
        return result


MODE_NOTES = {
    "sampled": "eager, a new sampled architecture every step, as a search runs; "
    "compile and CUDA graphs do not apply (each architecture is another graph)",
    "eager": "eager, one fixed architecture (single path) or the mixed step",
    "graph": "the whole step (forward, backward, SGD) captured once with "
    "torch.cuda.graph and replayed",
    "compiled": "forward through torch.compile (backward through AOTAutograd), SGD eager",
    "compiled-graph": "the compiled step captured with torch.cuda.graph and replayed",
}


def worker_main(args: argparse.Namespace) -> int:
    """Time the requested dtypes and modes of one step; write the results after each."""
    import torch

    import cnas
    import cnas.kernels

    dtypes = [d for d in args.dtypes.split(",") if d]
    modes = [m for m in args.modes.split(",") if m]
    bad = sorted(set(modes) - set(WORKER_MODES)) + sorted(set(dtypes) - {"fp32", "bf16"})
    if bad:
        raise SystemExit(f"unknown modes or dtypes: {', '.join(bad)}")
    if args.worker == "mixed" and "sampled" in modes:
        raise SystemExit("mode 'sampled' is the single-path supernet's")
    device = torch.device(args.device)
    results: dict[str, Any] = {
        "config": {
            "kind": args.worker,
            "device": str(device),
            "C": args.C,
            "layers": args.layers,
            "batch_size": args.batch_size,
            "image_size": args.image_size,
            "ops": list(cnas.DARTS_OPS),
            "n_nodes": 4,
            "channels_last": True,
            "sampled_archs": args.archs if "sampled" in modes else None,
            "compile_backend": args.backend if any("compiled" in m for m in modes) else None,
            "kernels": cnas.kernels.backend(device),
            "torch": torch.__version__,
        },
        "modes": {m: MODE_NOTES[m] for m in modes},
        "variants": {},
    }
    failed = False
    for dtype in dtypes:
        benches: dict[bool, StepBench] = {}
        for mode in modes:
            key = f"{dtype}-{mode}"
            if mode.endswith("graph") and device.type != "cuda":
                results["variants"][key] = {"skipped": "CUDA graphs need a CUDA device"}
                continue
            try:
                compiled = mode.startswith("compiled")
                if compiled not in benches:
                    benches[compiled] = StepBench(args.worker, args, dtype, compiled)
                value = benches[compiled].measure(mode, args.steps, args.warmup)
                results["variants"][key] = value
                print(f"{key:22s} {1e3 * value['step_s']:9.2f} ms", flush=True)
            except Exception as exc:
                failed = True
                results["variants"][key] = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
                traceback.print_exc()
            if args.out:
                write_json_atomic(Path(args.out), results)
        benches.clear()
        if device.type == "cuda":
            torch.cuda.empty_cache()
    if args.out:
        write_json_atomic(Path(args.out), results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
