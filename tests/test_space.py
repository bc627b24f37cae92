"""SearchSpace and CurriculumSchedule."""

from __future__ import annotations

import json

import pytest
import torch

import cnas
from cnas import CurriculumSchedule, SearchSpace, Stage


def test_default_space_is_the_darts_space() -> None:
    space = SearchSpace()
    assert space.ops == cnas.DARTS_OPS
    assert (space.n_ops, space.n_nodes) == (8, 4)


def test_size_counts_distinct_cell_pairs() -> None:
    # one op, one node: node 2 picks two inputs out of {0, 1}, unordered: 3 cells
    assert SearchSpace(["sep_conv_3x3"], 1).cell_size() == 3
    assert SearchSpace(["sep_conv_3x3"], 1).size() == 9
    # two ops, one node: m = 4 choices per edge, 4 * 5 / 2 = 10 cells
    assert SearchSpace(["sep_conv_3x3", "skip_connect"], 1).cell_size() == 10
    full = SearchSpace()
    assert full.size() == full.cell_size() ** 2
    assert full.log10_size() == pytest.approx(20.49, abs=0.01)


def test_the_space_explodes_as_ops_are_added() -> None:
    space = SearchSpace()
    sizes = [space.restrict(n_ops=k).size() for k in range(1, 9)]
    assert sizes == sorted(sizes)
    assert sizes[-1] / sizes[0] > 1e13


def test_restrict_takes_the_first_ops_and_nodes() -> None:
    sub = SearchSpace().restrict(n_ops=3, n_nodes=2)
    assert sub.ops == cnas.DARTS_OPS[:3]
    assert sub.n_nodes == 2
    with pytest.raises(ValueError, match="n_ops must be in 1..8, got 9"):
        SearchSpace().restrict(n_ops=9)
    with pytest.raises(ValueError, match="n_nodes must be in 1..4, got 0"):
        SearchSpace().restrict(n_nodes=0)


def test_sample_is_uniform_within_the_space_and_reproducible() -> None:
    space = SearchSpace().restrict(n_ops=3)
    samples = [space.sample(torch.Generator().manual_seed(i)) for i in range(200)]
    assert all(g in space for g in samples)
    assert space.sample(torch.Generator().manual_seed(7)) == samples[7]
    ops = [e.op for g in samples for e in g.normal]
    for op in space.ops:
        assert ops.count(op) == pytest.approx(len(ops) / 3, rel=0.15)
    sources_of_node_5 = [e.src for g in samples for e in g.normal if e.dst == 5]
    assert set(sources_of_node_5) == {0, 1, 2, 3, 4}


def test_membership() -> None:
    space = SearchSpace()
    assert cnas.genotypes.CNAS in space
    assert cnas.genotypes.CNAS not in space.restrict(n_ops=1)
    assert cnas.genotypes.NASNet not in space  # five nodes, sep_conv_7x7
    assert "CNAS" not in space


