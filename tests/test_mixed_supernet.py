"""SuperNet's mixed (weighted) mode: equal to the plain weighted sum of the candidate ops."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import cnas
from cnas import MixedWeights, SearchSpace, SuperNet
from cnas.supernet import edge_index


def naive_mixed_forward(net: SuperNet, x: torch.Tensor, weights: MixedWeights) -> torch.Tensor:
    """The mixed supernet written plainly: every candidate module called as is, weighted,
    summed (``none`` included, as DARTS computes it)."""
    s0 = s1 = net.stem(x)
    n = weights.n_nodes
    for cell in net.cells:
        w, active = weights.cell("reduce" if cell.reduction else "normal")
        states = {0: cell.preprocess0(s0), 1: cell.preprocess1(s1)}
        for dst in range(2, n + 2):
            total = 0
            for src in range(dst):
                e = edge_index(src, dst)
                for j, op in enumerate(weights.ops):
                    if active is None or active[e] == j:
                        total = total + w[e, j] * cell.edges[e](states[src], op)
            states[dst] = total
        zeros = torch.zeros_like(states[2])
        chunks = [states[i] if i < n + 2 else zeros for i in range(2, cell.n_nodes + 2)]
        s0, s1 = s1, torch.cat(chunks, 1)
    return net.classifier(net.global_pooling(s1).flatten(1))


def random_weights(
    ops: tuple[str, ...], n_nodes: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    rows = n_nodes * (n_nodes + 3) // 2
    normal = torch.randn(rows, len(ops), generator=generator).softmax(-1).requires_grad_()
    reduce = torch.randn(rows, len(ops), generator=generator).softmax(-1).requires_grad_()
    return normal, reduce


def compare(
    net: SuperNet, x: torch.Tensor, weights: MixedWeights, fmt: torch.memory_format
) -> None:
    y = torch.randint(0, 10, (x.shape[0],))
    params = [p for p in net.parameters()]
    fast = net(x.contiguous(memory_format=fmt), weights)
    loss = F.cross_entropy(fast, y)
    fast_grads = torch.autograd.grad(
        loss, [weights.normal, weights.reduce, *params], allow_unused=True
    )
    plain = naive_mixed_forward(net, x, weights)
    plain_grads = torch.autograd.grad(
        F.cross_entropy(plain, y), [weights.normal, weights.reduce, *params], allow_unused=True
    )
    torch.testing.assert_close(fast, plain, rtol=1e-4, atol=1e-5)
    for a, b in zip(fast_grads, plain_grads, strict=True):
        if b is None or not b.any():  # unused, or only reached through a zero-weight path
            assert a is None or not a.any()
            continue
        assert a is not None
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("fmt", [torch.contiguous_format, torch.channels_last])
def test_mixed_mode_equals_the_weighted_sum_of_every_candidate(fmt: torch.memory_format) -> None:
    # float64: at this size some BatchNorm inputs are nearly constant per channel (a 3x3
    # max pool over a 3x3 map), and normalizing them amplifies float32 rounding; any two
    # summation orders then disagree in the third digit.
    space = SearchSpace()
    net = SuperNet(space, C=4, num_classes=10, layers=5).double().to(memory_format=fmt)
    normal, reduce = random_weights(space.ops, 4, torch.Generator().manual_seed(0))
    weights = MixedWeights(
        normal.detach().double().requires_grad_(),
        reduce.detach().double().requires_grad_(),
        space.ops,
    )
    compare(net, torch.randn(3, 3, 9, 9, dtype=torch.float64), weights, fmt)


def test_mixed_mode_restricted_to_a_stage_runs_only_its_ops_and_nodes() -> None:
    space = SearchSpace()
    net = SuperNet(space, C=4, num_classes=10, layers=4).to(memory_format=torch.channels_last)
    ops = ("dil_conv_3x3", "none", "skip_connect", "avg_pool_3x3")  # a stage, curriculum order
    normal, reduce = random_weights(ops, 2, torch.Generator().manual_seed(1))
    weights = MixedWeights(normal, reduce, ops)
    compare(net, torch.randn(2, 3, 8, 8), weights, torch.channels_last)
    net.zero_grad(set_to_none=True)
    net(
        torch.randn(2, 3, 8, 8).contiguous(memory_format=torch.channels_last), weights
    ).sum().backward()
    trained = {n for n, p in net.named_parameters() if p.grad is not None}
    assert any(".ops.dil_conv_3x3." in n for n in trained)
    assert not any(".ops.sep_conv_3x3." in n or ".ops.dil_conv_5x5." in n for n in trained)
    # node 4 and 5 are not allowed: none of their edges (index 5 and up) computes anything
    assert not any(f".edges.{e}." in n for n in trained for e in range(5, 14))


def test_active_paths_run_one_op_per_edge() -> None:
    space = SearchSpace()
    net = SuperNet(space, C=4, num_classes=10, layers=3)
    gen = torch.Generator().manual_seed(2)
    normal, reduce = random_weights(space.ops, 4, gen)
    active = tuple(tuple(torch.randint(0, 8, (14,), generator=gen).tolist()) for _ in range(2))
    weights = MixedWeights(normal, reduce, space.ops, active)  # type: ignore[arg-type]
    compare(net, torch.randn(2, 3, 8, 8), weights, torch.contiguous_format)
    net.zero_grad(set_to_none=True)
    net(torch.randn(2, 3, 8, 8), weights).sum().backward()
    cell0 = {n for n, p in net.cells[0].named_parameters() if p.grad is not None}
    for e, j in enumerate(active[0]):
        for k, op in enumerate(space.ops):
            ran = any(n.startswith(f"edges.{e}.ops.{op}.") for n in cell0)
            if k != j:
                assert not ran, (e, op)


def test_none_only_weights_compute_no_edge() -> None:
    space = SearchSpace()
    net = SuperNet(space, C=4, num_classes=10, layers=3)
    w = torch.ones(14, 1, requires_grad=True)
    out = net(torch.randn(2, 3, 8, 8), MixedWeights(w, w, ("none",)))
    out.sum().backward()
    assert all(p.grad is None for p in net.cells[-1].edges.parameters())
    assert w.grad is None or not w.grad.any()


def test_mixed_weights_are_validated() -> None:
    net = SuperNet(SearchSpace(cnas.DARTS_OPS[:3], 2), C=4, num_classes=10, layers=3)
    x = torch.randn(1, 3, 8, 8)
    with pytest.raises(ValueError, match="6 rows fit no cell"):
        MixedWeights(torch.ones(6, 2), torch.ones(6, 2), ("sep_conv_3x3", "none"))
    with pytest.raises(ValueError, match="normal has 3 columns for 2 ops"):
        MixedWeights(torch.ones(5, 3), torch.ones(5, 3), ("sep_conv_3x3", "none"))
    with pytest.raises(ValueError, match="differ in shape"):
        MixedWeights(torch.ones(5, 1), torch.ones(2, 1), ("none",))
    with pytest.raises(ValueError, match="active normal needs one op index"):
        MixedWeights(torch.ones(2, 1), torch.ones(2, 1), ("none",), ((0, 1), (0, 0)))
    with pytest.raises(ValueError, match="ops outside the search space: \\['skip_connect'\\]"):
        net(x, MixedWeights(torch.ones(2, 1), torch.ones(2, 1), ("skip_connect",)))
    with pytest.raises(ValueError, match="cover 3 nodes .* the supernet holds 2"):
        net(x, MixedWeights(torch.ones(9, 1), torch.ones(9, 1), ("sep_conv_3x3",)))


def _saved_activation_bytes(net: SuperNet, x: torch.Tensor, weights: MixedWeights) -> int:
    params = {p.untyped_storage().data_ptr() for p in net.parameters()}
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        ptr = t.untyped_storage().data_ptr()
        if ptr not in params:
            storages[ptr] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        net(x, weights).sum()
    return sum(storages.values())


def test_mixed_mode_saves_less_than_the_stock_composition(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    space = SearchSpace()
    net = SuperNet(space, C=8, num_classes=10, layers=3).to(memory_format=torch.channels_last)
    x = torch.randn(8, 3, 16, 16).contiguous(memory_format=torch.channels_last)
    w = torch.softmax(torch.randn(14, 8), -1).requires_grad_()
    weights = MixedWeights(w, w, space.ops)
    fused = _saved_activation_bytes(net, x, weights)
    net.recompute_tails = False  # the stock layers keep every intermediate activation
    kernels_only = _saved_activation_bytes(net, x, weights)

    def stock_bn_sum(ys: list[torch.Tensor], w: torch.Tensor, eps: float) -> torch.Tensor:
        return sum(
            w[k] * F.batch_norm(y, None, None, training=True, eps=eps) for k, y in enumerate(ys)
        )  # type: ignore[return-value]

    monkeypatch.setattr(cnas.kernels, "mixed_bn_sum", stock_bn_sum)
    monkeypatch.setattr(
        cnas.kernels, "mixed_sum", lambda xs, w: sum(w[k] * x for k, x in enumerate(xs))
    )
    monkeypatch.setattr(cnas.kernels, "max_pool2d", F.max_pool2d)
    naive = _saved_activation_bytes(net, x, weights)
    assert kernels_only < 0.72 * naive, (kernels_only, naive)
    assert fused < 0.6 * naive, (fused, naive)


def test_recomputed_tails_change_no_value_and_no_gradient() -> None:
    torch.manual_seed(3)
    # strided separable and dilated convolutions in the reduction cells, plain elsewhere
    space = SearchSpace(("sep_conv_3x3", "dil_conv_5x5", "avg_pool_3x3", "skip_connect"), 2)
    net = SuperNet(space, C=4, num_classes=10, layers=3).to(memory_format=torch.channels_last)
    normal, reduce = random_weights(space.ops, 2, torch.Generator().manual_seed(4))
    weights = MixedWeights(normal, reduce, space.ops)
    x = torch.randn(2, 3, 8, 8).contiguous(memory_format=torch.channels_last)
    inputs = [normal, reduce, *net.parameters()]
    results = []
    for recompute in (True, False):
        net.recompute_tails = recompute
        out = net(x, weights)
        results.append((out, torch.autograd.grad(out.square().sum(), inputs)))
    (got, got_grads), (want, want_grads) = results
    assert torch.equal(got, want)
    for a, b in zip(got_grads, want_grads, strict=True):
        assert torch.equal(a, b)
    # an architecture step asks for the architecture's gradients only
    net.recompute_tails = True
    arch = torch.autograd.grad(net(x, weights).square().sum(), [normal, reduce])
    for a, b in zip(arch, want_grads[:2], strict=True):
        assert torch.equal(a, b)
