"""The Triton backend: fused kernels for the ``cnas`` ops, registered for CUDA.

(About 650 lines on purpose: this is the one module that imports ``triton``, so that the
rest of cnas never needs it; the kernels and their launchers share the addressing
scheme below and are read together.)

Importing this module needs ``triton``; ``cnas.kernels`` imports it only when Triton
imports and a CUDA device is present, and then registers the launchers below for the
CUDA dispatch key (``register``). The launchers take any tensors Triton can address, so
under ``TRITON_INTERPRET=1`` they also run on CPU tensors: that is how the tests check
them against the reference backend on machines without a GPU.

A tensor ``(N, C, *spatial)`` is addressed as ``(P, C, Q)`` with strides ``(sP, sC, 1)``:
row ``r`` in ``[0, P * Q)`` is ``(r // Q, r % Q)``. Contiguous tensors have ``P = N``,
``Q = prod(spatial)``; channels-last ones ``P = N * H * W``, ``Q = 1``, ``sC = 1``. A launch
takes up to ``MAX_INPUTS`` input pointers (a compile-time count ``K``); longer lists are
processed in groups.

Kernels (each input is read once per pass):

- ``_stats_kernel``: per-channel mean and M2 (sum of squared deviations) of every input,
  per block of rows, merged with Chan's formula; partial results per row split.
- ``_mix_kernel``: ``out = b + sum_k a[k] * y_k`` with per-channel ``a``, ``b``: the
  forward of ``mixed_bn_sum`` (``a = w * invstd``, ``b = -sum_k a[k] * mean[k]``).
- ``_dot_kernel``: per-channel ``sum(grad * y_k)`` for every input and ``sum(grad)``,
  reading ``grad`` once for all inputs.
- ``_grad_kernel``: ``grad_y_k = A[k] * grad + B[k] * y_k + C[k]``: BatchNorm's backward
  with the mixing weight folded in, all inputs from one read of ``grad``.
- ``_sum_fwd_kernel``, ``_sum_bwd_kernel``: ``mixed_sum`` on flat memory.

No ``from __future__ import annotations`` here: Triton's interpreter before 3.4 (torch
2.4 ships Triton 3.0) recognizes a compile-time argument only by the annotation object
``tl.constexpr``, not by the string the future import would make of it.
"""

import math
from collections.abc import Sequence

import torch
import triton
import triton.language as tl

from ._ops import (
    LIBRARY,
    check_mixed_bn_inputs,
    check_mixed_inputs,
    layout_of,
    same_layout,
    stats_dtype,
)

__all__ = [
    "MAX_INPUTS",
    "mixed_bn_sum",
    "mixed_bn_sum_backward",
    "mixed_sum",
    "mixed_sum_backward",
    "register",
]

MAX_INPUTS = 8
"""Input pointers per kernel launch."""

_ROW_SPLITS = 512  # target number of programs of the reductions (row splits x channel blocks)


@triton.jit
def _pick(
    j: tl.constexpr,
    p0,
    p1,
    p2,
    p3,
    p4,
    p5,
    p6,
    p7,
):
    # a chain of compile-time branches: the one pointer a static loop index selects
    if j == 0:  # noqa: SIM116 - Triton compiles constexpr branches, not dict lookups
        return p0
    elif j == 1:
        return p1
    elif j == 2:
        return p2
    elif j == 3:
        return p3
    elif j == 4:
        return p4
    elif j == 5:
        return p5
    elif j == 6:
        return p6
    else:
        return p7


