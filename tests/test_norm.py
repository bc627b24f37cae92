"""GemvBatchNorm2d: nn.BatchNorm2d with a matrix-vector backward for CPU channels-last
training on several threads (cnas.ops._norm)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import cnas
from cnas.distributed import CPUSyncBatchNorm
from cnas.ops import _norm
from cnas.ops._norm import GemvBatchNorm2d, use_gemv_batchnorm
from cnas.training import TrainConfig, Trainer

CL = torch.channels_last


@pytest.fixture
def two_threads() -> Iterator[None]:
    """The route is taken with more than one intra-op thread (the suite pins one)."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the calls of the matrix-vector route."""
    seen: list[int] = []
    apply = _norm._GemvBatchNormFn.apply

    def counting(*args: Any) -> Any:
        seen.append(1)
        return apply(*args)

    monkeypatch.setattr(_norm._GemvBatchNormFn, "apply", counting)
    return seen


def _pair(c: int, dtype: torch.dtype = torch.float64, **kwargs: Any) -> tuple[nn.Module, nn.Module]:
    ref = nn.BatchNorm2d(c, **kwargs).to(dtype)
    if ref.affine:
        with torch.no_grad():
            ref.weight.uniform_(0.5, 1.5)
            ref.bias.uniform_(-1, 1)
    return ref, use_gemv_batchnorm(copy.deepcopy(ref))


