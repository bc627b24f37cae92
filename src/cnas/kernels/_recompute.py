"""A convolution whose input is rebuilt in backward from an earlier tensor, not saved.

In the second stage of a separable convolution (``BatchNorm -> ReLU -> depthwise conv ->
pointwise conv``), autograd keeps two full-size activations: the ReLU's output (for the
ReLU's and the depthwise convolution's backward) and the depthwise convolution's output
(for the pointwise convolution's weight gradient). The stage's input is kept in any case
(BatchNorm's backward needs it), and the layers up to the pointwise convolution are cheap
next to it (a depthwise convolution reads ``k*k`` values per output, a BatchNorm one or
two).

``recomputed_conv(x, prefix, conv)`` computes ``conv(prefix(x))`` and saves only ``x``.
Backward runs ``prefix`` on ``x`` again, in the autocast state of the forward pass, to
rebuild the convolution's input, and then calls ``aten::convolution_backward`` exactly as
``ConvolutionBackward0`` does (the convolution's forward is not run again). The rebuilt
input is the forward's input bit for bit (same kernels, same input), so values and
gradients equal those of the plain composition; the tests compare them.

The mixed supernet runs the separable convolutions' second stages through it (see
``SuperNet.recompute_tails``). ``conv`` must be a plain ``nn.Conv2d`` without bias and
with numeric padding, and ``prefix`` must be deterministic and free of side effects (no
running statistics, no dropout): it runs twice. Otherwise the layers simply run in
order: for another convolution, a prefix that starts in place (it would overwrite the
kept input), layers with hooks (they would run twice), without autograd, and under
``torch.compile``, ``torch.func`` transforms or forward-mode AD. With
``create_graph=True`` backward differentiates the rebuilt composition instead, which is
slower but exact to any order.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Sequence
from typing import Any, cast

import torch
from torch import nn

__all__ = ["is_plain_conv", "recompute_runs", "recomputed_conv"]

Layer = Callable[[torch.Tensor], torch.Tensor]


def _run(layers: Sequence[Layer], x: torch.Tensor) -> torch.Tensor:
    for layer in layers:
        x = layer(x)
    return x


_AutocastState = tuple[str, bool, torch.dtype, bool]


def _autocast_state(device_type: str) -> _AutocastState | None:
    """The autocast settings for ``device_type`` now, or None where autocast has none."""
    try:
        return (
            device_type,
            torch.is_autocast_enabled(device_type),
            torch.get_autocast_dtype(device_type),
            torch.is_autocast_cache_enabled(),
        )
    except (RuntimeError, ValueError):  # a device type without autocast
        return None


def _autocast(state: _AutocastState | None) -> contextlib.AbstractContextManager[Any]:
    """Autocast as it was in the forward pass (on or off), whatever it is in backward."""
    if state is None:
        return contextlib.nullcontext()
    device_type, enabled, dtype, cache = state
    return torch.autocast(device_type, dtype=dtype, enabled=enabled, cache_enabled=cache)


def _needed(ctx: Any) -> list[bool]:
    """Which of the tensor inputs (``x``, the weight, the prefix's parameters) this
    backward pass needs gradients for.

    ``ctx.needs_input_grad`` says which require grad. Within ``torch.autograd.grad`` with
    only some inputs, the engine's ``_will_engine_execute_node`` (where torch has it)
    also tells which non-leaf inputs lead to them, and the others are skipped. For a leaf
    (a weight) the engine does not tell during ``torch.autograd.grad``, so its gradient
    is computed whenever it requires grad; a caller that wants none (the DARTS
    architecture step) runs the forward with the weights not requiring grad.
    """
    needs = [bool(n) for n in ctx.needs_input_grad[2:]]
    will_execute = getattr(torch._C, "_will_engine_execute_node", None)
    edges = getattr(ctx, "next_functions", None)  # one per tensor input, in order
    if will_execute is None or edges is None:
        return needs
    found = []
    for need, (node, _) in zip(needs, edges, strict=True):
        if need and node is not None:
            # a leaf within autograd.grad raises: unknown, so computed
            with contextlib.suppress(RuntimeError, ValueError):
                need = bool(will_execute(node))
        found.append(need and node is not None)
    return found


class _RecomputedConv(torch.autograd.Function):
    """``conv(prefix(x))``, saving ``x`` (and the parameters) only."""

    @staticmethod
    def forward(
        ctx: Any,
        prefix: tuple[Layer, ...],
        conv: nn.Conv2d,
        x: torch.Tensor,
        weight: torch.Tensor,
        *params: torch.Tensor,
    ) -> torch.Tensor:
        ctx.prefix, ctx.conv = prefix, conv
        ctx.autocast = _autocast_state(x.device.type)
        # autograd is off in here: nothing of this is kept
        out: torch.Tensor = conv(_run(prefix, x))
        ctx.dtype = out.dtype  # what the convolution ran in (lower under autocast)
        # The parameters are saved for autograd's check that nothing changed them before
        # backward; backward differentiates with respect to the objects themselves.
        ctx.save_for_backward(x, weight, *params)
        ctx.params = params
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, weight, *_ = ctx.saved_tensors
        prefix, conv, params = ctx.prefix, ctx.conv, ctx.params
        need_x, need_w, *need_p = _needed(ctx)
        if not (need_x or need_w or any(need_p)):
            return (None,) * (4 + len(need_p))
        if torch.is_grad_enabled():  # create_graph=True: differentiate the composition
            return (None, None, *_differentiable_grads(ctx, x, conv.weight, params, grad))
        with torch.enable_grad(), _autocast(ctx.autocast):
            xd = x.detach().requires_grad_(need_x)
            a = _run(prefix, xd)
            a_conv = a.to(ctx.dtype)  # the input as the convolution saw it (autocast's cast)
        inputs = ([xd] if need_x else []) + [p for p, n in zip(params, need_p, strict=True) if n]
        need_a = bool(inputs) and a_conv.requires_grad
        grad_a, grad_w, _ = torch.ops.aten.convolution_backward(
            grad,
            a_conv,
            weight.detach().to(ctx.dtype),
            None,
            list(conv.stride),
            list(conv.padding),
            list(conv.dilation),
            False,
            [0] * len(conv.stride),
            conv.groups,
            [need_a, bool(need_w), False],
        )
        if grad_w is not None:
            grad_w = grad_w.to(weight.dtype)
        found: list[torch.Tensor | None] = []
        if need_a:
            found = list(torch.autograd.grad(a_conv, inputs, grad_a, allow_unused=True))
        it = iter(found)
        grad_x = next(it, None) if need_x else None
        grad_p = [next(it, None) if n else None for n in need_p]
        return (None, None, grad_x, grad_w if need_w else None, *grad_p)


def _differentiable_grads(
    ctx: Any,
    x: torch.Tensor,
    weight: torch.Tensor,
    params: Sequence[torch.Tensor],
    grad: torch.Tensor,
) -> list[torch.Tensor | None]:
    """The gradients of ``x``, the weight and ``params`` as a differentiable function of
    them and of ``grad``: the composition run again with autograd, ``x`` not detached."""
    tensors = [x, weight, *params]
    needs = _needed(ctx)
    with _autocast(ctx.autocast):
        out = ctx.conv(_run(ctx.prefix, x))
    inputs = [t for t, n in zip(tensors, needs, strict=True) if n]
    if not inputs:
        return [None] * len(tensors)
    grads = iter(torch.autograd.grad(out, inputs, grad, create_graph=True, allow_unused=True))
    return [next(grads) if n else None for n in needs]


def _has_hooks(module: nn.Module) -> bool:
    return bool(
        module._forward_hooks
        or module._forward_pre_hooks
        or module._backward_hooks
        or module._backward_pre_hooks
        or nn.modules.module._global_forward_hooks
        or nn.modules.module._global_forward_pre_hooks
        or nn.modules.module._global_backward_hooks
        or nn.modules.module._global_backward_pre_hooks
    )


def _transformed() -> bool:
    """Whether a functorch transform (vmap, grad) or forward-mode AD is active: the
    function has no rules for them, the plain layers do."""
    active = getattr(torch._C, "_are_functorch_transforms_active", None)
    if active is not None and active():
        return True
    return bool(torch.autograd.forward_ad._current_level >= 0)


def is_plain_conv(conv: nn.Module) -> bool:
    """Whether ``conv`` is a plain ``nn.Conv2d`` that ``recomputed_conv`` can end in: no
    subclass, no bias, zero padding given as numbers."""
    return (
        type(conv) is nn.Conv2d
        and conv.bias is None
        and conv.padding_mode == "zeros"
        and not isinstance(conv.padding, str)
    )


def recomputed_conv(x: torch.Tensor, prefix: Sequence[nn.Module], conv: nn.Conv2d) -> torch.Tensor:
    """``conv(prefix(x))`` that keeps only ``x`` for backward and runs ``prefix`` again there.

    Args:
        x: The input, kept for backward. Memory is saved where autograd keeps ``x``
            anyway (as the input of a BatchNorm or of another op).
        prefix: Cheap, deterministic layers without side effects that do not write to
            their input (a depthwise convolution, a BatchNorm with batch statistics only, a
            ReLU); they run again in backward. Their parameters get gradients as usual.
        conv: A plain ``nn.Conv2d`` without bias and with numeric padding.

    Returns:
        ``conv(prefix(x))``, equal to calling the layers in order; so are the gradients.
    """
    layers = tuple(prefix)
    if (
        not torch.is_grad_enabled()
        or torch.compiler.is_compiling()
        or not is_plain_conv(conv)
        or not layers
        or getattr(layers[0], "inplace", False)  # it would overwrite the kept input
        or any(_has_hooks(m) for m in (*layers, conv))  # they would run twice / not at all
        or _transformed()
    ):
        return conv(_run(layers, x))  # type: ignore[no-any-return]
    params: dict[int, torch.Tensor] = {}
    for layer in layers:
        for p in layer.parameters():
            params.setdefault(id(p), p)
    return _RecomputedConv.apply(  # type: ignore[no-any-return]
        layers, conv, x, conv.weight, *params.values()
    )


_Step = tuple[tuple[nn.Module, ...], nn.Conv2d | None]


def _run_steps(steps: tuple[_Step, ...], x: torch.Tensor) -> torch.Tensor:
    for layers, conv in steps:
        x = recomputed_conv(x, layers, conv) if conv is not None else _run(layers, x)
    return x


def recompute_runs(layers: Sequence[nn.Module], cheap: Callable[[nn.Module], bool]) -> Layer | None:
    """``layers`` in order, with each run of ``cheap`` layers that holds a BatchNorm and
    feeds a plain convolution through ``recomputed_conv``; None where no run qualifies.

    Such a run (``BatchNorm -> ReLU -> depthwise conv`` in the second stage of a separable
    convolution) keeps two full-size activations for backward, and its input is kept
    anyway (BatchNorm's backward needs it): rebuilding both costs a BatchNorm, a ReLU and
    a depthwise convolution. A run without a BatchNorm (``ReLU -> depthwise conv``) would
    save one activation for as much work, so it runs as it is.

    Args:
        layers: The layers, applied in order to the input of the result.
        cheap: Which layers may run twice: deterministic, without side effects, cheap
            next to a convolution. A run never starts with an in-place layer (it would
            overwrite the kept input).

    Returns:
        A function of the input, or None.
    """
    steps: list[_Step] = []
    run: list[nn.Module] = []  # cheap layers since the last other layer
    recomputed = False
    for layer in layers:
        if cheap(layer) and (run or not getattr(layer, "inplace", False)):
            run.append(layer)
            continue
        if is_plain_conv(layer) and any(isinstance(m, nn.BatchNorm2d) for m in run):
            steps.append((tuple(run), cast(nn.Conv2d, layer)))
            recomputed = True
        else:
            steps.append(((*run, layer), None))
        run = []
    if not recomputed:
        return None
    if run:
        steps.append((tuple(run), None))
    return functools.partial(_run_steps, tuple(steps))
