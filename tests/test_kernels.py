"""The ``cnas`` custom operators: registration, numerics, running statistics, compile."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F

import cnas.kernels
import cnas.ops
from cnas.kernels import mixed_bn_sum, mixed_sum, recomputed_conv

SCRIPTS = Path(__file__).with_name("scripts")
LAYOUTS = [
    pytest.param(torch.contiguous_format, id="contiguous"),
    pytest.param(torch.channels_last, id="channels_last"),
]
# every device this machine has: on a GPU machine the same checks run the Triton kernels
DEVICES = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]


def inputs(
    k: int,
    fmt: torch.memory_format,
    dtype: torch.dtype = torch.float32,
    shape: tuple[int, ...] = (4, 6, 5, 5),
    device: str = "cpu",
) -> tuple[list[torch.Tensor], torch.Tensor]:
    ys = [
        (1.5 * torch.randn(shape, dtype=dtype) + 0.5)
        .to(device)
        .contiguous(memory_format=fmt)
        .requires_grad_()
        for _ in range(k)
    ]
    w = torch.softmax(torch.randn(k, dtype=torch.float64 if dtype == torch.float64 else None), 0)
    return ys, w.to(device).requires_grad_()


def reference_bn_sum(ys: list[torch.Tensor], w: torch.Tensor) -> torch.Tensor:
    """The composition of stock ops the kernel replaces."""
    return sum(w[k] * F.batch_norm(y, None, None, training=True) for k, y in enumerate(ys))  # type: ignore[return-value]


# opcheck's test_aot_dispatch_dynamic reads ``.grad`` of the non-leaf copies it makes of the
# sample inputs; torch itself warns about that. Nothing in cnas triggers the warning.
OPCHECK_WARNING = "ignore:The .grad attribute of a Tensor that is not a leaf Tensor"


@pytest.mark.filterwarnings(OPCHECK_WARNING)
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("fmt", LAYOUTS)
def test_opcheck_mixed_bn_sum_in_training_and_eval(fmt: torch.memory_format, device: str) -> None:
    ys, w = inputs(3, fmt, device=device)
    torch.library.opcheck(torch.ops.cnas.mixed_bn_sum.default, (ys, w, None, None, True, 0.1, 1e-5))
    stats = (torch.randn(3, 6, device=device), torch.rand(3, 6, device=device) + 0.5)
    torch.library.opcheck(torch.ops.cnas.mixed_bn_sum.default, (ys, w, *stats, False, 0.1, 1e-5))


@pytest.mark.filterwarnings(OPCHECK_WARNING)
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("fmt", LAYOUTS)
def test_opcheck_mixed_sum(fmt: torch.memory_format, device: str) -> None:
    xs, w = inputs(3, fmt, device=device)
    torch.library.opcheck(torch.ops.cnas.mixed_sum.default, (xs, w))


@pytest.mark.filterwarnings(OPCHECK_WARNING)
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("fmt", LAYOUTS)
def test_opcheck_backward_ops(fmt: torch.memory_format, device: str) -> None:
    ys, w = inputs(2, fmt, device=device)
    ys = [y.detach() for y in ys]
    g = torch.randn(4, 6, 5, 5, device=device).contiguous(memory_format=fmt)
    _, mean, invstd = torch.ops.cnas.mixed_bn_sum(ys, w.detach(), None, None, True, 0.1, 1e-5)
    torch.library.opcheck(
        torch.ops.cnas.mixed_bn_sum_backward.default, (g, ys, w.detach(), mean, invstd, True)
    )
    torch.library.opcheck(torch.ops.cnas.mixed_sum_backward.default, (g, ys, w.detach(), True))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("fmt", LAYOUTS)
def test_mixed_bn_sum_passes_gradcheck_in_float64(fmt: torch.memory_format, device: str) -> None:
    ys, w = inputs(3, fmt, torch.float64, shape=(3, 2, 3, 3), device=device)
    assert torch.autograd.gradcheck(lambda w, *ys: mixed_bn_sum(ys, w), (w, *ys))
    opts: dict[str, Any] = {"dtype": torch.float64, "device": device}
    rm, rv = torch.randn(3, 2, **opts), torch.rand(3, 2, **opts) + 0.5
    assert torch.autograd.gradcheck(
        lambda w, *ys: mixed_bn_sum(ys, w, rm, rv, training=False), (w, *ys)
    )


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("fmt", LAYOUTS)
def test_mixed_sum_passes_gradcheck_in_float64(fmt: torch.memory_format, device: str) -> None:
    xs, w = inputs(3, fmt, torch.float64, shape=(2, 3, 2, 2), device=device)
    assert torch.autograd.gradcheck(lambda w, *xs: mixed_sum(xs, w), (w, *xs))


@pytest.mark.parametrize("fmt", LAYOUTS)
def test_mixed_bn_sum_equals_batch_norm_then_weighted_sum(fmt: torch.memory_format) -> None:
    ys, w = inputs(4, fmt, torch.float64)
    out = mixed_bn_sum(ys, w)
    expected = reference_bn_sum(ys, w)
    torch.testing.assert_close(out, expected)
    assert out.is_contiguous(memory_format=fmt)
    g = torch.randn_like(out)
    got = torch.autograd.grad(out, [w, *ys], g)
    want = torch.autograd.grad(expected, [w, *ys], g)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("fmt", LAYOUTS)
def test_mixed_sum_equals_the_weighted_sum(fmt: torch.memory_format) -> None:
    xs, w = inputs(3, fmt, torch.float64)
    out = mixed_sum(xs, w)
    expected = sum(w[k] * x for k, x in enumerate(xs))
    torch.testing.assert_close(out, expected)
    assert out.is_contiguous(memory_format=fmt)
    g = torch.randn_like(out)
    for a, b in zip(
        torch.autograd.grad(out, [w, *xs], g),
        torch.autograd.grad(expected, [w, *xs], g),  # type: ignore[arg-type]
        strict=True,
    ):
        torch.testing.assert_close(a, b)


def test_running_statistics_follow_batchnorm() -> None:
    bns = [torch.nn.BatchNorm2d(6, affine=False, momentum=0.2) for _ in range(3)]
    running_mean, running_var = torch.zeros(3, 6), torch.ones(3, 6)
    for _ in range(4):
        ys, w = inputs(3, torch.channels_last)
        ys = [y.detach() for y in ys]
        mixed_bn_sum(ys, w.detach(), running_mean, running_var, momentum=0.2)
        for bn, y in zip(bns, ys, strict=True):
            bn(y)
    torch.testing.assert_close(running_mean, torch.stack([bn.running_mean for bn in bns]))
    torch.testing.assert_close(running_var, torch.stack([bn.running_var for bn in bns]))
    # eval mode normalizes with the running statistics, as BatchNorm in eval does
    ys, w = inputs(3, torch.contiguous_format)
    out = mixed_bn_sum(ys, w, running_mean, running_var, training=False)
    expected = sum(w[k] * bn.eval()(y) for k, (bn, y) in enumerate(zip(bns, ys, strict=True)))
    torch.testing.assert_close(out, expected)


def test_eval_mode_leaves_running_statistics_alone() -> None:
    ys, w = inputs(2, torch.contiguous_format)
    running_mean, running_var = torch.randn(2, 6), torch.rand(2, 6) + 0.5
    before = running_mean.clone(), running_var.clone()
    mixed_bn_sum(ys, w, running_mean, running_var, training=False)
    assert torch.equal(running_mean, before[0]) and torch.equal(running_var, before[1])


@pytest.mark.parametrize("fmt", LAYOUTS)
def test_bfloat16_inputs_accumulate_in_float32(fmt: torch.memory_format) -> None:
    ys, w = inputs(6, fmt)
    low = [y.detach().to(torch.bfloat16).contiguous(memory_format=fmt) for y in ys]
    exact = [y.to(torch.float32) for y in low]  # the same values, in float32
    out = mixed_bn_sum(low, w.detach())
    assert out.dtype == torch.bfloat16 and out.is_contiguous(memory_format=fmt)
    # one bfloat16 rounding of each normalized term, then a float32 sum: within bf16 eps
    torch.testing.assert_close(
        out.float(), reference_bn_sum(exact, w.detach()), rtol=2e-2, atol=2e-2
    )
    s = mixed_sum(low, w.detach())
    expected = sum(w.detach()[k] * x for k, x in enumerate(exact))
    torch.testing.assert_close(s.float(), expected, rtol=1e-2, atol=1e-2)


def test_inputs_in_different_layouts_follow_the_first() -> None:
    ys, w = inputs(2, torch.channels_last)
    mixed = [ys[0], ys[1].contiguous()]
    out = mixed_bn_sum(mixed, w)
    assert out.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out, reference_bn_sum(ys, w))


def test_mismatched_inputs_are_named() -> None:
    ys, w = inputs(2, torch.contiguous_format)
    with pytest.raises(ValueError, match=r"input 1 has shape \(4, 6, 5, 4\)"):
        mixed_bn_sum([ys[0], ys[1][..., :4]], w)
    with pytest.raises(ValueError, match=r"w must have shape \(2,\).*got \(3,\)"):
        mixed_sum(ys, torch.ones(3))
    with pytest.raises(ValueError, match="input 1 has dtype torch.float64"):
        mixed_sum([ys[0], ys[1].double()], w)
    with pytest.raises(ValueError, match=r"running_mean must have shape \(2, 6\)"):
        mixed_bn_sum(ys, w, torch.zeros(6), torch.ones(2, 6))
    with pytest.raises(ValueError, match="eval mode .* needs running_mean"):
        mixed_bn_sum(ys, w, training=False)
    with pytest.raises(ValueError, match="at least one input"):
        mixed_sum([], torch.ones(0))


def test_cpu_runs_the_reference_backend() -> None:
    assert cnas.kernels.backend("cpu") == "reference"


def _supported_triton() -> bool:
    version = cnas.kernels._triton_version()
    return version is not None and version >= cnas.kernels.MIN_TRITON


def _python_stdout(code: str) -> str:
    """What ``code`` prints in a fresh interpreter with warnings as errors (it must pass)."""
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_runs_the_triton_backend_when_triton_imports() -> None:
    assert cnas.kernels.backend("cuda") == ("triton" if _supported_triton() else "reference")


def test_an_old_triton_leaves_cuda_to_the_reference_kernels() -> None:
    code = textwrap.dedent(
        """
        import sys, types
        import torch
        sys.modules["triton"] = types.SimpleNamespace(__version__="3.0.0")
        torch.cuda.is_available = lambda: True  # as on a GPU machine with torch 2.4's Triton
        import cnas.kernels
        print(cnas.kernels.backend("cuda"))
        """
    )
    assert _python_stdout(code) == "reference"


def test_package_imports_and_runs_without_triton() -> None:
    code = textwrap.dedent(
        """
        import sys
        import torch
        sys.modules["triton"] = None  # import triton now raises ImportError
        torch.cuda.is_available = lambda: True  # as on a GPU machine without Triton
        import cnas, cnas.kernels
        assert cnas.kernels.backend("cuda") == "reference", cnas.kernels.backend("cuda")
        out = cnas.kernels.mixed_bn_sum([torch.randn(2, 3, 4, 4)], torch.ones(1))
        assert out.shape == (2, 3, 4, 4)
        print("ok")
        """
    )
    assert _python_stdout(code) == "ok"


@pytest.mark.skipif(
    not _supported_triton(), reason="needs Triton 3.4+ (older ones get the reference kernels)"
)
def test_triton_kernels_match_the_reference_under_the_interpreter() -> None:
    env = dict(os.environ, TRITON_INTERPRET="1")
    result = subprocess.run(
        [sys.executable, "-W", "error", str(SCRIPTS / "triton_interpret.py")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
    )
    assert result.returncode == 0, (result.stdout[-2000:], result.stderr[-3000:])
    assert "all Triton kernels match the reference" in result.stdout


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cuda_kernels_match_the_cpu_reference(dtype: torch.dtype) -> None:
    for fmt in (torch.contiguous_format, torch.channels_last):
        ys, w = inputs(7, fmt, shape=(16, 32, 16, 16))
        ys = [y.detach().to(dtype).contiguous(memory_format=fmt) for y in ys]
        gpu = [y.cuda().requires_grad_() for y in ys]
        gw = w.detach().cuda().requires_grad_()
        out = mixed_bn_sum(gpu, gw) + mixed_sum(gpu, gw)
        g = torch.randn_like(out)
        grads = torch.autograd.grad(out, [gw, *gpu], g)
        cpu = [y.requires_grad_() for y in ys]
        cw = w.detach().requires_grad_()
        expected = mixed_bn_sum(cpu, cw) + mixed_sum(cpu, cw)
        want = torch.autograd.grad(expected, [cw, *cpu], g.cpu())
        tol = {"rtol": 2e-2, "atol": 2e-2} if dtype == torch.bfloat16 else {}
        torch.testing.assert_close(out.cpu().float(), expected.float(), **tol)
        for a, b in zip(grads, want, strict=True):
            torch.testing.assert_close(a.cpu().float(), b.float(), **tol)


class _MixedBlock(torch.nn.Module):
    """Two candidate convolutions through ``mixed_bn_sum`` plus a skip through ``mixed_sum``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv3 = torch.nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.conv1 = torch.nn.Conv2d(4, 4, 1, bias=False)
        self.alpha = torch.nn.Parameter(torch.randn(3))
        self.register_buffer("running_mean", torch.zeros(2, 4))
        self.register_buffer("running_var", torch.ones(2, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = torch.softmax(self.alpha, 0)
        r = torch.relu(x)
        ys = [self.conv3(r), self.conv1(r)]
        out = mixed_bn_sum(ys, w[:2], self.running_mean, self.running_var)
        return out + mixed_sum([x], w[2:])


def _compile_matches_eager(backend: str) -> None:
    eager = _MixedBlock().to(memory_format=torch.channels_last)
    compiled = _MixedBlock().to(memory_format=torch.channels_last)
    compiled.load_state_dict(eager.state_dict())
    x = torch.randn(2, 4, 6, 6).contiguous(memory_format=torch.channels_last)
    expected = eager(x)
    expected.square().sum().backward()
    fn = torch.compile(compiled, fullgraph=True, backend=backend)
    out = fn(x)
    out.square().sum().backward()
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(compiled.alpha.grad, eager.alpha.grad)
    torch.testing.assert_close(compiled.conv3.weight.grad, eager.conv3.weight.grad)
    torch.testing.assert_close(compiled.running_mean, eager.running_mean)
    torch.testing.assert_close(compiled.running_var, eager.running_var)


def test_torch_compile_fullgraph_traces_the_ops() -> None:
    # aot_eager: Dynamo and AOTAutograd trace the ops through their fake kernels and
    # autograd formulas (everything but Inductor's code generation), in seconds.
    torch._dynamo.reset()
    _compile_matches_eager("aot_eager")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("g++") is None, reason="Inductor on CPU needs a C++ compiler")
def test_torch_compile_fullgraph_with_inductor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Inductor's compiled code (hundreds of MB) goes to the test's own folder, not
    # to a cache in /tmp that outlives the run.
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    torch._dynamo.reset()
    _compile_matches_eager("inductor")


@pytest.mark.filterwarnings(OPCHECK_WARNING)
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("fmt", LAYOUTS)
def test_opcheck_max_pool2d(fmt: torch.memory_format, device: str) -> None:
    x = torch.randn(2, 3, 7, 7, device=device).contiguous(memory_format=fmt).requires_grad_()
    torch.library.opcheck(torch.ops.cnas.max_pool2d.default, (x, [3, 3], [2, 2], [1, 1]))


@pytest.mark.parametrize("fmt", LAYOUTS)
@pytest.mark.parametrize(("kernel", "stride", "padding"), [(3, 1, 1), (3, 2, 1), (5, 2, 2)])
def test_max_pool2d_equals_stock_max_pooling_ties_included(
    fmt: torch.memory_format, kernel: int, stride: int, padding: int
) -> None:
    x = torch.randn(2, 3, 9, 9)
    x[0, 0] = 1.0  # a constant plane: every window is a tie
    x = x.round(decimals=1).contiguous(memory_format=fmt).requires_grad_()  # more ties
    out = cnas.kernels.max_pool2d(x, kernel, stride, padding)
    expected = F.max_pool2d(x, kernel, stride, padding)
    assert torch.equal(out, expected)
    assert out.is_contiguous(memory_format=fmt)
    g = torch.randn_like(out)
    (got,) = torch.autograd.grad(out, x, g)
    (want,) = torch.autograd.grad(expected, x, g)
    assert torch.equal(got, want)


def test_max_pool2d_saves_only_its_input() -> None:
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    saved: list[torch.Tensor] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        saved.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        cnas.kernels.max_pool2d(x, 3, 1, 1)
    assert len(saved) == 1 and saved[0] is x
    saved.clear()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        F.max_pool2d(x, 3, 1, 1)
    assert any(t.dtype == torch.int64 for t in saved)  # what stock pooling keeps


def _separable_stages(
    fmt: torch.memory_format, dtype: torch.dtype = torch.float32, stride: int = 1
) -> tuple[list[torch.nn.Module], list[torch.nn.Module]]:
    """The two stages of a ``SepConv`` body after its leading ReLU: ``[dw, pw]`` and
    ``[bn, relu_, dw, pw]``, its BatchNorm of batch statistics only (as in the supernet)."""
    torch.manual_seed(0)
    sep = cnas.ops.SepConv(6, 6, 3, stride, 1, affine=False)
    for m in sep.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.track_running_stats, m.running_mean, m.running_var = False, None, None
    sep = sep.to(dtype).to(memory_format=fmt)  # type: ignore[call-overload]
    layers = list(sep.op)
    return layers[1:3], layers[3:7]


def _chain(x: torch.Tensor, stages: list[list[torch.nn.Module]], recompute: bool) -> torch.Tensor:
    for stage in stages:
        if recompute:
            x = recomputed_conv(x, stage[:-1], stage[-1])  # type: ignore[arg-type]
        else:
            for layer in stage:
                x = layer(x)
    return x


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("fmt", LAYOUTS)
def test_recomputed_conv_equals_the_layers_bit_for_bit(
    fmt: torch.memory_format, stride: int
) -> None:
    stages = list(_separable_stages(fmt, stride=stride))
    x = torch.relu(torch.randn(3, 6, 9, 9)).contiguous(memory_format=fmt).requires_grad_()
    params = [x, *(p for stage in stages for m in stage for p in m.parameters())]
    got = _chain(x, stages, recompute=True)
    want = _chain(x, stages, recompute=False)
    assert torch.equal(got, want)
    g = torch.randn_like(want)
    for a, b in zip(
        torch.autograd.grad(got, params, g), torch.autograd.grad(want, params, g), strict=True
    ):
        assert torch.equal(a, b)


def test_recomputed_conv_with_gemv_batchnorm_equals_the_layers() -> None:
    stages = list(_separable_stages(torch.channels_last))
    for stage in stages:
        for m in stage:
            cnas.ops._norm.use_gemv_batchnorm(m)
    x = torch.randn(3, 6, 9, 9).contiguous(memory_format=torch.channels_last).requires_grad_()
    params = [x, *(p for stage in stages for m in stage for p in m.parameters())]
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # the matrix-vector route runs on more than one thread only
    try:
        got = _chain(x, stages, recompute=True)
        want = _chain(x, stages, recompute=False)
        g = torch.randn_like(want)
        got_grads = torch.autograd.grad(got, params, g)
        want_grads = torch.autograd.grad(want, params, g)
    finally:
        torch.set_num_threads(threads)
    assert type(stages[1][0]) is cnas.ops.GemvBatchNorm2d
    assert torch.equal(got, want)
    for a, b in zip(got_grads, want_grads, strict=True):
        assert torch.equal(a, b)


def test_recomputed_conv_keeps_only_its_input() -> None:
    first, second = _separable_stages(torch.channels_last)
    x = torch.randn(2, 6, 8, 8).contiguous(memory_format=torch.channels_last)
    x.requires_grad_()
    params = {
        p.untyped_storage().data_ptr()
        for stage in (first, second)
        for m in stage
        for p in m.parameters()
    }
    saved: list[torch.Tensor] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        if t.untyped_storage().data_ptr() not in params:
            saved.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        b1 = recomputed_conv(x, first[:-1], first[-1])  # type: ignore[arg-type]
        recomputed_conv(b1, second[:-1], second[-1])  # type: ignore[arg-type]
    assert [t.data_ptr() for t in saved] == [x.data_ptr(), b1.data_ptr()]
    saved.clear()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        _chain(x, [first, second], recompute=False)
    full_size = {t.untyped_storage().data_ptr() for t in saved if t.numel() == x.numel()}
    assert len(full_size) == 5  # x, both depthwise outputs, the BatchNorm input, the ReLU's


def test_recomputed_conv_under_cpu_autocast_matches_the_layers() -> None:
    stages = list(_separable_stages(torch.channels_last))
    x = torch.randn(2, 6, 8, 8).contiguous(memory_format=torch.channels_last).requires_grad_()
    params = [x, *(p for stage in stages for m in stage for p in m.parameters())]
    results = []
    for recompute in (True, False):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = _chain(x, stages, recompute)
        results.append((out, torch.autograd.grad(out.float().square().sum(), params)))
    (got, got_grads), (want, want_grads) = results
    assert got.dtype == want.dtype == torch.bfloat16
    assert torch.equal(got, want)
    for a, b in zip(got_grads, want_grads, strict=True):
        assert a.dtype == b.dtype
        assert torch.equal(a, b)


def test_recomputed_conv_differentiates_twice() -> None:
    stages = list(_separable_stages(torch.contiguous_format, torch.float64))
    x = torch.randn(2, 6, 6, 6, dtype=torch.float64, requires_grad=True)
    weight = stages[1][-1].weight
    results = []
    for recompute in (True, False):
        (gx,) = torch.autograd.grad(
            _chain(x, stages, recompute).square().sum(), x, create_graph=True
        )
        results.append(torch.autograd.grad(gx.square().sum(), [x, weight]))
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_recomputed_conv_without_autograd_runs_the_layers() -> None:
    first, _ = _separable_stages(torch.contiguous_format)
    x = torch.randn(2, 6, 8, 8)
    with torch.no_grad():
        out = recomputed_conv(x, first[:-1], first[-1])  # type: ignore[arg-type]
    assert out.grad_fn is None
    assert torch.equal(out, first[1](first[0](x)))


def test_recompute_runs_takes_only_batchnorm_runs_before_a_plain_convolution() -> None:
    first, second = _separable_stages(torch.contiguous_format)
    cheap = lambda m: not (isinstance(m, torch.nn.Conv2d) and m.groups == 1)  # noqa: E731
    assert cnas.kernels.recompute_runs(first, cheap) is None  # ReLU -> dw -> pw: left alone
    body = cnas.kernels.recompute_runs([*first, *second], cheap)
    assert body is not None
    x = torch.randn(2, 6, 8, 8, requires_grad=True)
    saved: list[torch.Tensor] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        if t.numel() == x.numel():
            saved.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = body(x)
    assert torch.equal(out, _chain(x, [first, second], recompute=False))
    assert len({t.untyped_storage().data_ptr() for t in saved}) == 3  # x, dw, the BN input


def test_recomputed_conv_runs_the_layers_where_it_cannot_rebuild() -> None:
    first, second = _separable_stages(torch.contiguous_format)
    x = torch.randn(2, 6, 8, 8)
    # a prefix that starts in place would overwrite the input it keeps
    relu_first = [torch.nn.ReLU(inplace=True), *second[1:-1]]
    y = x.clone().requires_grad_()
    z = y * 1  # a non-leaf, which an in-place ReLU may write
    before = z.detach().clone()
    out = recomputed_conv(z, relu_first, second[-1])  # type: ignore[arg-type]
    assert out.grad_fn is not None and "Recomputed" not in type(out.grad_fn).__name__
    assert not torch.equal(z.detach(), before)  # the plain layers ran: the ReLU wrote z

    # vmap and forward-mode AD, which the recomputing function has no rules for
    xs = torch.randn(3, 2, 6, 8, 8, requires_grad=True)
    got = torch.func.vmap(lambda t: recomputed_conv(t, first[:-1], first[-1]))(xs)  # type: ignore[arg-type]
    assert torch.equal(got, torch.stack([first[1](first[0](t)) for t in xs]))
    import torch.autograd.forward_ad as fwad

    with warnings.catch_warnings(), fwad.dual_level():
        # torch's own jvp decompositions script functions, which torch deprecates
        warnings.simplefilter("ignore", FutureWarning)
        dual = fwad.make_dual(x, torch.ones_like(x))
        tangent = fwad.unpack_dual(recomputed_conv(dual, second[:-1], second[-1])).tangent  # type: ignore[arg-type]
    assert tangent is not None

    # hooks on a layer would run twice
    calls: list[int] = []
    handle = first[0].register_forward_hook(lambda *_: calls.append(1))
    try:
        out = recomputed_conv(x.requires_grad_(), first[:-1], first[-1])  # type: ignore[arg-type]
        out.sum().backward()
    finally:
        handle.remove()
    assert calls == [1]
