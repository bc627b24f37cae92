"""Costs of cells (parameters, multiply-adds, measured latency), budgets in every strategy,
and the accuracy/cost front."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

import cnas
from cnas.cli import main
from cnas.costs import (
    Budget,
    BudgetError,
    CostModel,
    LatencyTable,
    LatencyTableError,
    NetworkSpec,
    pareto_front,
    profile,
    rank_correlation,
)
from cnas.utils import count_madds, count_params

sys.path.insert(0, str(Path(__file__).with_name("scripts")))
from tiny_search import build

TINY_OPS = ("sep_conv_3x3", "max_pool_3x3", "skip_connect", "none")  # tiny_search's space
TINY_NET = NetworkSpec.for_dataset("digits", C=8, layers=5)
# the tiny search's cells cost 137,344 MAdds at least on TINY_NET; every built-in strategy
# derives one over 170,000 without a budget (cnas 177,024; random 201,344; darts 311,936)
MADDS_LIMIT = 170_000


@pytest.fixture(scope="module")
def tiny_table() -> LatencyTable:
    """A quickly measured table of TINY_NET (its numbers are noisy; shapes matter here)."""
    return profile(TINY_NET, TINY_OPS, n_nodes=2, repeats=1, block_ms=0.2, threads=1)


# -- exact counts --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        NetworkSpec(C=12, layers=6),
        NetworkSpec(kind="imagenet", C=8, layers=5, num_classes=7, image_size=64),
        TINY_NET,
    ],
    ids=["cifar", "imagenet", "digits"],
)
def test_params_and_madds_are_what_the_built_network_counts(spec: NetworkSpec) -> None:
    model = CostModel(spec, cnas.DARTS_OPS)
    generator = torch.Generator().manual_seed(0)
    genotypes = [cnas.genotypes.CNAS, cnas.genotypes.get_genotype("DARTS_V2")]
    for n_nodes in (4, 2, 1):
        space = cnas.SearchSpace(n_nodes=n_nodes)
        genotypes += [space.sample(generator=generator) for _ in range(2)]
    for g in genotypes:
        net = spec.build(g)
        costs = model.costs(g)
        assert costs.params == count_params(net), g
        assert costs.madds == count_madds(net, spec.input_size), g
        assert costs.latency_ms is None


def test_the_smallest_params_are_the_network_with_every_edge_none() -> None:
    space = cnas.SearchSpace()
    model = CostModel(TINY_NET, space.ops)
    every_none = TINY_NET.build(cnas.costs._network.empty_genotype(4))
    assert model.minimum("params", space) == count_params(every_none)
    # pooling costs no parameters either: the cheapest cell computes rather than drop edges
    assert model.cheapest(space, {"params": 1.0}).ops == {"max_pool_3x3"}
    # without none, pooling is the cheapest in parameters
    no_none = cnas.SearchSpace([op for op in cnas.DARTS_OPS if op != "none"])
    assert model.cheapest(no_none, {"params": 1.0}).ops <= {"max_pool_3x3", "avg_pool_3x3"}


def test_the_expected_cost_of_one_hot_weights_is_the_cells_cost() -> None:
    space = cnas.SearchSpace(TINY_OPS, 1)  # node 2 reads nodes 0 and 1: both edges kept
    model = CostModel(TINY_NET, TINY_OPS)
    g = cnas.Genotype(
        [("sep_conv_3x3", 0, 2), ("skip_connect", 1, 2)],
        [2],
        [("max_pool_3x3", 0, 2), ("sep_conv_3x3", 1, 2)],
        [2],
    )
    assert g in space

    def one_hot(edges: Any) -> torch.Tensor:
        return torch.stack([torch.eye(4)[TINY_OPS.index(e.op)] for e in edges])

    weights = cnas.MixedWeights(
        one_hot(g.normal).requires_grad_(), one_hot(g.reduce).requires_grad_(), TINY_OPS
    )
    expected = model.expected(weights, "madds")
    assert float(expected.detach()) == pytest.approx(model.cost("madds", g))
    expected.backward()
    assert weights.normal.grad is not None and float(weights.normal.grad.abs().sum()) > 0


def test_the_expected_cost_weighs_each_edge_by_its_ops_and_its_node() -> None:
    # 2 nodes: rows 0->2, 1->2, 0->3, 1->3, 2->3; node t keeps 2 of its t inputs
    model = CostModel(TINY_NET, TINY_OPS)
    normal = torch.softmax(torch.randn(5, 4, generator=torch.Generator().manual_seed(3)), -1)
    reduce = torch.softmax(torch.randn(5, 4, generator=torch.Generator().manual_seed(4)), -1)
    weights = cnas.MixedWeights(normal, reduce, TINY_OPS)
    table = model._tables["madds"]
    rows = [(0, 2), (1, 2), (0, 3), (1, 3), (2, 3)]
    by_hand = model.fixed("madds", 2)
    for e, (src, t) in enumerate(rows):
        for w, reduction in ((normal[e], False), (reduce[e], True)):
            kept = w[:3] / w[:3].sum()  # none (the last op) is never derived
            by_hand += (
                2
                / t
                * sum(
                    float(kept[j]) * table.edge(op, reduction, src)
                    for j, op in enumerate(TINY_OPS[:3])
                )
            )
    assert float(model.expected(weights, "madds")) == pytest.approx(by_hand, rel=1e-5)


def test_counting_costs_draws_no_random_numbers() -> None:
    torch.manual_seed(5)
    before = torch.get_rng_state()
    model = CostModel(NetworkSpec(C=8, layers=5), cnas.DARTS_OPS)
    model.costs(cnas.SearchSpace(n_nodes=2).sample(generator=torch.Generator()))
    Budget(max_params=1e6, network=NetworkSpec(C=8, layers=5)).check_reachable(
        model, cnas.SearchSpace()
    )
    assert torch.equal(before, torch.get_rng_state())


# -- latency tables -------------------------------------------------------------------------------


def test_a_latency_table_round_trips_and_predicts_from_its_entries(
    tiny_table: LatencyTable, tmp_path: Path
) -> None:
    path = tiny_table.save(tmp_path / "table.json")
    loaded = LatencyTable.load(path)
    assert loaded == tiny_table and loaded.source == str(path)
    assert loaded.device == "cpu" and loaded.threads == 1 and loaded.batch_size == 1
    assert loaded.torch_version == torch.__version__ and loaded.dtype == "float32"
    g = cnas.SearchSpace(TINY_OPS, 2).sample(generator=torch.Generator().manual_seed(1))
    model = CostModel(TINY_NET, TINY_OPS, loaded)
    by_hand = loaded.fixed_ms(2)
    for cell in model.cells:
        edges = g.reduce if cell.reduction else g.normal
        for e in edges:
            by_hand += loaded.op_ms(e.op, cell, 2 if cell.reduction and e.src < 2 else 1)
    assert model.costs(g).latency_ms == pytest.approx(by_hand)
    assert loaded.predict(g) == pytest.approx(by_hand)
    with pytest.raises(FileExistsError):
        tiny_table.save(path)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"network": NetworkSpec.for_dataset("digits", C=16, layers=5)}, "network C=8"),
        ({"network": NetworkSpec.for_dataset("digits", C=8, layers=8)}, "network layers=5"),
        ({"network": NetworkSpec("cifar", 8, 5, 3, 1, 8)}, "num_classes"),
        ({"ops": ["sep_conv_3x3", "dil_conv_3x3"]}, r"op\(s\) dil_conv_3x3"),
        ({"device": "cuda"}, "device 'cpu'"),
        ({"n_nodes": 4}, "n_nodes=2"),
    ],
)  # fmt: skip
def test_a_table_for_another_network_device_or_op_set_is_refused_naming_the_field(
    tiny_table: LatencyTable, change: dict[str, Any], field: str
) -> None:
    with pytest.raises(LatencyTableError, match=field):
        tiny_table.check(**change)


def test_a_search_refuses_a_table_of_another_network(
    tiny_table: LatencyTable, tmp_path: Path
) -> None:
    with pytest.raises(LatencyTableError, match="network C=8"):
        Budget(
            max_latency_ms=10.0,
            latency_table=tiny_table,
            network=NetworkSpec.for_dataset("digits", C=16, layers=5),
        )
    path = tiny_table.save(tmp_path / "t.json")
    flags = ["--max-latency-ms", "5", "--latency-table", str(path)]
    code = main(["search", "--dataset", "digits", "-o", str(tmp_path / "run"), *flags])
    assert code == 2  # (the budget's network is digits' default: C=16, 8 layers)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "not a JSON latency table"),
        ("[1, 2]", "not a cnas latency table"),
        ('{"format": "cnas.latency_table", "version": 9}', "version 9"),
        ('{"format": "cnas.latency_table", "version": 1, "ops": []}', "malformed"),
    ],
)
def test_a_file_that_is_not_a_latency_table_is_refused(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "t.json"
    path.write_text(content)
    with pytest.raises(LatencyTableError, match=message):
        LatencyTable.load(path)
    with pytest.raises(FileNotFoundError, match="no such latency table"):
        LatencyTable.load(tmp_path / "missing.json")


def test_a_negative_entry_is_refused(tiny_table: LatencyTable) -> None:
    data = tiny_table.to_dict()
    data["entries"][next(iter(data["entries"]))] = -1.0
    with pytest.raises(LatencyTableError, match="bad entries"):
        LatencyTable.from_dict(data)


# -- budgets ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "needs a limit"),
        ({"max_params": 0}, "positive"),
        ({"max_madds": float("nan")}, "positive"),
        ({"max_params": "3.7M"}, "must be a number"),
        ({"max_latency_ms": 5.0}, "needs a latency table"),
        ({"max_params": 1e6, "penalty": "medium"}, "'soft' or 'hard'"),
        ({"max_params": 1e6, "cost_weight": -1}, "cost_weight"),
    ],
)
def test_bad_budgets_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(BudgetError, match=message):
        Budget(**kwargs)


def test_the_objectives_follow_mnasnet_and_the_expected_cost_loss() -> None:
    soft = Budget(max_madds=100.0)
    hard = Budget(max_madds=100.0, penalty="hard")
    cheap, costly = cnas.costs.Costs(10.0, 50.0), cnas.costs.Costs(10.0, 200.0)
    assert soft.reward(0.8, cheap) == pytest.approx(0.8 * 0.5**-0.07)
    assert soft.reward(0.8, costly) == pytest.approx(0.8 * 2.0**-0.07)
    assert hard.reward(0.8, cheap) == 0.8  # no reward for being cheaper than needed
    assert hard.reward(0.8, costly) == pytest.approx(0.4)  # w = -1 over the limit
    expected = {"madds": torch.tensor(150.0)}
    assert float(soft.loss(expected)) == pytest.approx(0.1 * 1.5)
    assert float(hard.loss(expected)) == pytest.approx(0.1 * 0.5)
    assert float(hard.loss({"madds": torch.tensor(50.0)})) == 0.0


def test_a_budget_no_cell_can_meet_is_refused_naming_the_smallest_value(tmp_path: Path) -> None:
    space = cnas.SearchSpace(TINY_OPS, 2)
    smallest = count_params(
        TINY_NET.build(CostModel(TINY_NET, TINY_OPS).cheapest(space, {"params": 1}))
    )
    with pytest.raises(BudgetError, match=f"{smallest:,}"):
        build(
            str(tmp_path / "run"),
            "random",
            budget=Budget(max_params=smallest - 1, network=TINY_NET),
        )
    assert not (tmp_path / "run").exists()
    build(str(tmp_path / "ok"), "random", budget=Budget(max_params=smallest, network=TINY_NET))
    out = tmp_path / "cli"
    assert main(["search", "--dataset", "digits", "-o", str(out), "--max-params", "1000"]) == 2
    assert not out.exists()  # refused before any data was loaded or folder made


# -- budgets in the search -------------------------------------------------------------------------


def _search(tmp_path: Path, strategy: str, budget: Budget | None) -> cnas.search.SearchResult:
    searcher, train, val = build(
        str(tmp_path / f"{strategy}-{budget is not None}"), strategy, draw=False,
        tensorboard=False, budget=budget,
    )  # fmt: skip
    return searcher.fit(train, val)


def test_a_constrained_search_derives_within_its_limit_where_the_same_search_does_not(
    tmp_path: Path,
) -> None:
    model = CostModel(TINY_NET, TINY_OPS)
    free = _search(tmp_path, "cnas", None)
    assert free.genotype is not None
    assert model.cost("madds", free.genotype) > MADDS_LIMIT
    budget = Budget(max_madds=MADDS_LIMIT, network=TINY_NET)
    kept = _search(tmp_path, "cnas", budget)
    assert kept.genotype is not None
    assert model.cost("madds", kept.genotype) <= MADDS_LIMIT
    final = kept.stages[-1]
    assert final.within_budget is True
    # every scored candidate is recorded with its costs; the final cell is the most
    # accurate one within the budget
    within = [c for c in final.scored if c.stats["within"] == 1.0]
    assert within and all(c.stats["madds"] == model.cost("madds", c.genotype) for c in final.scored)
    assert final.val_accuracy == max(c.accuracy for c in within)
    # stage 1 allows sep_conv_3x3 only: no cell of it fits, so it derives regardless
    assert kept.stages[0].within_budget is False
    report = (kept.output_dir / "report.md").read_text()
    assert "## Accuracy and cost (stage 4)" in report and "front.png" in report
    assert (kept.output_dir / "front.png").read_bytes()[:4] == b"\x89PNG"
    saved = json.loads((kept.output_dir / "stages" / "stage-4" / "result.json").read_text())
    assert len(saved["scored"]) == len(final.scored) and saved["within_budget"] is True
    config = json.loads((kept.output_dir / "config.json").read_text())
    assert config["budget"]["max_madds"] == MADDS_LIMIT


@pytest.mark.parametrize("strategy", ["darts", "gdas", "random", "evolution"])
def test_every_strategy_derives_within_the_budget(tmp_path: Path, strategy: str) -> None:
    model = CostModel(TINY_NET, TINY_OPS)
    result = _search(tmp_path, strategy, Budget(max_madds=MADDS_LIMIT, network=TINY_NET))
    assert result.genotype is not None
    assert model.cost("madds", result.genotype) <= MADDS_LIMIT
    assert all(r.within_budget for r in result.stages[1:])  # stage 1 cannot meet it


def test_a_latency_limit_is_kept_with_a_table(tiny_table: LatencyTable, tmp_path: Path) -> None:
    model = CostModel(TINY_NET, TINY_OPS, tiny_table)
    space = cnas.SearchSpace(TINY_OPS, 2)
    low = model.minimum("latency_ms", space)
    limit = low + 0.3 * (model.costs(model.cheapest(space, {"latency_ms": -1})).latency_ms - low)
    budget = Budget(max_latency_ms=limit, latency_table=tiny_table)
    result = _search(tmp_path, "random", budget)
    assert result.genotype is not None
    assert model.cost("latency_ms", result.genotype) <= limit
    assert all("latency_ms" in c.stats for c in result.stages[-1].scored)


def test_a_budget_for_other_images_or_classes_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BudgetError, match="in_channels=3"):  # CIFAR's network, digits' data
        build(str(tmp_path / "run"), "random", budget=Budget(max_madds=1e9))


def test_cnas_derive_derives_a_budgeted_stage_again_within_its_budget(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ops = "sep_conv_3x3,max_pool_3x3,skip_connect,none"
    network = NetworkSpec.for_dataset("digits")
    model = CostModel(network, ops.split(","))
    space = cnas.SearchSpace(ops.split(","), 2)
    low = model.minimum("madds", space)
    limit = low + 0.2 * (model.cost("madds", model.cheapest(space, {"madds": -1})) - low)
    run = tmp_path / "run"
    flags = ["--dataset", "digits", "--ops", ops, "--nodes", "2", "--init-channels", "4",
             "--layers", "3", "--curriculum", "fixed", "--warmup-epochs", "1",
             "--epochs-per-stage", "1", "--steps-per-epoch", "2", "--derive-batches", "1",
             "--strategy", "random", "--num-candidates", "4", "--no-progress"]  # fmt: skip
    assert main(["search", *flags, "--max-madds", str(limit), "-o", str(run)]) == 0
    searched = cnas.Genotype.load(run / "genotype.json")
    assert model.cost("madds", searched) <= limit
    capsys.readouterr()
    assert main(["derive", str(run)]) == 0
    assert f"genotype: {searched!r}" in capsys.readouterr().out  # the same draws, in budget
    assert main(["derive", str(run), "--latency-table", str(tmp_path / "t.json")]) == 2
    assert "uses no latency table" in capsys.readouterr().err


def test_a_checkpoint_with_another_budget_is_refused(tmp_path: Path) -> None:
    budget = Budget(max_madds=MADDS_LIMIT, network=TINY_NET)
    quick = {"draw": False, "tensorboard": False, "steps_per_epoch": 1, "derive_batches": 1}
    searcher, train, val = build(str(tmp_path / "run"), "random", budget=budget, **quick)
    searcher.fit(train, val)
    other = Budget(max_madds=MADDS_LIMIT + 1, network=TINY_NET)
    again, train, val = build(str(tmp_path / "run"), "random", budget=other, **quick)
    with pytest.raises(cnas.CheckpointError, match="different search"):
        again.fit(train, val)


def test_without_a_budget_the_search_records_no_costs(tmp_path: Path) -> None:
    result = _search(tmp_path, "random", None)
    assert all(r.scored == () and r.within_budget is None for r in result.stages)
    saved = json.loads((result.output_dir / "stages" / "stage-1" / "result.json").read_text())
    recorded = json.loads((result.output_dir / "config.json").read_text())
    assert "scored" not in saved and recorded["budget"] is None


# -- the front -------------------------------------------------------------------------------------


def test_the_pareto_front_keeps_the_points_no_other_beats() -> None:
    points = [
        {"accuracy": 0.9, "madds": 300.0, "name": "a"},
        {"accuracy": 0.8, "madds": 100.0, "name": "b"},
        {"accuracy": 0.7, "madds": 200.0, "name": "c"},  # beaten by b
        {"accuracy": 0.9, "madds": 400.0, "name": "d"},  # beaten by a
        {"accuracy": 0.95, "madds": 500.0, "name": "e"},
        {"accuracy": 0.8, "madds": 100.0, "name": "b2"},  # equal to b: one of them kept
    ]
    assert [p["name"] for p in pareto_front(points, ["madds"])] == ["b", "a", "e"]
    with pytest.raises(KeyError):
        pareto_front(points, ["flops"])


def test_rank_correlation_is_spearmans() -> None:
    assert rank_correlation([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert rank_correlation([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # with ties, mean ranks: [1, 2.5, 2.5, 4] against [1, 3, 2, 4], so 4.5 / sqrt(4.5 * 5)
    assert rank_correlation([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(4.5 / (4.5 * 5) ** 0.5)


# -- the command line -----------------------------------------------------------------------------


def test_cnas_profile_writes_a_table_and_checks_its_predictions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "table.json"
    args = ["profile", "--dataset", "digits", "--eval-init-channels", "8", "--eval-layers", "5",
            "--ops", ",".join(TINY_OPS), "--nodes", "2", "--repeats", "1", "--threads", "1",
            "--check", "3", "-o", str(out)]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "prediction over 3 random networks: Spearman" in printed
    table = LatencyTable.load(out)
    assert table.network == TINY_NET and set(table.ops) == set(TINY_OPS)
    assert table.validation["genotypes"] == 3 and len(table.validation["pairs"]) == 3
    before = out.read_bytes()
    assert main(args) == 2  # an existing table is not replaced without --overwrite
    assert "--overwrite" in capsys.readouterr().err and out.read_bytes() == before
    assert main([*args[:-2], "--ops", "sep_conv_3x3,sep3x3", "-o", str(tmp_path / "b")]) == 2
    assert "sep3x3" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--max-madds", "lots"], "expected a count"),
        (["--max-params", "-5"], "--max-params: expected a finite number > 0 or null, got -5"),
        (["--max-params", "lots"], "expected a count such as 250000, 3.7M or 600M"),
        (["--cost-weight", "1"], "a budget needs a limit: --max-params, --max-madds or"),
        (["--max-latency-ms", "3"], "needs a latency table"),
        (["--max-params", "1M", "--latency-table", "/nonexistent.json"], "no such latency table"),
        (["--max-params", "1M", "--latency-device", "cuda"], "applies to a --latency-table"),
    ],
)
def test_bad_budget_flags_get_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    try:
        code = main(["search", "--dataset", "digits", "-o", str(tmp_path / "run"), *flags])
    except SystemExit as exc:  # argparse's own errors
        code = int(exc.code or 0)
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_count_flags_take_suffixes() -> None:
    from cnas.search import BudgetConfig

    assert BudgetConfig.from_dict({"max_params": 2e6}).max_params == 2e6
    count = cnas.search._config.parse_count
    assert count("3.7M") == 3_700_000 and count("600m") == 600e6 and count("250,000") == 250e3
    logging.getLogger("cnas").debug("(count parsed)")
