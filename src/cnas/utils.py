"""Model statistics: parameter counts and multiply-adds."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["count_madds", "count_params"]


def count_params(
    model: nn.Module, *, exclude: Sequence[str] = ("auxiliary_head",), trainable_only: bool = False
) -> int:
    """Count the parameters of ``model``.

    Args:
        model: Any module.
        exclude: Top-level submodule names whose parameters are not counted; by default
            the auxiliary head, which is dropped after training (papers report sizes
            without it). Pass ``()`` to count everything.
        trainable_only: Count only parameters with ``requires_grad``.

    Examples:
        >>> import cnas
        >>> cnas.utils.count_params(cnas.NetworkCIFAR(36, 10, 20, True, "CNAS"))
        3695374
    """
    skip = tuple(f"{name}." for name in exclude)
    return sum(
        p.numel()
        for name, p in model.named_parameters()
        if not name.startswith(skip) and (p.requires_grad or not trainable_only)
    )


def count_madds(model: nn.Module, input_size: Sequence[int]) -> int:
    """Count the multiply-adds of one forward pass of one image, in eval mode.

    Convolutions count ``out_elements * (in_channels / groups) * kh * kw``; linear layers
    ``in_features * out_features``. Normalization, pooling and activations are not
    counted, following the convention of the DARTS/CNAS papers.

    Args:
        model: The network; it runs once on zeros (in eval mode, without gradients) and
            keeps its training mode afterwards.
        input_size: ``(C, H, W)`` or ``(N, C, H, W)``; the count is per image.

    Examples:
        >>> import cnas
        >>> net = cnas.NetworkImageNet(48, 1000, 14, False, "CNAS")
        >>> round(cnas.utils.count_madds(net, (3, 224, 224)) / 1e6)
        577

    The paper's 576M for this network is the convolutions alone (576.4M); the classifier
    adds 0.77M.
    """
    size = tuple(int(s) for s in input_size)
    if len(size) == 3:
        size = (1, *size)
    if len(size) != 4 or min(size) < 1:
        raise ValueError(f"input_size must be (C, H, W) or (N, C, H, W), got {tuple(input_size)}")
    total = 0

    def conv_hook(module: nn.Module, inputs: object, output: torch.Tensor) -> None:
        nonlocal total
        assert isinstance(module, nn.Conv2d)
        kh, kw = module.kernel_size
        total += output.numel() * (module.in_channels // module.groups) * kh * kw

    def linear_hook(module: nn.Module, inputs: object, output: torch.Tensor) -> None:
        nonlocal total
        assert isinstance(module, nn.Linear)
        total += (output.numel() // module.out_features) * module.in_features * module.out_features

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(size, device=device, dtype=dtype))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return total // size[0]