@triton.jit
def _stats_kernel(
    y0,
    y1,
    y2,
    y3,
    y4,
    y5,
    y6,
    y7,
    ws_mean,
    ws_m2,
    R,
    C,
    Q,
    sP,
    sC,
    rows_per_split,
    n_splits,
    K: tl.constexpr,
    ACC: tl.constexpr,
    BLOCK_R: tl.constexpr,
    BLOCK_C: tl.constexpr,
):
    pid_c = tl.program_id(0)
    split = tl.program_id(1)
    cols = pid_c * BLOCK_C + tl.arange(0, BLOCK_C)
    cmask = cols < C
    start = split * rows_per_split
    end = tl.minimum(start + rows_per_split, R)
    for j in tl.static_range(K):
        ptr = _pick(j, y0, y1, y2, y3, y4, y5, y6, y7)
        mean = tl.zeros([BLOCK_C], dtype=ACC)
        m2 = tl.zeros([BLOCK_C], dtype=ACC)
        count = tl.zeros([BLOCK_C], dtype=ACC)
        for r0 in range(start, end, BLOCK_R):
            rows = r0 + tl.arange(0, BLOCK_R)
            rmask = rows < end
            offs = ((rows // Q) * sP + rows % Q)[:, None] + (cols * sC)[None, :]
            mask = rmask[:, None] & cmask[None, :]
            x = tl.load(ptr + offs, mask=mask, other=0.0).to(ACC)
            n_b = tl.sum(rmask.to(ACC), 0)
            b_mean = tl.sum(x, 0) / n_b
            d = tl.where(mask, x - b_mean[None, :], 0.0)
            b_m2 = tl.sum(d * d, 0)
            total = count + n_b
            delta = b_mean - mean
            mean = mean + delta * (n_b / total)
            m2 = m2 + b_m2 + delta * delta * (count * n_b / total)
            count = total
        out = (j * n_splits + split) * C + cols
        tl.store(ws_mean + out, mean, mask=cmask)
        tl.store(ws_m2 + out, m2, mask=cmask)


@triton.jit
def _mix_kernel(
    y0,
    y1,
    y2,
    y3,
    y4,
    y5,
    y6,
    y7,
    a,
    b,
    out,
    R,
    C,
    Q,
    sP,
    sC,
    K: tl.constexpr,
    HAS_B: tl.constexpr,
    ACCUMULATE: tl.constexpr,
    ACC: tl.constexpr,
    BLOCK_R: tl.constexpr,
    BLOCK_C: tl.constexpr,
):
    rows = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    cols = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    cmask = cols < C
    mask = (rows < R)[:, None] & cmask[None, :]
    offs = ((rows // Q) * sP + rows % Q)[:, None] + (cols * sC)[None, :]
    acc = tl.zeros([BLOCK_R, BLOCK_C], dtype=ACC)
    if HAS_B:
        acc += tl.load(b + cols, mask=cmask, other=0.0).to(ACC)[None, :]
    if ACCUMULATE:
        acc += tl.load(out + offs, mask=mask, other=0.0).to(ACC)
    for j in tl.static_range(K):
        ptr = _pick(j, y0, y1, y2, y3, y4, y5, y6, y7)
        scale = tl.load(a + j * C + cols, mask=cmask, other=0.0).to(ACC)
        acc += scale[None, :] * tl.load(ptr + offs, mask=mask, other=0.0).to(ACC)
    tl.store(out + offs, acc.to(out.dtype.element_ty), mask=mask)


@triton.jit
def _dot_kernel(
    g,
    y0,
    y1,
    y2,
    y3,
    y4,
    y5,
    y6,
    y7,
    ws_dot,
    ws_sum,
    R,
    C,
    Q,
    sP,
    sC,
    rows_per_split,
    n_splits,
    K: tl.constexpr,
    WITH_SUM: tl.constexpr,
    ACC: tl.constexpr,
    BLOCK_R: tl.constexpr,
    BLOCK_C: tl.constexpr,
    MAXK: tl.constexpr,
):
    pid_c = tl.program_id(0)
    split = tl.program_id(1)
    cols = pid_c * BLOCK_C + tl.arange(0, BLOCK_C)
    cmask = cols < C
    start = split * rows_per_split
    end = tl.minimum(start + rows_per_split, R)
    which = tl.arange(0, MAXK)[:, None]
    dots = tl.zeros([MAXK, BLOCK_C], dtype=ACC)
    sums = tl.zeros([BLOCK_C], dtype=ACC)
    for r0 in range(start, end, BLOCK_R):
        rows = r0 + tl.arange(0, BLOCK_R)
        offs = ((rows // Q) * sP + rows % Q)[:, None] + (cols * sC)[None, :]
        mask = (rows < end)[:, None] & cmask[None, :]
        gt = tl.load(g + offs, mask=mask, other=0.0).to(ACC)
        if WITH_SUM:
            sums += tl.sum(gt, 0)
        for j in tl.static_range(K):
            ptr = _pick(j, y0, y1, y2, y3, y4, y5, y6, y7)
            part = tl.sum(gt * tl.load(ptr + offs, mask=mask, other=0.0).to(ACC), 0)
            dots += tl.where(which == j, part[None, :], 0.0)
    out = (tl.arange(0, MAXK)[:, None] * n_splits + split) * C + cols[None, :]
    tl.store(ws_dot + out, dots, mask=(which < K) & cmask[None, :])
    if WITH_SUM:
        tl.store(ws_sum + split * C + cols, sums, mask=cmask)


@triton.jit
def _grad_kernel(
    g,
    y0,
    y1,
    y2,
    y3,
    y4,
    y5,
    y6,
    y7,
    o0,
    o1,
    o2,
    o3,
    o4,
    o5,
    o6,
    o7,
    coef_a,
    coef_b,
    coef_c,
    R,
    C,
    Q,
    sP,
    sC,
    K: tl.constexpr,
    AFFINE: tl.constexpr,
    ACC: tl.constexpr,
    BLOCK_R: tl.constexpr,
    BLOCK_C: tl.constexpr,
):
    rows = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    cols = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    cmask = cols < C
    mask = (rows < R)[:, None] & cmask[None, :]
    offs = ((rows // Q) * sP + rows % Q)[:, None] + (cols * sC)[None, :]
    gt = tl.load(g + offs, mask=mask, other=0.0).to(ACC)
    for j in tl.static_range(K):
        out_ptr = _pick(j, o0, o1, o2, o3, o4, o5, o6, o7)
        res = tl.load(coef_a + j * C + cols, mask=cmask, other=0.0).to(ACC)[None, :] * gt
        if AFFINE:
            ptr = _pick(j, y0, y1, y2, y3, y4, y5, y6, y7)
            yt = tl.load(ptr + offs, mask=mask, other=0.0).to(ACC)
            cb = tl.load(coef_b + j * C + cols, mask=cmask, other=0.0).to(ACC)
            cc = tl.load(coef_c + j * C + cols, mask=cmask, other=0.0).to(ACC)
            res += cb[None, :] * yt + cc[None, :]
        tl.store(out_ptr + offs, res.to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _sum_fwd_kernel(
    x0,
    x1,
    x2,
    x3,
    x4,
    x5,
    x6,
    x7,
    w,
    out,
    numel,
    K: tl.constexpr,
    ACCUMULATE: tl.constexpr,
    ACC: tl.constexpr,
    BLOCK: tl.constexpr,
):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < numel
    acc = tl.zeros([BLOCK], dtype=ACC)
    if ACCUMULATE:
        acc += tl.load(out + offs, mask=mask, other=0.0).to(ACC)
    for j in tl.static_range(K):
        ptr = _pick(j, x0, x1, x2, x3, x4, x5, x6, x7)
        acc += tl.load(w + j).to(ACC) * tl.load(ptr + offs, mask=mask, other=0.0).to(ACC)
    tl.store(out + offs, acc.to(out.dtype.element_ty), mask=mask)


@triton.jit
def _sum_bwd_kernel(
    g,
    x0,
    x1,
    x2,
    x3,
    x4,
    x5,
    x6,
    x7,
    o0,
    o1,
    o2,
    o3,
    o4,
    o5,
    o6,
    o7,
    w,
    ws_dot,
    numel,
    n_blocks,
    K: tl.constexpr,
    W_GRAD: tl.constexpr,
    ACC: tl.constexpr,
    BLOCK: tl.constexpr,
):
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < numel
    gt = tl.load(g + offs, mask=mask, other=0.0).to(ACC)
    for j in tl.static_range(K):
        out_ptr = _pick(j, o0, o1, o2, o3, o4, o5, o6, o7)
        grad = tl.load(w + j).to(ACC) * gt
        tl.store(out_ptr + offs, grad.to(out_ptr.dtype.element_ty), mask=mask)
        if W_GRAD:
            ptr = _pick(j, x0, x1, x2, x3, x4, x5, x6, x7)
            part = tl.sum(gt * tl.load(ptr + offs, mask=mask, other=0.0).to(ACC), 0)
            tl.store(ws_dot + j * n_blocks + pid, part)


# -- launchers ------------------------------------------------------------------------------


class _Geometry:
    """How the kernels address an ``(N, C, *spatial)`` tensor: rows ``R = P * Q``."""

    def __init__(self, y: torch.Tensor) -> None:
        n, c = y.shape[0], y.shape[1]
        self.C = c
        if layout_of(y) == torch.channels_last:
            self.P, self.Q, self.sP, self.sC = n * y.shape[2] * y.shape[3], 1, c, 1
        else:
            q = math.prod(y.shape[2:])
            self.P, self.Q, self.sP, self.sC = n, q, c * q, q
        self.R = self.P * self.Q
        self.block_c = min(triton.next_power_of_2(max(c, 1)), 64)
        self.block_r = max(16, 2048 // self.block_c)

    def splits(self) -> tuple[int, int]:
        """``(rows per split, number of splits)`` for the reductions, none empty."""
        c_blocks = triton.cdiv(self.C, self.block_c)
        wanted = max(1, min(triton.cdiv(self.R, self.block_r), _ROW_SPLITS // c_blocks))
        rows = triton.cdiv(triton.cdiv(self.R, wanted), self.block_r) * self.block_r
        return rows, triton.cdiv(self.R, rows)


def _acc(dtype: torch.dtype) -> tl.constexpr:
    return tl.float64 if dtype == torch.float64 else tl.float32


def _groups(n: int) -> list[range]:
    return [range(i, min(i + MAX_INPUTS, n)) for i in range(0, n, MAX_INPUTS)]


def _slots(tensors: Sequence[torch.Tensor], group: range) -> list[torch.Tensor]:
    picked = [tensors[i] for i in group]
    return picked + [picked[0]] * (MAX_INPUTS - len(picked))


def _prepare(xs: Sequence[torch.Tensor]) -> tuple[list[torch.Tensor], torch.memory_format]:
    out, fmt = same_layout(xs)
    if out[0].numel() >= 2**31:
        raise ValueError(
            f"the Triton kernels address at most 2**31 - 1 elements, got {out[0].numel()}"
        )
    return out, fmt


def _batch_stats(
    ys: list[torch.Tensor], geo: _Geometry, acc_dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-input, per-channel mean and biased variance, both ``(K, C)``."""
    k = len(ys)
    rows, n_splits = geo.splits()
    ws_mean = ys[0].new_empty((k, n_splits, geo.C), dtype=acc_dtype)
    ws_m2 = torch.empty_like(ws_mean)
    grid = (triton.cdiv(geo.C, geo.block_c), n_splits)
    for group in _groups(k):
        first = group.start
        _stats_kernel[grid](
            *_slots(ys, group),
            ws_mean[first:],
            ws_m2[first:],
            geo.R,
            geo.C,
            geo.Q,
            geo.sP,
            geo.sC,
            rows,
            n_splits,
            K=len(group),
            ACC=_acc(acc_dtype),
            BLOCK_R=geo.block_r,
            BLOCK_C=geo.block_c,
        )
    # Chan's formula over the splits (all but the last hold ``rows`` rows)
    counts = torch.full((n_splits,), float(rows), dtype=acc_dtype, device=ys[0].device)
    counts[-1] = geo.R - rows * (n_splits - 1)
    counts = counts[None, :, None]
    mean = (ws_mean * counts).sum(1) / geo.R
    m2 = ws_m2.sum(1) + (counts * (ws_mean - mean[:, None, :]) ** 2).sum(1)
    return mean, m2 / geo.R


def _mix(
    ys: list[torch.Tensor],
    a: torch.Tensor,
    b: torch.Tensor | None,
    out: torch.Tensor,
    geo: _Geometry,
    acc_dtype: torch.dtype,
) -> None:
    grid = (triton.cdiv(geo.R, geo.block_r), triton.cdiv(geo.C, geo.block_c))
    for n, group in enumerate(_groups(len(ys))):
        _mix_kernel[grid](
            *_slots(ys, group),
            a[group.start :],
            b if b is not None else a,
            out,
            geo.R,
            geo.C,
            geo.Q,
            geo.sP,
            geo.sC,
            K=len(group),
            HAS_B=b is not None and n == 0,
            ACCUMULATE=n > 0,
            ACC=_acc(acc_dtype),
            BLOCK_R=geo.block_r,
            BLOCK_C=geo.block_c,
        )


def _dots(
    grad: torch.Tensor, ys: list[torch.Tensor], geo: _Geometry, acc_dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-input, per-channel ``sum(grad * y_k)`` ``(K, C)`` and ``sum(grad)`` ``(C,)``."""
    k = len(ys)
    rows, n_splits = geo.splits()
    ws_dot = ys[0].new_empty((k, n_splits, geo.C), dtype=acc_dtype)
    ws_sum = ys[0].new_empty((n_splits, geo.C), dtype=acc_dtype)
    grid = (triton.cdiv(geo.C, geo.block_c), n_splits)
    for n, group in enumerate(_groups(k)):
        _dot_kernel[grid](
            grad,
            *_slots(ys, group),
            ws_dot[group.start :],
            ws_sum,
            geo.R,
            geo.C,
            geo.Q,
            geo.sP,
            geo.sC,
            rows,
            n_splits,
            K=len(group),
            WITH_SUM=n == 0,
            ACC=_acc(acc_dtype),
            BLOCK_R=geo.block_r,
            BLOCK_C=geo.block_c,
            MAXK=MAX_INPUTS,
        )
    return ws_dot.sum(1), ws_sum.sum(0)


def mixed_bn_sum(
    ys: list[torch.Tensor],
    w: torch.Tensor,
    running_mean: torch.Tensor | None,
    running_var: torch.Tensor | None,
    training: bool,
    momentum: float,
    eps: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``cnas::mixed_bn_sum`` with Triton kernels (same contract as the reference)."""
    check_mixed_bn_inputs(ys, w, running_mean, running_var, training)
    ys, fmt = _prepare(ys)
    acc = stats_dtype(ys[0].dtype)
    geo = _Geometry(ys[0])
    if training:
        mean, var = _batch_stats(ys, geo, acc)
    else:
        assert running_mean is not None
        assert running_var is not None
        mean, var = running_mean.to(acc), running_var.to(acc)
    invstd = torch.rsqrt(var + eps)
    a = (w.detach().to(acc)[:, None] * invstd).contiguous()
    b = -(a * mean).sum(0)
    out = torch.empty_like(ys[0], memory_format=fmt)
    _mix(ys, a, b, out, geo, acc)
    return out, mean.contiguous(), invstd


def mixed_bn_sum_backward(
    grad: torch.Tensor,
    ys: list[torch.Tensor],
    w: torch.Tensor,
    mean: torch.Tensor,
    invstd: torch.Tensor,
    training: bool,
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """``cnas::mixed_bn_sum_backward`` with Triton kernels."""
    ys, fmt = _prepare(ys)
    grad = grad.contiguous(memory_format=fmt)
    acc = stats_dtype(ys[0].dtype)
    geo = _Geometry(ys[0])
    dot, gsum = _dots(grad, ys, geo, acc)
    wk = w.detach().to(acc)[:, None]
    dotz = invstd * (dot - mean * gsum[None, :])  # sum(grad * normalized y_k), per channel
    grad_w = dotz.sum(1).to(w.dtype)
    coef_a = (wk * invstd).contiguous()
    if training:
        coef_b = (-coef_a * invstd * dotz / geo.R).contiguous()
        coef_c = (-coef_a * gsum[None, :] / geo.R - coef_b * mean).contiguous()
    else:
        coef_b = coef_c = coef_a
    grads = [torch.empty_like(y, memory_format=fmt) for y in ys]
    grid = (triton.cdiv(geo.R, geo.block_r), triton.cdiv(geo.C, geo.block_c))
    for group in _groups(len(ys)):
        _grad_kernel[grid](
            grad,
            *_slots(ys, group),
            *_slots(grads, group),
            coef_a[group.start :],
            coef_b[group.start :],
            coef_c[group.start :],
            geo.R,
            geo.C,
            geo.Q,
            geo.sP,
            geo.sC,
            K=len(group),
            AFFINE=training,
            ACC=_acc(acc),
            BLOCK_R=geo.block_r,
            BLOCK_C=geo.block_c,
        )
    return grads, grad_w


_SUM_BLOCK = 2048


def mixed_sum(xs: list[torch.Tensor], w: torch.Tensor) -> torch.Tensor:
    """``cnas::mixed_sum`` with Triton kernels."""
    check_mixed_inputs("mixed_sum", xs, w)
    xs, fmt = _prepare(xs)
    acc = stats_dtype(xs[0].dtype)
    out = torch.empty_like(xs[0], memory_format=fmt)
    numel = out.numel()
    wa = w.detach().to(acc).contiguous()
    grid = (triton.cdiv(numel, _SUM_BLOCK),)
    for n, group in enumerate(_groups(len(xs))):
        _sum_fwd_kernel[grid](
            *_slots(xs, group),
            wa[group.start :],
            out,
            numel,
            K=len(group),
            ACCUMULATE=n > 0,
            ACC=_acc(acc),
            BLOCK=_SUM_BLOCK,
        )
    return out


def mixed_sum_backward(
    grad: torch.Tensor, xs: list[torch.Tensor], w: torch.Tensor, w_grad: bool
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """``cnas::mixed_sum_backward`` with Triton kernels."""
    xs, fmt = _prepare(xs)
    grad = grad.contiguous(memory_format=fmt)
    acc = stats_dtype(xs[0].dtype)
    numel = grad.numel()
    n_blocks = triton.cdiv(numel, _SUM_BLOCK)
    wa = w.detach().to(acc).contiguous()
    grads = [torch.empty_like(x, memory_format=fmt) for x in xs]
    ws_dot = xs[0].new_zeros((len(xs), n_blocks), dtype=acc)
    for group in _groups(len(xs)):
        _sum_bwd_kernel[(n_blocks,)](
            grad,
            *_slots(xs, group),
            *_slots(grads, group),
            wa[group.start :],
            ws_dot[group.start :],
            numel,
            n_blocks,
            K=len(group),
            W_GRAD=w_grad,
            ACC=_acc(acc),
            BLOCK=_SUM_BLOCK,
        )
    return grads, ws_dot.sum(1).to(w.dtype)


def register() -> None:
    """Register the launchers as the CUDA kernels of the ``cnas`` ops."""
    for name, fn in (
        ("mixed_bn_sum", mixed_bn_sum),
        ("mixed_bn_sum_backward", mixed_bn_sum_backward),
        ("mixed_sum", mixed_sum),
        ("mixed_sum_backward", mixed_sum_backward),
    ):
        torch.library.register_kernel(f"cnas::{name}", "cuda", fn, lib=LIBRARY)