def _step(module: nn.Module, x: torch.Tensor, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.detach().clone().requires_grad_()
    y = module(x)
    y.backward(g)
    assert x.grad is not None
    return y, x.grad


@pytest.mark.usefixtures("two_threads")
@pytest.mark.parametrize(
    "kwargs",
    [{}, {"affine": False}, {"momentum": None}, {"track_running_stats": False}],
    ids=["affine", "affine-free", "cumulative", "untracked"],
)
@pytest.mark.parametrize("shape", [(4, 6, 5, 5), (2, 3, 1, 2), (8, 36, 7, 7), (4, 16, 5, 5)])
def test_equals_batchnorm2d(
    shape: tuple[int, ...], kwargs: dict[str, Any], calls: list[int]
) -> None:
    ref, gemv = _pair(shape[1], **kwargs)
    assert type(gemv) is GemvBatchNorm2d
    for _ in range(3):  # running statistics over several steps
        x = (torch.randn(shape, dtype=torch.float64) * 3 + 20).contiguous(memory_format=CL)
        g = torch.randn(shape, dtype=torch.float64).contiguous(memory_format=CL)
        y_ref, dx_ref = _step(ref, x, g)
        y, dx = _step(gemv, x, g)
        torch.testing.assert_close(y, y_ref)
        torch.testing.assert_close(dx, dx_ref)
        assert y.is_contiguous(memory_format=CL) and dx.is_contiguous(memory_format=CL)
    for name, p in ref.named_parameters():
        torch.testing.assert_close(dict(gemv.named_parameters())[name].grad, p.grad, msg=name)
    for key, value in ref.state_dict().items():
        torch.testing.assert_close(gemv.state_dict()[key], value, msg=key)
    assert len(calls) == 3


EPS32 = torch.finfo(torch.float32).eps


def _float32_bound(offset: float) -> float:
    """What float32 arithmetic allows for data with |mean| / std = ``offset``: a few
    epsilons, scaled by the offset. It does not depend on how a machine's kernels order
    their sums (ATen's channels-last kernel is 2-7x more precise than the BLAS route on
    AVX2 and less precise on AVX-512), and a one-pass ``E[x²] - mean²`` variance, whose
    error grows with ``offset²`` (3e-4 at offset 50), exceeds it."""
    return 16 * EPS32 * (1 + offset)


@pytest.mark.usefixtures("two_threads")
def test_float32_gradients_stay_within_float32_precision() -> None:
    # One pass over x for sum(g * (x - mean)): with |mean| / std = 50 the error must
    # stay within float32 precision for such data (against float64), as ATen's does.
    x64 = (torch.randn(16, 36, 16, 16, dtype=torch.float64) + 50).contiguous(memory_format=CL)
    g64 = torch.randn_like(x64)
    ref64, _ = _pair(36)
    _, dx64 = _step(ref64, x64, g64)
    ref32, gemv32 = _pair(36, torch.float32)
    with torch.no_grad():
        for m in (ref32, gemv32):
            m.weight.copy_(ref64.weight)
            m.bias.copy_(ref64.bias)
    _, dx_aten = _step(ref32, x64.float(), g64.float())
    _, dx_gemv = _step(gemv32, x64.float(), g64.float())
    scale = dx64.abs().max()
    aten_error = (dx_aten.double() - dx64).abs().max() / scale
    gemv_error = (dx_gemv.double() - dx64).abs().max() / scale
    assert aten_error < _float32_bound(50)  # the bound is one ATen's kernel meets too
    assert gemv_error < _float32_bound(50)


@pytest.mark.usefixtures("two_threads")
@pytest.mark.parametrize("offset", [0.0, 50.0, 500.0])
def test_float32_forward_stays_within_float32_precision(offset: float) -> None:
    # 36 channels: the matrix-vector forward. Its variance is two-pass (no cancellation),
    # so even with |mean| / std = 500 the output and the statistics stay within float32
    # precision for such data (against float64), as ATen's float32 kernel's do.
    x64 = (torch.randn(16, 36, 16, 16, dtype=torch.float64) + offset).contiguous(memory_format=CL)
    ref64, _ = _pair(36)
    ref32, gemv32 = _pair(36, torch.float32)
    with torch.no_grad():
        for m in (ref32, gemv32):
            m.weight.copy_(ref64.weight)
            m.bias.copy_(ref64.bias)
    ref64(x64)  # a first step, as the float32 modules take (running statistics)
    y64 = ref64(x64)
    for m in (ref32, gemv32):
        m(x64.float())

    def error(a: torch.Tensor, b: torch.Tensor) -> float:
        return float((a.detach().double() - b.detach()).abs().max() / b.detach().abs().max())

    y_aten, y_gemv = ref32(x64.float()), gemv32(x64.float())
    bound = _float32_bound(offset)
    assert error(y_aten, y64) <= bound
    assert error(y_gemv, y64) <= bound
    for name in ("running_mean", "running_var"):
        want = getattr(ref64, name)
        aten, gemv = getattr(ref32, name), getattr(gemv32, name)
        assert error(aten, want) <= bound, name
        assert error(gemv, want) <= bound, name


@pytest.mark.usefixtures("two_threads")
@pytest.mark.parametrize(("channels", "gemv_forward"), [(36, True), (12, True), (16, False)])
def test_forward_route_by_channel_count(
    channels: int, gemv_forward: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []
    forward = _norm._gemv_batch_norm

    def counting(*args: Any) -> Any:
        seen.append(1)
        return forward(*args)

    monkeypatch.setattr(_norm, "_gemv_batch_norm", counting)
    _, gemv = _pair(channels, torch.float32)
    gemv(torch.randn(4, channels, 6, 6).contiguous(memory_format=CL))
    assert len(seen) == (1 if gemv_forward else 0)


@pytest.mark.usefixtures("two_threads")
def test_gradcheck_and_gradgradcheck() -> None:
    x = torch.randn(3, 4, 3, 3, dtype=torch.float64).contiguous(memory_format=CL)
    w = torch.rand(4, dtype=torch.float64) + 0.5
    b = torch.rand(4, dtype=torch.float64)
    inputs = tuple(t.requires_grad_() for t in (x, w, b))

    def fn(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return _norm._GemvBatchNormFn.apply(x, w, b, None, None, 0.1, 1e-5)  # type: ignore[no-any-return]

    assert torch.autograd.gradcheck(fn, inputs)
    assert torch.autograd.gradgradcheck(fn, inputs)


@pytest.mark.parametrize(
    "case", ["eval", "nchw", "one-thread", "bfloat16", "autocast", "one-value-per-channel"]
)
def test_everything_else_is_batchnorm2d(case: str, calls: list[int]) -> None:
    torch.set_num_threads(1 if case == "one-thread" else 2)
    try:
        dtype = torch.bfloat16 if case == "bfloat16" else torch.float32
        ref, gemv = _pair(6, dtype)
        shape = (1, 6, 1, 1) if case == "one-value-per-channel" else (4, 6, 5, 5)
        x = torch.randn(shape, dtype=dtype)
        if case != "nchw":
            x = x.contiguous(memory_format=CL)
        if case == "eval":
            ref.eval()
            gemv.eval()
        if case == "one-value-per-channel":
            with pytest.raises(ValueError, match="more than 1 value per channel"):
                gemv(x)
            return
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=case == "autocast"):
            y_ref, y = ref(x), gemv(x)
        torch.testing.assert_close(y, y_ref)
        assert calls == []
    finally:
        torch.set_num_threads(1)


def test_switch_keeps_state_dict_and_leaves_subclasses_alone() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4), CPUSyncBatchNorm(4))
    keys = list(model.state_dict())
    assert use_gemv_batchnorm(model) is model
    assert type(model[1]) is GemvBatchNorm2d
    assert type(model[2]) is CPUSyncBatchNorm
    assert list(model.state_dict()) == keys
    plain = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4))
    plain.load_state_dict(model[:2].state_dict())  # loads both ways, strict


