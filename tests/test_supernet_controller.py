"""SuperNet (single path) and Controller (LSTM policies)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import cnas
from cnas import Controller, Genotype, SearchSpace, SuperNet
from cnas.supernet import edge_index
from cnas.utils import count_params


def test_supernet_has_the_original_parameter_count() -> None:
    assert count_params(SuperNet(SearchSpace(), C=16, num_classes=10, layers=8)) == 1_930_618


def test_supernet_batchnorms_are_affine_free_and_use_batch_statistics() -> None:
    net = SuperNet(SearchSpace(), C=4, num_classes=10, layers=3)
    cell_bns = [m for m in net.cells.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert cell_bns
    assert all(bn.weight is None and bn.running_mean is None for bn in cell_bns)
    pool = net.cells[0].edges[0].ops["max_pool_3x3"]
    assert isinstance(pool[1], torch.nn.BatchNorm2d)  # pooling is followed by a BatchNorm


def naive_forward(net: SuperNet, x: torch.Tensor, g: Genotype) -> torch.Tensor:
    """The supernet written plainly: every op module called as is, zeros concatenated."""
    s0 = s1 = net.stem(x)
    for cell in net.cells:
        edges, concat = g.cell("reduce" if cell.reduction else "normal")
        states = {0: cell.preprocess0(s0), 1: cell.preprocess1(s1)}
        for op, src, dst in edges:
            h = cell.edges[edge_index(src, dst)](states[src], op)
            states[dst] = states[dst] + h if dst in states else h
        chunks = [
            states[i] if i in states and i in concat else torch.zeros_like(states[2])
            for i in range(2, cell.n_nodes + 2)
        ]
        s0, s1 = s1, torch.cat(chunks, 1)
    return net.classifier(net.global_pooling(s1).flatten(1))


@pytest.mark.parametrize("channels_last", [False, True])
def test_single_path_forward_equals_the_plain_composition(channels_last: bool) -> None:
    torch.manual_seed(0)
    space = SearchSpace()
    net = SuperNet(space, C=4, num_classes=10, layers=5, channels_last=channels_last)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(3, 3, 15, 15)
    genotypes = [space.sample(torch.Generator().manual_seed(i)) for i in range(12)]
    none_heavy = [
        ("none", 0, 2),
        ("none", 1, 2),
        ("sep_conv_3x3", 2, 3),
        ("skip_connect", 0, 3),
        ("none", 3, 4),
        ("max_pool_3x3", 2, 4),
        ("dil_conv_5x5", 4, 5),
        ("none", 1, 5),
    ]
    genotypes.append(Genotype(none_heavy, None, none_heavy, None))
    for g in genotypes:
        torch.testing.assert_close(
            net(x.contiguous(memory_format=fmt), g), naive_forward(net, x, g), rtol=1e-4, atol=1e-5
        )


def test_supernet_picks_its_fast_layout_for_nchw_inputs() -> None:
    # Called directly with an NCHW tensor, as in a notebook, the supernet runs in
    # channels-last (its weights are kept so) and gives the outputs of an NCHW supernet.
    torch.manual_seed(0)
    space = SearchSpace()
    net = SuperNet(space, C=4, num_classes=10, layers=5)
    conv = net.stem[0].weight
    assert net.channels_last and conv.is_contiguous(memory_format=torch.channels_last)
    seen: list[bool] = []
    net.stem.register_forward_pre_hook(
        lambda _, args: seen.append(args[0].is_contiguous(memory_format=torch.channels_last))
    )
    x = torch.randn(3, 3, 16, 16)
    g = space.sample(torch.Generator().manual_seed(0))
    fast = net(x, g)
    assert seen == [True]
    net.channels_last = False
    assert conv.is_contiguous() and net.stem[0].weight.is_contiguous()
    torch.testing.assert_close(net(x, g), fast, rtol=1e-4, atol=1e-5)
    assert seen == [True, False]
    assert not SuperNet(space, C=4, layers=3, channels_last=False).channels_last


def test_single_path_gradients_equal_the_plain_composition() -> None:
    torch.manual_seed(0)
    space = SearchSpace()
    net = SuperNet(space, C=4, num_classes=10, layers=4).to(memory_format=torch.channels_last)
    x, y = torch.randn(4, 3, 8, 8), torch.randint(0, 10, (4,))
    g = space.sample(torch.Generator().manual_seed(3))
    F.cross_entropy(net(x.contiguous(memory_format=torch.channels_last), g), y).backward()
    fast = {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}
    net.zero_grad(set_to_none=True)
    F.cross_entropy(naive_forward(net, x, g), y).backward()
    plain = {n: p.grad for n, p in net.named_parameters() if p.grad is not None}
    assert fast.keys() == plain.keys()
    for name in fast:
        torch.testing.assert_close(fast[name], plain[name], rtol=1e-3, atol=1e-5)


def test_single_path_trains_only_the_sampled_ops() -> None:
    net = SuperNet(SearchSpace(), C=4, num_classes=10, layers=3)
    g = cnas.genotypes.CNAS
    net(torch.randn(2, 3, 8, 8), g).sum().backward()
    used = {n for n, p in net.named_parameters() if p.grad is not None}
    assert any(".edges.1.ops.dil_conv_3x3." in n for n in used)  # normal edge 1 -> 2
    assert not any("sep_conv_5x5" in n and n.startswith("cells.0.") for n in used)


def test_node_curriculum_genotypes_pad_missing_nodes_with_zeros() -> None:
    torch.manual_seed(0)
    space = SearchSpace()
    net = SuperNet(space, C=4, num_classes=10, layers=3)
    g = space.restrict(n_nodes=1).sample(torch.Generator().manual_seed(0))
    outputs = []
    net.cells[0].register_forward_hook(lambda m, i, o: outputs.append(o))
    net(torch.randn(2, 3, 8, 8), g)
    assert outputs[0].shape[1] == 4 * 4
    assert torch.count_nonzero(outputs[0][:, 4:]) == 0


def test_supernet_refuses_genotypes_outside_its_space() -> None:
    net = SuperNet(SearchSpace(cnas.DARTS_OPS[:2], 2), C=4, num_classes=10, layers=3)
    with pytest.raises(ValueError, match="ops outside the search space"):
        net(torch.randn(1, 3, 8, 8), cnas.genotypes.CNAS)
    with pytest.raises(ValueError, match="genotype has 4 nodes; the supernet holds 2"):
        SuperNet(SearchSpace(n_nodes=2), C=4, num_classes=10, layers=3)(
            torch.randn(1, 3, 8, 8), cnas.genotypes.CNAS
        )
    with pytest.raises(ValueError, match="C must be a positive integer"):
        SuperNet(SearchSpace(), C=0)


def reference_log_prob(ctl: Controller, genotype: Genotype) -> tuple[float, float]:
    """Score a sample with a plain, per-cell LSTMCell loop (the paper's policy, written out)."""
    H, n_in = ctl.hidden_size, ctl.space.n_nodes + 1
    out = []
    for c, cell in enumerate(("normal", "reduce")):
        edges, _ = genotype.cell(cell)
        x = torch.zeros(1, H)
        h = cx = torch.zeros(1, H)
        total = 0.0
        for i in range(genotype.n_nodes):
            pair = edges[2 * i : 2 * i + 2]
            for is_op in (False, True):
                for e in pair:
                    h, cx = torch.lstm_cell(
                        x,
                        (h, cx),
                        ctl.weight_ih[c],
                        ctl.weight_hh[c],
                        ctl.bias_ih[c],
                        ctl.bias_hh[c],
                    )
                    if is_op:
                        logits = (h @ ctl.op_weight[c].T + ctl.op_bias[c])[0, : ctl.n_ops]
                        action = ctl.op_names.index(e.op)
                        x = ctl.embedding[c, n_in + action][None]
                    else:
                        keys = ctl.embedding[c, : i + 2] @ ctl.emb_attn[c].T
                        logits = torch.tanh(keys + h @ ctl.hid_attn[c].T) @ ctl.v_attn[c]
                        action = e.src
                        x = ctl.embedding[c, action][None]
                    total += F.log_softmax(logits, -1)[action].item()
        out.append(total)
    return out[0], out[1]


@pytest.mark.parametrize(("n_ops", "n_nodes"), [(8, 4), (3, 4), (8, 2), (1, 1)])
def test_controller_log_prob_matches_the_plain_policy(n_ops: int, n_nodes: int) -> None:
    torch.manual_seed(0)
    ctl = Controller(SearchSpace())
    ctl.restrict(n_ops, n_nodes)
    for i in range(3):
        s = ctl.sample(generator=torch.Generator().manual_seed(i))
        normal, reduce = reference_log_prob(ctl, s.genotype)
        assert s.log_prob_normal.item() == pytest.approx(normal, abs=1e-4)
        assert s.log_prob_reduce.item() == pytest.approx(reduce, abs=1e-4)
        assert s.log_prob.item() == pytest.approx(normal + reduce, abs=1e-4)
        assert s.genotype.n_nodes == n_nodes
        assert s.genotype.ops <= set(ctl.op_names[:n_ops])


def test_controller_samples_follow_the_policy_distribution() -> None:
    torch.manual_seed(0)
    ctl = Controller(SearchSpace())
    ctl.restrict(n_ops=8, n_nodes=1)
    with torch.no_grad():  # make op 'none' (index 4) dominant in both cells
        ctl.op_bias[:, 4] = 5.0
        samples = ctl.sample_many(400, generator=torch.Generator().manual_seed(0))
    share = sum(e.op == "none" for s in samples for e in s.genotype.normal) / 800
    with torch.no_grad():
        p = torch.softmax(torch.tensor([0.0] * 4 + [5.0] + [0.0] * 3), 0)[4].item()
    assert share == pytest.approx(p, abs=0.08)


def test_sample_many_equals_repeated_sampling_in_distribution_and_shape() -> None:
    ctl = Controller(SearchSpace())
    with torch.no_grad():
        many = ctl.sample_many(5, generator=torch.Generator().manual_seed(0))
    assert len(many) == 5
    assert len({s.genotype for s in many}) > 1
    for s in many:
        normal, reduce = reference_log_prob(ctl, s.genotype)
        assert s.log_prob.item() == pytest.approx(normal + reduce, abs=1e-4)


def test_controller_entropy_and_gradients_are_finite() -> None:
    ctl = Controller(SearchSpace())
    ctl.restrict(n_ops=2, n_nodes=2)
    s = ctl.sample()
    (-s.log_prob - 0.01 * s.entropy).backward()
    assert s.entropy.item() > 0
    assert all(torch.isfinite(p.grad).all() for p in ctl.parameters())


def test_uniform_mode_reports_the_uniform_policy() -> None:
    ctl = Controller(SearchSpace())
    ctl.restrict(n_ops=3, n_nodes=2)
    s = ctl.sample(uniform=True)
    expected = -2 * (2 * (math.log(2) + math.log(3)) + 2 * (math.log(3) + math.log(3)))
    assert s.log_prob.item() == pytest.approx(expected)
    assert s.entropy.item() == pytest.approx(-expected)
    assert s.genotype.ops <= set(ctl.op_names[:3])


def test_controller_op_order_and_restrictions_are_validated() -> None:
    ctl = Controller(SearchSpace())
    ctl.set_op_order(list(reversed(cnas.DARTS_OPS)))
    assert ctl.op_names[0] == "dil_conv_5x5"
    with pytest.raises(ValueError, match="not a permutation"):
        ctl.set_op_order(["sep_conv_3x3"])
    with pytest.raises(ValueError, match="n_ops must be in 1..8"):
        ctl.restrict(n_ops=0)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        ctl.sample_many(0)
    with pytest.raises(TypeError, match="space must be a cnas.SearchSpace"):
        Controller("DARTS")  # type: ignore[arg-type]
