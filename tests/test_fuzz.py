"""Fuzzing every parser that reads a user's file (issue 13): each may raise only its
documented error types, within a time bound per case (hypothesis' deadline) and a memory
bound per parser (the growth of the process's peak resident memory).

Cases are derived deterministically (``derandomize=True``): the same cases every run, a
few thousand in all. Inputs are both arbitrary (random text, bytes, JSON values) and
valid files with a few parts replaced by random values, which reach deeper code.
"""

from __future__ import annotations

import contextlib
import json
import math
import resource
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings  # in the test extra
from hypothesis import strategies as st

import cnas
from cnas._run import (
    load_checkpoint,
    save_checkpoint,
    seal_checkpoint,
    verify_checkpoint,
)
from cnas._schema import digest
from cnas.errors import CheckpointError, GenotypeError, WeightsFormatError
from cnas.models import read_state_dict
from cnas.models._config import network_from_config

SCRIPTS = Path(__file__).with_name("scripts")
sys.path.insert(0, str(SCRIPTS))
from checkpoint_states import minimal_state  # noqa: E402

MEMORY_BOUND_MB = 400  # growth of the peak resident memory over one parser's cases


def fuzz(examples: int, deadline_ms: int = 2000) -> Callable[[Any], Any]:
    """Hypothesis settings for one parser: deterministic, no example database."""
    return settings(
        max_examples=examples,
        deadline=deadline_ms,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@contextlib.contextmanager
def memory_bound() -> Iterator[None]:
    """Fail if the process's peak resident memory grows by more than the bound."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    yield
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown < MEMORY_BOUND_MB, f"peak memory grew by {grown:.0f} MB"


# -- values -----------------------------------------------------------------------------------

HUGE_MARK = "\x00huge-integer\x00"
"""A JSON value that ``dumps`` writes as an integer of 5,000 digits: past Python's limit
for ``int("...")`` (4,300 digits), which ``json.loads`` raises a plain ValueError for."""

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.just(HUGE_MARK)
    | st.sampled_from([10**400, -(10**400)])  # ints no float can hold
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=25,
)


def dumps(value: Any) -> str:
    """``json.dumps``, with each ``HUGE_MARK`` written as a 5,000-digit integer."""
    return json.dumps(value).replace(json.dumps(HUGE_MARK), "9" * 5000)


def _children(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return list(value)
    if isinstance(value, list):
        return list(range(len(value)))
    return []


def mutated(base: Any, data: st.DataObject, mutations: int = 3) -> Any:
    """``base`` (JSON-like) with up to ``mutations`` random edits: a part replaced by a
    random value, a key or an item removed, an item duplicated."""
    value = json.loads(json.dumps(base))
    for _ in range(data.draw(st.integers(0, mutations))):
        parent, key = None, None
        node = value
        while _children(node) and data.draw(st.booleans()):
            key = data.draw(st.sampled_from(_children(node)))
            parent, node = node, node[key]
        if parent is None:
            value = data.draw(JSON_VALUES)
            continue
        action = data.draw(st.sampled_from(["replace", "delete", "duplicate"]))
        if action == "replace":
            parent[key] = data.draw(JSON_VALUES)
        elif action == "delete":
            del parent[key]
        elif isinstance(parent, list):
            parent.insert(key, node)
        else:
            parent[f"{key}_"] = node
    return value


# -- genotype JSON, in every layout it is read in ----------------------------------------------

CNAS = cnas.genotypes.CNAS
GENOTYPE_LAYOUTS = {
    "cnas": CNAS.to_dict(),
    "original": json.loads(CNAS.to_json(style="original")),
    "arch record": {"arch": CNAS.to_json(style="original"), "derived_acc": 0.5, "normal_logp": -3},
    "darts object": {
        "normal": [list(p) for p in CNAS.normal],
        "normal_concat": list(CNAS.normal_concat),
        "reduce": [list(p) for p in CNAS.reduce],
        "reduce_concat": list(CNAS.reduce_concat),
    },
    "train config": {"network": "NetworkCIFAR", "genotype": CNAS.to_dict()},
}


@pytest.mark.parametrize("layout", list(GENOTYPE_LAYOUTS))
def test_genotype_json_in_every_layout_raises_only_genotype_errors(layout: str) -> None:
    @fuzz(250)
    @given(st.data())
    def run(data: st.DataObject) -> None:
        text = dumps(mutated(GENOTYPE_LAYOUTS[layout], data))
        try:
            genotype = cnas.Genotype.from_json(text)
        except GenotypeError:
            return
        assert cnas.Genotype.from_json(genotype.to_json()) == genotype  # what loads is whole

    with memory_bound():
        run()


@fuzz(300)
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200), JSON_VALUES.map(dumps)))
def test_arbitrary_text_as_a_genotype_raises_only_genotype_errors(text: str | bytes) -> None:
    with contextlib.suppress(GenotypeError):
        cnas.Genotype.from_json(text)


# -- DARTS strings --------------------------------------------------------------------------------

DARTS_TOKENS = [
    "Genotype(",
    ")",
    "normal=",
    "reduce=",
    "normal_concat=",
    "reduce_concat=",
    "[",
    "]",
    "(",
    ", ",
    "'sep_conv_3x3'",
    "'skip_connect'",
    "'none'",
    "0",
    "1",
    "2",
    "-1",
    "6454128603",
    "10**9",
    "range(",
    "range(2, 6)",
    "range(0, 10, 0)",
    "range(6454128603)",
    "lambda: 0",
    "__import__('os')",
    "1e308",
    "'",
    '"',
    "\\",
]


@fuzz(800)
@given(
    st.one_of(
        st.lists(st.sampled_from(DARTS_TOKENS), max_size=40).map("".join), st.text(max_size=100)
    )
)
def test_darts_strings_raise_only_genotype_errors(text: str) -> None:
    with contextlib.suppress(GenotypeError):
        cnas.Genotype.from_darts(text)


@fuzz(200)
@given(st.data())
def test_mutated_darts_genotypes_raise_only_genotype_errors(data: st.DataObject) -> None:
    text = repr(CNAS.to_darts())
    cut = data.draw(st.integers(0, len(text)))
    insert = data.draw(st.sampled_from(DARTS_TOKENS))
    with contextlib.suppress(GenotypeError):
        cnas.Genotype.from_darts(text[:cut] + insert + text[cut + data.draw(st.integers(0, 5)) :])


# -- curriculum JSON -----------------------------------------------------------------------------

SPACE = cnas.SearchSpace(["sep_conv_3x3", "max_pool_3x3", "skip_connect", "none"], 3)
SCHEDULE = cnas.CurriculumSchedule.grow_ops(SPACE, warmup_epochs=1, epochs_per_stage=2).to_dict()


@fuzz(400)
@given(st.data())
def test_curriculum_json_raises_only_value_errors(data: st.DataObject) -> None:
    text = dumps(mutated(SCHEDULE, data))
    try:
        schedule = cnas.CurriculumSchedule.from_json(text)
        schedule.validate(SPACE)
    except ValueError:
        return


# -- study plans ---------------------------------------------------------------------------------

PLAN = cnas.study.StudyPlan.preset("smoke").to_dict()


@fuzz(400)
@given(st.data())
def test_study_plans_raise_only_study_plan_errors(data: st.DataObject) -> None:
    value = mutated(PLAN, data)
    try:
        plan = cnas.study.StudyPlan.from_dict(value)
    except cnas.study.StudyPlanError:
        return
    # a plan that is accepted expands into runs whose configurations are valid
    from cnas.study._runs import run_config

    runs = cnas.study.Study(plan, "unused").runs
    assert runs and all(run_config(plan, r).to_dict() for r in runs)


def test_study_plan_files_raise_only_study_plan_errors(tmp_path: Path) -> None:
    """The same through the file reader, with huge integers written as text."""
    path = tmp_path / "plan.json"

    @fuzz(200)
    @given(st.data())
    def run(data: st.DataObject) -> None:
        path.write_text(dumps(mutated(PLAN, data)))
        with contextlib.suppress(cnas.study.StudyPlanError):
            cnas.study.StudyPlan.from_file(path)

    run()


# -- a study's outputs, read by its report ---------------------------------------------------

STUDY_OUTPUTS = {
    "test.json": {"top1": 0.5, "top5": 0.9, "images": 10, "params": 100, "madds": 1000},
    "result.json": {"val_accuracy": 0.4, "index": 0},
    "scores.json": {"scores": [{"genotype": "random/r00.json", "val_accuracy": 0.3}]},
}


@pytest.mark.parametrize("name", list(STUDY_OUTPUTS))
def test_study_outputs_raise_only_damaged_output_errors(name: str, tmp_path: Path) -> None:
    """Each file a study's report reads is either refused (naming it) or gives the
    numbers the report uses: finite shares and counts."""
    from cnas.study._outputs import (
        RESULT_SCHEMA,
        SCORES_SCHEMA,
        TEST_SCHEMA,
        DamagedOutputError,
        read_json,
    )

    schema = {"test.json": TEST_SCHEMA, "result.json": RESULT_SCHEMA, "scores.json": SCORES_SCHEMA}
    path = tmp_path / name

    @fuzz(200)
    @given(st.data())
    def run(data: st.DataObject) -> None:
        path.write_text(dumps(mutated(STUDY_OUTPUTS[name], data)))
        try:
            value = read_json(path, schema[name])
        except DamagedOutputError as exc:
            named = str(path) in str(exc)
            assert named
            return
        shares = [value[k] for k in ("top1", "top5", "val_accuracy") if k in value]
        shares += [s["val_accuracy"] for s in value.get("scores", [])]
        assert all(0.0 <= float(v) <= 1.0 for v in shares)

    run()


def test_study_metrics_lines_raise_only_damaged_output_errors(tmp_path: Path) -> None:
    from cnas.study._outputs import DamagedOutputError, search_summary

    folder = tmp_path / "search"
    (folder / "stages" / "stage-1").mkdir(parents=True)
    (folder / "stages" / "stage-1" / "result.json").write_text('{"val_accuracy": 0.5}')
    line = {"phase": "warmup", "images": 64, "time_s": 0.5, "loss": 2.3}

    @fuzz(200)
    @given(st.data())
    def run(data: st.DataObject) -> None:
        lines = [dumps(mutated(line, data, mutations=2)) for _ in range(2)]
        (folder / "metrics.jsonl").write_text("\n".join(lines) + "\n")
        try:
            summary = search_summary(folder, 1)
        except DamagedOutputError as exc:
            named = "metrics.jsonl" in str(exc)
            assert named
            return
        assert summary is not None
        assert summary["supernet_images"] >= 0 and math.isfinite(summary["epochs_s"])

    run()


# -- a network's config.json ---------------------------------------------------------------------

CONFIG = {
    "network": "NetworkCIFAR",
    "genotype": CNAS.to_dict(),
    "init_channels": 4,
    "num_classes": 10,
    "layers": 3,
    "auxiliary": False,
    "in_channels": 3,
}
# small sizes are built; sizes that cannot fit (a quadratic C, a linear class or channel
# count beyond 10**10, more than 200 cells) must be refused before memory is spent
ODD = st.sampled_from(["4", 4.5, None, [], True])
SIZES = {
    "init_channels": st.integers(-3, 8) | st.integers(10**7, 10**13) | ODD,
    "layers": st.integers(-3, 8) | st.integers(201, 10**9) | ODD,
    "num_classes": st.integers(-3, 12) | st.integers(10**10, 10**14) | ODD,
    "in_channels": st.integers(-3, 4) | st.integers(10**10, 10**14) | ODD,
}


def test_network_config_json_raises_only_weights_format_errors() -> None:
    @fuzz(150, deadline_ms=10_000)
    @given(st.data())
    def run(data: st.DataObject) -> None:
        config = mutated(CONFIG, data, mutations=2)
        if not isinstance(config, dict):
            return
        for key, sizes in SIZES.items():
            if key in config and data.draw(st.booleans()):
                config[key] = data.draw(sizes)
        with contextlib.suppress(WeightsFormatError):
            network_from_config(config)

    with memory_bound():
        run()


def test_network_config_files_raise_only_weights_format_errors(tmp_path: Path) -> None:
    """``config.json`` as a file, huge integers included, through ``read_config``."""
    from cnas.models._config import read_config

    path = tmp_path / "config.json"

    @fuzz(150, deadline_ms=10_000)
    @given(st.data())
    def run(data: st.DataObject) -> None:
        path.write_text(dumps(mutated(CONFIG, data, mutations=2)))
        with contextlib.suppress(WeightsFormatError):
            network_from_config(read_config(path, str(path)))

    with memory_bound():
        run()


# -- checkpoints ----------------------------------------------------------------------------------


def _tensor_like(value: Any) -> Any:
    """Some random values become tensors, as checkpoints hold them."""
    if isinstance(value, list) and value and all(isinstance(v, bool) for v in value):
        return torch.tensor(value, dtype=torch.uint8)
    return value


def _edit_somewhere(state: dict[str, Any], data: st.DataObject, skip: set[str]) -> dict[str, Any]:
    """``state`` with one part, at a random depth, replaced by a random value (the
    containers on the way copied, the rest shared); the top-level keys in ``skip`` are
    left alone."""
    keys = sorted(k for k in state if k not in skip)
    key = data.draw(st.sampled_from(keys))
    copy = dict(state)
    parent: Any = copy
    while True:
        node = parent[key]
        children = _children(node) if isinstance(node, (dict, list)) else []
        if not children or not data.draw(st.booleans()):
            parent[key] = _tensor_like(data.draw(JSON_VALUES))
            return copy
        node = dict(node) if isinstance(node, dict) else list(node)
        parent[key] = node
        parent = node
        key = data.draw(st.sampled_from(sorted(children, key=repr)))


@pytest.fixture(scope="module")
def tiny_trainer() -> Any:
    from cnas.training import TrainConfig, Trainer

    config = TrainConfig.preset("synthetic", init_channels=4, layers=3, epochs=1, batch_size=8)
    model = cnas.NetworkCIFAR(4, 4, 3, False, "DARTS_V2")
    return Trainer(
        model, config.replace(runtime={"device": "cpu", "progress": False}), Path("unused")
    )


def test_training_checkpoint_structures_raise_only_checkpoint_errors(
    tiny_trainer: Any, tmp_path: Path
) -> None:
    real = {**minimal_state("training"), **tiny_trainer._state()}
    tensors = {"model"}  # (a state dict of another shape is tried by the integrity tests)

    @fuzz(150, deadline_ms=10_000)
    @given(st.data())
    def run(data: st.DataObject) -> None:
        checked = seal_checkpoint(
            _edit_somewhere(real, data, skip=tensors), "training", check=False
        )
        try:
            verify_checkpoint(checked, tmp_path / "last.pt", "training")
            tiny_trainer._load(checked, tmp_path / "last.pt")
        except CheckpointError:
            return

    with memory_bound():
        run()


def test_search_checkpoint_structures_raise_only_checkpoint_errors(tmp_path: Path) -> None:
    from tiny_search import build

    from cnas.search._checkpoint import checkpoint, restore

    searcher, _, _ = build(str(tmp_path / "run"))
    real = checkpoint(
        searcher._identity(),
        searcher._settings(),
        searcher.loop,
        searcher.engine,
        searcher.strategy,
        searcher.callbacks,
    )

    @fuzz(150, deadline_ms=10_000)
    @given(st.data())
    def run(data: st.DataObject) -> None:
        checked = seal_checkpoint(
            _edit_somewhere(real, data, skip={"supernet"}), "search", check=False
        )
        fresh, _, _ = build(str(tmp_path / "run"))
        try:
            verify_checkpoint(checked, tmp_path / "checkpoint.pt", "search")
            restore(
                checked,
                tmp_path / "checkpoint.pt",
                identity=fresh._identity(),
                settings=fresh._settings(),
                space=fresh.supernet.space,
                engine=fresh.engine,
                strategy=fresh.strategy,
                callbacks=fresh.callbacks,
            )
        except CheckpointError:
            return

    with memory_bound():
        run()


def test_damaged_checkpoint_files_are_refused_or_whole(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, minimal_state("search"), "search")
    original = path.read_bytes()
    expected = digest(load_checkpoint(path, "search"))

    @fuzz(300)
    @given(st.integers(0, len(original) - 1), st.binary(min_size=1, max_size=64))
    def run(offset: int, patch: bytes) -> None:
        damaged = tmp_path / "damaged.pt"
        damaged.write_bytes(original[:offset] + patch + original[offset + len(patch) :])
        try:
            state = load_checkpoint(damaged, "search")
        except CheckpointError:
            return
        assert digest(state) == expected  # only bytes that hold no content were hit

    with memory_bound():
        run()


def test_arbitrary_bytes_as_weights_raise_only_weights_format_errors(tmp_path: Path) -> None:
    @fuzz(200)
    @given(st.binary(max_size=300), st.sampled_from([".pt", ".pth", ".safetensors"]))
    def run(data: bytes, suffix: str) -> None:
        path = tmp_path / f"w{suffix}"
        path.write_bytes(data)
        with contextlib.suppress(WeightsFormatError):
            read_state_dict(path)

    with memory_bound():
        run()


def test_the_fuzz_cases_are_the_same_every_run() -> None:
    """``derandomize`` draws the same cases every run: what CI runs is what ran here."""
    seen: list[list[str]] = [[], []]
    for cases in seen:

        @fuzz(20)
        @given(st.text(max_size=10))
        def collect(text: str) -> None:
            cases.append(text)  # noqa: B023 - each pass collects into its own list

        collect()
    assert seen[0] == seen[1] and len(seen[0]) == 20