@pytest.mark.parametrize("channels_last", [True, False])
def test_trainer_switches_on_cpu_in_channels_last(tmp_path: Path, channels_last: bool) -> None:
    config = TrainConfig.preset(
        "synthetic", init_channels=4, layers=3, runtime={"channels_last": channels_last}
    )
    model = cnas.NetworkCIFAR(4, 4, 3, True, "CNAS")
    trainer = Trainer(model, config.replace(runtime={"device": "cpu", "progress": False}), tmp_path)
    kinds = {type(m) for m in trainer.model.modules() if isinstance(m, nn.BatchNorm2d)}
    assert kinds == ({GemvBatchNorm2d} if channels_last else {nn.BatchNorm2d})


@pytest.mark.usefixtures("two_threads")
def test_training_steps_match_plain_batchnorm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, calls: list[int]
) -> None:
    # A few Trainer steps on two threads: the weights equal those of plain nn.BatchNorm2d
    # up to float32 rounding, which two SGD steps through ReLUs and max-pools amplify.
    # How much, depends on the machine: the yardstick is how far plain BatchNorm itself
    # moves when only the thread count changes (3.6e-4 seen on an AVX2 CPU; the route
    # differed by 3.1e-4 there). A wrong formula moves the weights by far more.
    data = cnas.data.synthetic(num_samples=48, num_classes=4, image_size=32, seed=0)
    train = torch.utils.data.Subset(data, range(32))
    val = torch.utils.data.Subset(data, range(32, 48))

    def run(out: Path) -> dict[str, torch.Tensor]:
        torch.manual_seed(0)
        config = TrainConfig.preset(
            "synthetic", init_channels=4, layers=3, epochs=1, batch_size=16, drop_path_prob=0.2
        )
        model = cnas.NetworkCIFAR(4, 4, 3, True, "CNAS")
        trainer = Trainer(model, config.replace(runtime={"device": "cpu", "progress": False}), out)
        trainer.fit(train, val)
        return {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}

    def distance(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
        return max(float((a[k].double() - b[k].double()).abs().max()) for k in b)

    gemv = run(tmp_path / "gemv")
    assert calls, "the matrix-vector route was not taken"
    monkeypatch.setattr("cnas.training._trainer.use_gemv_batchnorm", lambda m: m)
    plain = run(tmp_path / "plain")
    torch.set_num_threads(1)
    plain_one_thread = run(tmp_path / "plain-1")
    assert gemv.keys() == plain.keys()
    noise = distance(plain_one_thread, plain)
    assert distance(gemv, plain) <= 4 * max(noise, 1e-5)