@pytest.mark.parametrize(
    ("ops", "n_nodes", "message"),
    [
        (["sep_conv_3x3", "sep3x3"], 4, "unknown op 'sep3x3'"),
        (["sep_conv_3x3", "sep_conv_3x3"], 4, "listed twice"),
        ([], 4, "at least one op"),
        ("sep_conv_3x3", 4, "got the string"),
        (["sep_conv_3x3"], 0, "n_nodes must be a positive integer"),
    ],
)
def test_invalid_spaces_are_refused(ops: object, n_nodes: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SearchSpace(ops, n_nodes)  # type: ignore[arg-type]


def test_grow_ops_matches_the_original_op_order() -> None:
    schedule = CurriculumSchedule.grow_ops(SearchSpace(), warmup_epochs=20, epochs_per_stage=40)
    rest = list(cnas.DARTS_OPS[1:])
    perm = torch.randperm(7, generator=torch.Generator().manual_seed(2020)).tolist()
    assert schedule.op_order == ("sep_conv_3x3", *(rest[i] for i in perm))
    assert [s.n_ops for s in schedule.stages] == list(range(1, 9))
    assert all((s.n_nodes, s.warmup_epochs, s.epochs) == (4, 20, 40) for s in schedule.stages)
    assert schedule.total_epochs == 8 * (20 + 2 * 40)
    other = CurriculumSchedule.grow_ops(SearchSpace(), seed=1)
    assert other.op_order[0] == "sep_conv_3x3"
    assert other.op_order != schedule.op_order


def test_grow_nodes_and_fixed() -> None:
    space = SearchSpace()
    nodes = CurriculumSchedule.grow_nodes(space, 1, 2)
    assert [(s.n_ops, s.n_nodes) for s in nodes.stages] == [(8, 1), (8, 2), (8, 3), (8, 4)]
    fixed = CurriculumSchedule.fixed(space, 1, 2)
    assert fixed.stages == (Stage(8, 4, 1, 2),)


def test_stage_space_follows_the_op_order() -> None:
    space = SearchSpace()
    schedule = CurriculumSchedule.grow_ops(space)
    assert schedule.stage_space(space, 2).ops == schedule.op_order[:3]


def test_user_composed_schedule_round_trips_through_json() -> None:
    schedule = CurriculumSchedule(
        [Stage(2, 2, 1, 1), Stage(4, 3, 0, 2), Stage(8, 4, 2, 3)],
        op_order=list(reversed(cnas.DARTS_OPS)),
    )
    schedule.validate(SearchSpace())
    data = json.loads(schedule.to_json())
    assert data["stages"][1] == {"n_ops": 4, "n_nodes": 3, "warmup_epochs": 0, "epochs": 2}
    assert CurriculumSchedule.from_json(schedule.to_json()) == schedule


@pytest.mark.parametrize(
    ("stages", "op_order", "message"),
    [
        ([], None, "at least one stage"),
        ([Stage(3, 4), Stage(2, 4)], None, "stage 1 shrinks the space"),
        ([Stage(3, 4), Stage(3, 3)], None, "stage 1 shrinks the space"),
        ([Stage(3, 4)], ["sep_conv_3x3", "sep_conv_3x3", "none"], "lists an op twice"),
        ([Stage(3, 4)], ["sep_conv_3x3"], "a stage allows 3 ops but op_order has only 1"),
    ],
)
def test_invalid_schedules_are_refused(stages: list[Stage], op_order: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CurriculumSchedule(stages, op_order)  # type: ignore[arg-type]


def test_schedule_must_fit_the_space() -> None:
    with pytest.raises(ValueError, match="does not fit the space"):
        CurriculumSchedule([Stage(9, 4)]).validate(SearchSpace())
    order = [o for o in cnas.DARTS_OPS if o != "none"] + ["conv_3x3"]
    schedule = CurriculumSchedule([Stage(2, 4)], order)
    with pytest.raises(ValueError, match=r"permutation of the space's ops; missing \['none'\]"):
        schedule.validate(SearchSpace())


@pytest.mark.parametrize(
    ("field", "value"), [("n_ops", 0), ("n_nodes", -1), ("warmup_epochs", -1), ("epochs", 1.5)]
)
def test_stage_fields_are_validated(field: str, value: object) -> None:
    kwargs: dict[str, object] = {"n_ops": 1, "n_nodes": 1, "warmup_epochs": 0, "epochs": 0}
    kwargs[field] = value
    with pytest.raises(ValueError, match=field):
        Stage(**kwargs)  # type: ignore[arg-type]


def test_from_json_rejects_foreign_input() -> None:
    with pytest.raises(ValueError, match="malformed curriculum JSON"):
        CurriculumSchedule.from_json("{")
    with pytest.raises(ValueError, match="not a cnas curriculum"):
        CurriculumSchedule.from_json('{"stages": []}')
