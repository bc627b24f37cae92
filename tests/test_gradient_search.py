"""Gradient-based strategies (DARTS, GDAS) on the Searcher, and ArchParameters."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

import cnas
from cnas import ArchParameters, SearchSpace
from cnas.cli import main
from cnas.search import Callback, Searcher

SCRIPTS = Path(__file__).with_name("scripts")
sys.path.insert(0, str(SCRIPTS))
from tiny_search import build  # noqa: E402

# -- ArchParameters ------------------------------------------------------------------------


def test_weights_cover_the_stage_block_in_the_op_order() -> None:
    space = SearchSpace()
    order = list(reversed(space.ops))
    alphas = ArchParameters(space, order, generator=torch.Generator().manual_seed(0))
    w = alphas.weights(n_ops=3, n_nodes=2)
    assert w.ops == tuple(order[:3])
    assert w.normal.shape == (5, 3) and w.n_nodes == 2
    torch.testing.assert_close(w.normal, alphas.normal[:5, :3].softmax(-1))
    torch.testing.assert_close(w.normal.sum(-1), torch.ones(5))
    with pytest.raises(ValueError, match="not a permutation"):
        ArchParameters(space, ["sep_conv_3x3"])
    with pytest.raises(ValueError, match="n_ops must be in 1..8"):
        alphas.weights(n_ops=9)


def test_admitted_ops_start_with_the_mean_of_their_edge() -> None:
    space = SearchSpace()
    alphas = ArchParameters(space, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        alphas.normal[:, :3] = torch.randn(14, 3)
    before = alphas.normal.detach().clone()
    alphas.admit_ops(3, 5)
    mean = before[:, :3].mean(-1)
    assert torch.equal(alphas.normal[:, 3], mean) and torch.equal(alphas.normal[:, 4], mean)
    assert torch.equal(alphas.normal[:, :3], before[:, :3])  # old ops keep their logits
    assert torch.equal(alphas.normal[:, 5:], before[:, 5:])  # later ops untouched
    w = alphas.weights(n_ops=5).normal.detach()
    geometric_mean = before[:, :3].softmax(-1).log().mean(-1).exp()
    ratio = w[:, 3] / w[:, :3].sum(-1) * before[:, :3].softmax(-1).sum(-1)
    torch.testing.assert_close(ratio, geometric_mean)


def test_derive_keeps_the_two_strongest_edges_per_node_without_none() -> None:
    space = SearchSpace(["sep_conv_3x3", "none", "max_pool_3x3"], n_nodes=2)
    alphas = ArchParameters(space)
    with torch.no_grad():
        alphas.normal.zero_()
        alphas.reduce.zero_()
        # node 2: edges 0->2 (row 0) and 1->2 (row 1); node 3: rows 2, 3, 4
        alphas.normal[1, 2] = 2.0  # 1->2 max_pool strongest
        alphas.normal[0, 1] = 9.0  # 0->2: 'none' dominates, so its best real op is weak
        alphas.normal[0, 0] = 0.5
        alphas.normal[4, 0] = 3.0  # 2->3 sep_conv
        alphas.normal[2, 2] = 1.0  # 0->3 max_pool
        alphas.normal[3, 1] = 5.0  # 1->3 none: weak
    g = alphas.derive()
    assert list(g.normal) == [
        ("max_pool_3x3", 1, 2),
        ("sep_conv_3x3", 0, 2),
        ("sep_conv_3x3", 2, 3),
        ("max_pool_3x3", 0, 3),
    ]
    assert "none" not in g.ops
    assert g in space
    only_none = ArchParameters(SearchSpace(["none", "skip_connect"], 1)).derive(n_ops=1)
    assert only_none.ops == {"none"}  # nothing else allowed


def test_gumbel_samples_follow_the_softmax_and_pass_gradients_to_every_logit() -> None:
    space = SearchSpace(["sep_conv_3x3", "max_pool_3x3", "skip_connect"], n_nodes=1)
    alphas = ArchParameters(space)
    with torch.no_grad():
        alphas.normal.copy_(torch.tensor([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]]))
    gen = torch.Generator().manual_seed(0)
    counts = torch.zeros(3)
    for _ in range(2000):
        sample = alphas.sample(1.0, generator=gen)
        assert sample.active is not None
        counts[sample.active[0][0]] += 1
    torch.testing.assert_close(
        counts / 2000, torch.tensor([2.0, 0.0, -1.0]).softmax(0), atol=0.03, rtol=0
    )
    sample = alphas.sample(0.5, generator=gen)
    assert sample.active is not None
    j = sample.active[0][0]
    torch.testing.assert_close(
        sample.normal[0].detach(), torch.nn.functional.one_hot(torch.tensor(j), 3).float()
    )
    sample.normal[0, j].backward()
    assert alphas.normal.grad is not None and bool((alphas.normal.grad[0] != 0).all())
    with pytest.raises(ValueError, match="tau must be positive"):
        alphas.sample(0.0)


# -- searches ------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["darts", "gdas"])
def finished(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    out = tmp_path_factory.mktemp(request.param) / "run"
    searcher, train, val = build(str(out), request.param)
    return request.param, out, searcher, searcher.fit(train, val)


def test_gradient_search_runs_the_curriculum_and_derives_valid_genotypes(finished: Any) -> None:
    strategy, out, searcher, result = finished
    assert not hasattr(searcher.strategy, "controller")
    assert [s.n_ops for s in result.stages] == [1, 2, 3, 4]
    order = searcher.schedule.op_order
    for stage in result.stages:
        assert stage.ops == order[: stage.n_ops]
        assert stage.genotype in SearchSpace(stage.ops, stage.n_nodes)
        assert "none" not in stage.genotype.ops
    assert result.genotype == result.stages[-1].genotype
    assert cnas.Genotype.load(out / "genotype.json") == result.genotype
    assert [r["phase"] for r in result.history] == ["warmup", "search"] * 4
    search = [r for r in result.history if r["phase"] == "search"]
    for record in search:
        for key in ("loss", "top1", "val_loss", "val_top1", "entropy", "images_per_s"):
            assert key in record
    assert ("tau" in search[0]) == (strategy == "gdas")
    config = json.loads((out / "config.json").read_text())
    assert config["strategy"]["name"] == strategy
    assert config["strategy"]["settings"]["alpha_lr"] == 3e-4
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["strategy"]["name"] == strategy
    assert state["strategy"]["state"]["alphas"]["normal"].shape == (5, 4)
    assert state["strategy"]["state"]["optimizer"]["state"]  # Adam moments of the last stage


def test_logits_outside_the_stage_stay_untouched(tmp_path: Path) -> None:
    searcher, train, val = build(str(tmp_path / "run"), "darts")
    alphas = searcher.strategy.alphas  # type: ignore[attr-defined]
    start = alphas.normal.detach().clone()
    searcher.schedule = cnas.CurriculumSchedule(
        [cnas.Stage(2, 1, 0, 1)], searcher.schedule.op_order
    )
    searcher.fit(train, val)
    after = alphas.normal.detach()
    assert not torch.equal(after[:2, :2], start[:2, :2])  # the stage's block trained
    assert torch.equal(after[:, 2:], start[:, 2:])  # ops not admitted: not even decayed
    assert torch.equal(after[2:], start[2:])  # node 3's edges: not allowed


def test_gdas_anneals_tau_over_each_stage(tmp_path: Path) -> None:
    searcher, train, val = build(
        str(tmp_path / "run"), "gdas", settings={"tau_max": 4.0, "tau_min": 1.0}
    )
    searcher.schedule = cnas.CurriculumSchedule(
        [cnas.Stage(2, 2, 0, 3), cnas.Stage(3, 2, 0, 2)], searcher.schedule.op_order
    )
    result = searcher.fit(train, val)
    assert [r["tau"] for r in result.history] == [4.0, 2.5, 1.0, 4.0, 1.0]


class StopAfter(Callback):
    def __init__(self, epochs: int) -> None:
        self.epochs, self.seen = epochs, 0

    def on_epoch_end(self, searcher: Searcher, record: dict[str, Any]) -> None:
        self.seen += 1
        if self.seen == self.epochs:
            searcher.request_stop()


def _strip(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k not in ("time_s", "images_per_s")} for r in history]


@pytest.mark.parametrize("stop_after", [1, 2, 4])  # stage 1 mid, stage 1 end, stage 2
def test_a_stopped_gradient_search_resumes_exactly(
    finished: Any, tmp_path: Path, stop_after: int
) -> None:
    strategy, _, reference, expected = finished
    out = tmp_path / "run"
    searcher, train, val = build(str(out), strategy, callbacks=[StopAfter(stop_after)])
    assert searcher.fit(train, val).stopped_early
    resumed, train, val = build(str(out), strategy)
    result = resumed.fit(train, val)
    assert result.genotype == expected.genotype
    assert _strip(result.history) == _strip(expected.history)
    resumed_alphas = resumed.strategy.alphas.state_dict()  # type: ignore[attr-defined]
    for name, tensor in reference.strategy.alphas.state_dict().items():  # type: ignore[attr-defined]
        assert torch.equal(resumed_alphas[name], tensor), name
    for name, tensor in reference.supernet.state_dict().items():
        assert torch.equal(resumed.supernet.state_dict()[name], tensor), name


def test_strategies_check_their_settings() -> None:
    with pytest.raises(ValueError, match="tau_min <= tau_max"):
        cnas.search.Gdas(tau_max=0.1, tau_min=1.0)
    with pytest.raises(ValueError, match="alpha_lr must be positive"):
        cnas.search.Darts(alpha_lr=0.0)
    with pytest.raises(ValueError, match="alpha_betas must be two numbers"):
        cnas.search.Darts(alpha_betas=(0.5, 1.5))
    space = SearchSpace(["sep_conv_3x3", "none"], 2)
    net = cnas.SuperNet(space, C=4, layers=3)
    with pytest.raises(cnas.search.UnknownStrategyError, match="unknown strategy 'enas'"):
        Searcher(net, cnas.CurriculumSchedule.fixed(space, 1, 1), "unused", strategy="enas")


def test_a_checkpoint_of_another_strategy_is_refused(finished: Any, tmp_path: Path) -> None:
    strategy, out, _, _ = finished
    other = "gdas" if strategy == "darts" else "darts"
    searcher, train, val = build(str(out), other)
    with pytest.raises(
        cnas.CheckpointError,
        match=f"is a checkpoint of strategy '{strategy}', and this search runs '{other}'",
    ):
        searcher.fit(train, val)


@pytest.mark.parametrize("strategy", ["darts", "gdas"])
def test_cli_search_strategy(
    strategy: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    code = main(
        [
            "search",
            "-o",
            str(out),
            "--strategy",
            strategy,
            "--dataset",
            "digits",
            "--init-channels",
            "4",
            "--layers",
            "3",
            "--nodes",
            "2",
            "--steps-per-epoch",
            "2",
            "--derive-batches",
            "1",
            "--batch-size",
            "32",
            "--warmup-epochs",
            "1",
            "--epochs-per-stage",
            "1",
            "--stages",
            "2",
            "--alpha-lr",
            "1e-3",
            "--no-progress",
        ]
    )
    assert code == 0
    assert "final genotype:" in capsys.readouterr().out
    config = json.loads((out / "config.json").read_text())
    assert (
        config["strategy"]["name"] == strategy
        and config["strategy"]["settings"]["alpha_lr"] == 1e-3
    )
    genotype = cnas.Genotype.load(out / "genotype.json")
    assert genotype.n_nodes == 2 and "none" not in genotype.ops
