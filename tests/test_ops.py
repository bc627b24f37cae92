"""The op registry, the standard op family and entry-point plugins."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import cnas
from cnas import ops

sys.path.insert(0, str(Path(__file__).with_name("scripts")))
from plugins import install_dummy_distribution, run_python

ALL_STANDARD = (*ops.DARTS_OPS, *ops.EXTRA_OPS, "conv_7x1_1x7")


def test_darts_ops_are_in_controller_order() -> None:
    assert cnas.DARTS_OPS == (
        "sep_conv_3x3",
        "sep_conv_5x5",
        "max_pool_3x3",
        "avg_pool_3x3",
        "none",
        "skip_connect",
        "dil_conv_3x3",
        "dil_conv_5x5",
    )


def test_every_standard_op_is_registered() -> None:
    assert set(ALL_STANDARD) <= set(ops.list_ops())


@pytest.mark.parametrize("name", ALL_STANDARD)
@pytest.mark.parametrize("stride", [1, 2])
def test_standard_op_maps_c_channels_and_strides(name: str, stride: int) -> None:
    op = ops.get_op(name)(8, stride, True)
    y = op(torch.randn(2, 8, 16, 16))
    assert y.shape == (2, 8, 16 // stride, 16 // stride)


def test_pooling_flag_marks_the_pooling_ops() -> None:
    pooling = {n for n in ALL_STANDARD if ops.get_op(n).pooling}
    assert pooling == {"max_pool_3x3", "max_pool_5x5", "max_pool_7x7", "avg_pool_3x3"}


def test_affine_false_builds_batchnorm_without_parameters() -> None:
    op = ops.get_op("sep_conv_3x3")(4, 1, False)
    bns = [m for m in op.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(bn.weight is None for bn in bns)


def test_none_op_returns_zeros_even_for_non_finite_input() -> None:
    x = torch.full((1, 2, 4, 4), float("inf"))
    assert torch.equal(ops.get_op("none")(2, 2, True)(x), torch.zeros(1, 2, 2, 2))


def test_skip_connect_is_identity_at_stride_1_and_factorized_reduce_at_stride_2() -> None:
    assert isinstance(ops.get_op("skip_connect")(4, 1, True), nn.Identity)
    assert isinstance(ops.get_op("skip_connect")(4, 2, True), ops.FactorizedReduce)


def test_factorized_reduce_pads_odd_inputs_and_needs_even_channels() -> None:
    fr = ops.FactorizedReduce(3, 6)
    assert fr(torch.randn(1, 3, 7, 7)).shape == (1, 6, 4, 4)
    with pytest.raises(ValueError, match="even number of output channels, got 5"):
        ops.FactorizedReduce(3, 5)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("size", [8, 7])
def test_factorized_reduce_matches_strided_convs_and_keeps_the_gradient_layout(
    channels_last: bool, size: int
) -> None:
    torch.manual_seed(0)
    fr = ops.FactorizedReduce(3, 6).double().train()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(2, 3, size, size, dtype=torch.float64).contiguous(memory_format=fmt)
    x.requires_grad_(True)
    out = fr(x)
    # The original's form: two stride-2 1x1 convolutions, the second one pixel offset.
    r = torch.nn.functional.pad(torch.relu(x), (size % 2, 0, size % 2, 0))
    ref = fr.bn(
        torch.cat(
            [
                torch.nn.functional.conv2d(r, fr.conv_1.weight, stride=2),
                torch.nn.functional.conv2d(r[:, :, 1:, 1:], fr.conv_2.weight, stride=2),
            ],
            dim=1,
        )
    )
    torch.testing.assert_close(out, ref)
    grad_out = torch.randn_like(out)
    (grad,) = torch.autograd.grad(out, x, grad_out)
    (grad_ref,) = torch.autograd.grad(ref, x, grad_out)
    torch.testing.assert_close(grad, grad_ref)
    assert grad.is_contiguous(memory_format=fmt)
    assert torch.autograd.gradcheck(fr, (x,))


def test_block_state_dict_names_follow_the_original_release() -> None:
    assert list(ops.SepConv(4, 4, 3, 1, 1).state_dict())[:2] == ["op.1.weight", "op.2.weight"]
    assert "conv_1.weight" in ops.FactorizedReduce(4, 4).state_dict()
    assert "op.1.weight" in ops.ReLUConvBN(4, 4, 1, 1, 0).state_dict()
    assert "op.2.weight" in ops.DilConv(4, 4, 3, 1, 2, 2).state_dict()


@pytest.fixture
def scratch_op() -> object:
    yield "scratch_op"
    if ops.is_registered("scratch_op"):
        ops.unregister_op("scratch_op")


def test_register_op_decorator_registers_and_returns_the_factory(scratch_op: str) -> None:
    def factory(C: int, stride: int, affine: bool) -> nn.Module:
        return nn.Identity()

    assert ops.register_op(scratch_op)(factory) is factory
    spec = ops.get_op(scratch_op)
    assert (spec.name, spec.factory, spec.source, spec.pooling) == (
        scratch_op,
        factory,
        "user",
        False,
    )
    assert isinstance(spec(4, 1, True), nn.Identity)


def test_duplicate_names_are_refused_unless_overridden(scratch_op: str) -> None:
    ops.register_op(scratch_op)(lambda C, s, a: nn.Identity())
    with pytest.raises(ValueError, match="'scratch_op' is already registered"):
        ops.register_op(scratch_op)(lambda C, s, a: nn.ReLU())
    with pytest.raises(ValueError, match="already registered \\(by cnas\\)"):
        ops.register_op("sep_conv_3x3")(lambda C, s, a: nn.ReLU())
    ops.register_op(scratch_op, override=True)(lambda C, s, a: nn.ReLU())
    assert isinstance(ops.get_op(scratch_op)(1, 1, True), nn.ReLU)


@pytest.mark.parametrize("name", ["", "3x3", "sep-conv", "a b", None])
def test_invalid_op_names_are_refused(name: object) -> None:
    with pytest.raises(ValueError, match="invalid op name"):
        ops.register_op(name)  # type: ignore[arg-type]


def test_non_callable_factory_is_refused() -> None:
    with pytest.raises(TypeError, match="factory must be callable"):
        ops.register_op("not_callable")(42)  # type: ignore[arg-type]


def test_unknown_op_suggests_close_matches() -> None:
    expected = "unknown op 'sep_conv3x3'; did you mean 'sep_conv_3x3'"
    with pytest.raises(ops.UnknownOpError, match=expected):
        ops.get_op("sep_conv3x3")
    with pytest.raises(KeyError, match="cannot unregister unknown op"):
        ops.unregister_op("sep_conv3x3")


def test_list_ops_filters_with_wildcards() -> None:
    assert ops.list_ops("dil_*") == ["dil_conv_3x3", "dil_conv_5x5"]
    assert ops.list_ops() == sorted(ops.list_ops())


def test_entry_point_plugin_from_an_installed_distribution(tmp_path: Path) -> None:
    install_dummy_distribution(
        tmp_path,
        """
        from torch import nn

        def shuffle_op(C, stride, affine):
            return nn.Sequential(nn.AvgPool2d(stride), nn.Conv2d(C, C, 1))

        def pool_op(C, stride, affine):
            return nn.MaxPool2d(3, stride, 1)
        pool_op.cnas_pooling = True
        """,
        """
        [cnas.ops]
        dummy_shuffle = cnas_dummy_ops:shuffle_op
        dummy_pool = cnas_dummy_ops:pool_op
        """,
    )
    result = run_python(
        """
        import cnas, torch
        spec = cnas.ops.get_op("dummy_shuffle")
        print(spec.source, spec.pooling, cnas.ops.get_op("dummy_pool").pooling)
        print(tuple(spec(4, 2, True)(torch.zeros(1, 4, 8, 8)).shape))
        g = cnas.Genotype([("dummy_shuffle", 0, 2), ("skip_connect", 1, 2)], None,
                          [("dummy_pool", 0, 2), ("dummy_shuffle", 1, 2)], None)
        print(sorted(g.ops))
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "cnas-dummy-ops False True"
    assert lines[1] == "(1, 4, 4, 4)"
    assert "dummy_pool" in lines[2]


def test_a_broken_plugin_is_reported_when_its_op_is_requested(tmp_path: Path) -> None:
    install_dummy_distribution(
        tmp_path,
        "raise ImportError('missing dependency foo')\n",
        "[cnas.ops]\nbroken_op = cnas_dummy_ops:factory\n",
    )
    result = run_python(
        """
        import cnas
        assert "sep_conv_3x3" in cnas.ops.list_ops()
        try:
            cnas.ops.get_op("broken_op")
        except KeyError as exc:
            print(exc)
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "op 'broken_op' failed to load from its plugin: cnas-dummy-ops" in result.stdout
    assert "missing dependency foo" in result.stdout
    assert "could not load op 'broken_op'" in result.stderr
