"""``benchmarks/gpu.py``, the GPU run: its dry run on the CPU, and how it records parts
that fail, hang, or find no time left."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "gpu.py"
ENVIRONMENT = {"date", "torch", "cuda", "triton", "cnas", "git_commit", "device", "device_name"}


@pytest.fixture(scope="module")
def gpu() -> Iterator[ModuleType]:
    """The script, imported as a module (registered first: dataclasses look it up)."""
    spec = importlib.util.spec_from_file_location("cnas_benchmarks_gpu", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def _python(code: str) -> list[str]:
    """A command that runs ``code`` in a fresh interpreter (without torch: fast)."""
    return [sys.executable, "-c", code]


def test_the_dry_run_runs_every_part_on_the_cpu_and_writes_one_json(
    gpu: ModuleType, tmp_path: Path
) -> None:
    out = tmp_path / "results" / "dry.json"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--dry-run", "--json", str(out)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    doc = json.loads(out.read_text())
    assert doc["dry_run"] is True
    assert doc["complete"] is True
    assert doc["ok"] is True
    assert doc["failed"] == []
    assert doc["environment"].keys() >= ENVIRONMENT
    assert doc["environment"]["device"] == "cpu"
    assert list(doc["parts"]) == list(gpu.PART_NAMES)
    ran = set()
    for name, part in doc["parts"].items():
        assert part["status"] in ("passed", "skipped"), (name, part)
        assert part["command"] and part["summary"], name
        if part["status"] == "skipped":
            assert part["skipped"], name
            continue
        ran.add(name)
        assert part["rc"] == 0, (name, part)
        assert part["wall_s"] >= 0
        assert isinstance(part["results"], dict), name
        assert "stderr_tail" not in part, name
    # what needs CUDA or compiles for minutes is skipped on the CPU; everything else runs
    assert ran == {"kernels", "supernet", "mixed", "mixed-memory-fp32", "mixed-memory-bf16"} | {
        "train-fp32"
    }
    parts = doc["parts"]
    kernels = parts["kernels"]["results"]
    assert kernels["passed"] >= 1
    assert kernels["failed"] == kernels["errors"] == 0
    for name, keys in (
        ("supernet", ("fp32-sampled", "fp32-eager", "bf16-sampled", "bf16-eager")),
        ("mixed", ("fp32-eager", "bf16-eager")),
    ):
        variants = parts[name]["results"]["variants"]
        for key in keys:
            assert variants[key]["step_s"] > 0, (name, key)
        assert "skipped" in variants["fp32-graph"], name  # CUDA graphs need CUDA
    assert parts["train-fp32"]["results"]["images_per_s"]["cnas"] > 0
    for dtype in ("fp32", "bf16"):
        memory = parts[f"mixed-memory-{dtype}"]["results"]
        assert memory["config"]["dtype"] == dtype
        assert memory["fused"]["saved_bytes"] > 0


def _fake_parts(gpu: ModuleType, tmp_path: Path) -> list[Any]:
    """Parts that pass, fail after writing results, hang, and are skipped."""
    partial = tmp_path / "partial.json"
    write = f"import json, sys; open({str(partial)!r}, 'w').write(json.dumps({{'done': 1}}))"
    return [
        gpu.Part("ok", "exits 0", _python("print('fine')"), 60),
        gpu.Part(
            "broken",
            "writes its results, then fails",
            _python(f"{write}; sys.exit('broken on purpose')"),
            60,
            result_file=partial,
            parse=gpu.read_json,
        ),
        gpu.Part(
            "hung",
            "waits for a pipe nobody writes to",
            _python("import os; r, w = os.pipe(); os.read(r, 1)"),
            0.5,
        ),
        gpu.Part("off", "never runs", _python("raise SystemExit(9)"), 60, skipped="not today"),
    ]


@pytest.mark.parametrize("dry_run", [False, True], ids=["gpu-run", "dry-run"])
def test_failed_and_hung_parts_are_recorded_and_fail_the_run(
    gpu: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dry_run: bool
) -> None:
    parts = _fake_parts(gpu, tmp_path)
    monkeypatch.setattr(gpu, "build_parts", lambda dry_run, work: parts)
    monkeypatch.setattr(gpu, "PART_NAMES", tuple(p.name for p in parts))
    monkeypatch.setattr(gpu, "cuda_available", lambda: True)  # as on the GPU machine
    out = tmp_path / "run.json"
    argv = ["--json", str(out), *(["--dry-run"] if dry_run else [])]
    assert gpu.main(argv) == 1
    doc = json.loads(out.read_text())
    assert doc["complete"] is True
    assert doc["ok"] is False
    assert doc["failed"] == ["broken", "hung"]
    ok, broken, hung, off = (doc["parts"][p.name] for p in parts)
    assert ok["status"] == "passed"
    assert ok["rc"] == 0
    assert "stderr_tail" not in ok
    assert broken["status"] == "failed"
    assert broken["rc"] == 1
    assert broken["results"] == {"done": 1}  # what a failed part wrote is kept
    assert "broken on purpose" in broken["stderr_tail"]
    assert hung["status"] == "timeout"
    assert hung["rc"] is None
    assert hung["problem"] == "killed after 0.5 s"
    assert off == {
        "summary": "never runs",
        "command": off["command"],
        "status": "skipped",
        "skipped": "not today",
    }


def test_parts_left_without_budget_are_skipped_not_failed(
    gpu: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parts = _fake_parts(gpu, tmp_path)[:2]
    monkeypatch.setattr(gpu, "build_parts", lambda dry_run, work: parts)
    monkeypatch.setattr(gpu, "PART_NAMES", tuple(p.name for p in parts))
    monkeypatch.setattr(gpu, "cuda_available", lambda: True)
    out = tmp_path / "run.json"
    assert gpu.main(["--json", str(out), "--budget", "1"]) == 0
    doc = json.loads(out.read_text())
    for part in doc["parts"].values():
        assert part["status"] == "skipped"
        assert part["skipped"].startswith("time budget spent")


def test_only_and_list(
    gpu: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    assert gpu.main(["--list"]) == 0
    listed = capsys.readouterr().out
    for name in gpu.PART_NAMES:
        assert f"\n{name} " in f"\n{listed}"
    assert "--device cuda" in listed
    with pytest.raises(SystemExit) as exc:
        gpu.main(["--only", "kernels,no-such-part"])
    assert exc.value.code == 2
    assert "unknown part(s) no-such-part" in capsys.readouterr().err

    parts = _fake_parts(gpu, tmp_path)
    monkeypatch.setattr(gpu, "build_parts", lambda dry_run, work: parts)
    monkeypatch.setattr(gpu, "PART_NAMES", tuple(p.name for p in parts))
    out = tmp_path / "only.json"
    assert gpu.main(["--dry-run", "--only", "ok", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["parts"]["ok"]["status"] == "passed"
    assert doc["parts"]["broken"]["skipped"] == "not selected (--only)"


def test_without_cuda_the_gpu_run_refuses_to_start(
    gpu: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gpu, "cuda_available", lambda: False)
    out = tmp_path / "none.json"
    assert gpu.main(["--json", str(out)]) == 2
    assert not out.exists()
