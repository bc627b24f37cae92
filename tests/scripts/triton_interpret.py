"""Run the Triton kernels on CPU tensors (``TRITON_INTERPRET=1``) against the reference.

Usage: TRITON_INTERPRET=1 python triton_interpret.py

The variable must be set before Triton is imported, hence a script of its own (run by
``tests/test_kernels.py`` in a subprocess). Prints one line per case and exits with a
non-zero status at the first mismatch.
"""

from __future__ import annotations

import os
import sys

import torch

# bfloat16: the reference rounds each normalized input to bfloat16 before summing, the
# Triton kernels round once at the end; both sum in float32: one bfloat16 step apart
TOLERANCE = {
    torch.float32: (1e-4, 1e-5),
    torch.float64: (1e-10, 1e-12),
    torch.bfloat16: (2e-2, 2e-2),
}


def close(name: str, a: torch.Tensor, b: torch.Tensor, dtype: torch.dtype) -> None:
    rtol, atol = TOLERANCE[dtype]
    if a.shape != b.shape or a.dtype != b.dtype:
        sys.exit(f"{name}: {a.shape}/{a.dtype} != {b.shape}/{b.dtype}")
    if a.dim() == 4 and a.stride() != b.stride():
        sys.exit(f"{name}: strides {a.stride()} != {b.stride()}")
    if not torch.allclose(a.double(), b.double(), rtol=rtol, atol=atol):
        sys.exit(f"{name}: max abs difference {(a - b).abs().max().item():.3g}")


def main() -> None:
    if os.environ.get("TRITON_INTERPRET") != "1":
        raise SystemExit("set TRITON_INTERPRET=1 before running this script")
    # imported here, after the check: Triton reads the variable when it is imported
    from cnas.kernels import _reference as ref
    from cnas.kernels import _triton as tri

    torch.manual_seed(0)
    cases = [
        ((4, 6, 5, 5), torch.contiguous_format),
        ((4, 6, 5, 5), torch.channels_last),
        ((3, 5, 7), torch.contiguous_format),
        ((2, 70, 3, 3), torch.channels_last),  # more channels than one block
    ]
    for shape, fmt in cases:
        for dtype in (torch.float32, torch.float64, torch.bfloat16):
            for k in (1, 3, 10) if dtype != torch.bfloat16 else (3,):  # 10: two launches
                ys = [
                    (2 * torch.randn(shape, dtype=dtype) + 1).contiguous(memory_format=fmt)
                    for _ in range(k)
                ]
                w = torch.randn(k, dtype=torch.float32 if dtype == torch.bfloat16 else dtype)
                g = torch.randn(shape, dtype=dtype).contiguous(memory_format=fmt)
                rm = torch.randn(k, shape[1], dtype=w.dtype)
                rv = torch.rand(k, shape[1], dtype=w.dtype) + 0.5
                tag = f"{shape} {fmt} {dtype} K={k}"
                for training in (True, False):
                    args = (ys, w, None if training else rm, None if training else rv)
                    a = tri.mixed_bn_sum(*args, training, 0.1, 1e-5)
                    b = ref.mixed_bn_sum(*args, training, 0.1, 1e-5)
                    for name, x, y in zip(("out", "mean", "invstd"), a, b, strict=True):
                        close(f"{tag} training={training} mixed_bn_sum {name}", x, y, dtype)
                    ga = tri.mixed_bn_sum_backward(g, ys, w, a[1], a[2], training)
                    gb = ref.mixed_bn_sum_backward(g, ys, w, b[1], b[2], training)
                    for i, (x, y) in enumerate(zip(ga[0], gb[0], strict=True)):
                        close(f"{tag} training={training} grad y{i}", x, y, dtype)
                    close(f"{tag} training={training} grad w", ga[1], gb[1], dtype)
                close(f"{tag} mixed_sum", tri.mixed_sum(ys, w), ref.mixed_sum(ys, w), dtype)
                for w_grad in (True, False):
                    ga = tri.mixed_sum_backward(g, ys, w, w_grad)
                    gb = ref.mixed_sum_backward(g, ys, w, w_grad)
                    for i, (x, y) in enumerate(zip(ga[0], gb[0], strict=True)):
                        close(f"{tag} mixed_sum grad x{i}", x, y, dtype)
                    if w_grad:
                        close(f"{tag} mixed_sum grad w", ga[1], gb[1], dtype)
                print(f"ok {tag}")
    print("all Triton kernels match the reference")


if __name__ == "__main__":
    main()
