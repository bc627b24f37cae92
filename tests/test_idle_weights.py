"""The supernet's optimizer semantics: by default every weight that has had a gradient
moves on every step (the original's ``zero_grad``, which zeroes gradients), and layers
read only through ``none`` edges get a zero gradient (the original's ``x * 0``);
``idle_weights="hold"`` moves only what a step used."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import cnas
from cnas.search import OptimizerConfig, SearchRuntime

LR, MOMENTUM, DECAY = 0.1, 0.9, 0.01
OPS = ["sep_conv_3x3", "max_pool_3x3", "none"]


def _engine(tmp_path: Path, idle: str) -> cnas.search._engine.Engine:
    torch.manual_seed(0)
    space = cnas.SearchSpace(OPS, n_nodes=1)
    net = cnas.SuperNet(space, C=4, num_classes=3, layers=3)
    searcher = cnas.Searcher(
        net,
        cnas.CurriculumSchedule.fixed(space, warmup_epochs=0, epochs=1),
        tmp_path / idle,
        optimizer=OptimizerConfig(
            batch_size=4, lr=LR, momentum=MOMENTUM, weight_decay=DECAY, idle_weights=idle
        ),
        runtime=SearchRuntime(device="cpu", progress=False),
    )
    return searcher.engine


def _cell(op0: str, op1: str) -> list[tuple[str, int, int]]:
    return [(op0, 0, 2), (op1, 1, 2)]


def _genotype(op0: str, op1: str) -> cnas.Genotype:
    return cnas.Genotype(_cell(op0, op1), None, _cell(op0, op1), None)


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(4, 3, 8, 8, generator=g), torch.tensor([0, 1, 2, 0])


def _conv(engine: cnas.search._engine.Engine) -> torch.Tensor:
    """A pointwise convolution of the sep_conv_3x3 on edge 0 -> 2 of the first cell."""
    edge = engine.supernet.cells[0].edges[0]
    return edge.ops["sep_conv_3x3"].op[2].weight  # type: ignore[index,no-any-return]


@pytest.mark.parametrize("idle", ["step", "hold"])
def test_an_op_a_step_did_not_sample_is_decayed_by_default_and_held_with_hold(
    tmp_path: Path, idle: str
) -> None:
    engine = _engine(tmp_path, idle)
    x, y = _batch()
    engine.weight_step(x, y, _genotype("sep_conv_3x3", "sep_conv_3x3"))  # gives it a gradient
    before = _conv(engine).detach().clone()
    engine.weight_step(x, y, _genotype("max_pool_3x3", "max_pool_3x3"))  # does not use it
    after = _conv(engine).detach()
    if idle == "hold":
        assert torch.equal(after, before)
    else:
        # its gradient is zero: the step is weight decay plus momentum, and it shrank it
        assert not torch.equal(after, before)
        assert after.norm() < before.norm()


@pytest.mark.parametrize("idle", ["step", "hold"])
def test_a_layer_read_only_through_none_edges_gets_a_zero_gradient_by_default(
    tmp_path: Path, idle: str
) -> None:
    engine = _engine(tmp_path, idle)
    pre0 = engine.supernet.cells[0].preprocess0.op[1].weight
    before = pre0.detach().clone()
    x, y = _batch()
    # input 0 of every cell is read by a 'none' edge only
    engine.weight_step(x, y, _genotype("none", "sep_conv_3x3"))
    if idle == "hold":
        assert pre0.grad is None
        assert torch.equal(pre0.detach(), before)
    else:
        assert pre0.grad is not None and not pre0.grad.any()
        # the first step of a zero gradient: Nesterov SGD moves it by lr * (1 + momentum)
        # * weight_decay * w, exactly what the original's optimizer does
        expected = before - LR * (1 + MOMENTUM) * DECAY * before
        torch.testing.assert_close(pre0.detach(), expected, rtol=1e-6, atol=0)


def test_reached_parameters_count_none_edges_and_skip_unread_cells() -> None:
    space = cnas.SearchSpace(OPS, n_nodes=1)
    net = cnas.SuperNet(space, C=4, num_classes=3, layers=3)
    names = {id(p): n for n, p in net.named_parameters()}
    reached = {names[id(p)] for p in net.reached_parameters(_genotype("none", "max_pool_3x3"))}
    # input 0 is read through 'none' only: its layer counts; no op with weights ran
    assert "cells.2.preprocess0.conv_1.weight" in reached
    assert not any(".edges." in n for n in reached)
    assert {"stem.0.weight", "classifier.weight"} <= reached
    # a gradient reaches exactly a subset of them (the rest are the zero ones)
    x, _ = _batch()
    net(x, _genotype("none", "max_pool_3x3")).logsumexp(1).sum().backward()
    graded = {n for n, p in net.named_parameters() if p.grad is not None}
    assert graded <= reached
    assert "cells.2.preprocess0.conv_1.weight" not in graded  # skipped, as 'none' is


def test_mixed_weights_reach_every_non_none_op_of_the_allowed_nodes() -> None:
    space = cnas.SearchSpace(OPS, n_nodes=2)
    net = cnas.SuperNet(space, C=4, num_classes=3, layers=3)
    w = torch.full((2, 3), 1 / 3)  # one node: 2 edges x 3 ops
    reached = {id(p) for p in net.reached_parameters(cnas.MixedWeights(w, w, space.ops))}
    names = [n for n, p in net.named_parameters() if id(p) in reached]
    assert any("edges.0.ops.sep_conv_3x3" in n for n in names)
    assert not any("edges.2." in n for n in names)  # node 3's edges: not allowed yet


def test_a_resumed_search_restores_which_weights_hold_a_gradient(tmp_path: Path) -> None:
    engine = _engine(tmp_path, "step")
    x, y = _batch()
    engine.weight_step(x, y, _genotype("sep_conv_3x3", "none"))
    holders = engine.gradient_holders()
    assert any("sep_conv_3x3" in n for n in holders)
    assert not any("max_pool_3x3" in n for n in holders)
    fresh = _engine(tmp_path / "fresh", "step")
    fresh.optimizer.load_state_dict(engine.optimizer.state_dict())
    fresh.restore_gradient_holders(holders)
    assert fresh.gradient_holders() == holders
    # a checkpoint from before they were recorded: those the optimizer holds state for
    older = _engine(tmp_path / "older", "step")
    older.optimizer.load_state_dict(engine.optimizer.state_dict())
    older.restore_gradient_holders(None)
    assert older.gradient_holders() == holders
    with pytest.raises(ValueError, match="unknown supernet parameters"):
        older.restore_gradient_holders(["cells.99.nothing"])
