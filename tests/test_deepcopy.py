"""A deep copy of a network runs its own layers (the cached ReLU-sharing tails included)."""

from __future__ import annotations

import copy

import torch

import cnas
from cnas import MixedWeights, SearchSpace, SuperNet


def test_a_deep_copy_of_the_supernet_runs_its_own_layers() -> None:
    space = SearchSpace(["sep_conv_3x3", "skip_connect", "max_pool_3x3"], 2)
    net = SuperNet(space, C=4, num_classes=10, layers=3)
    twin = copy.deepcopy(net)
    x = torch.randn(2, 3, 8, 8)
    w = torch.ones(5, 3)
    archs = [space.sample(torch.Generator().manual_seed(0)), MixedWeights(w, w, space.ops)]
    before = [twin(x, arch) for arch in archs]
    with torch.no_grad():  # changing the original must not change the copy
        for p in net.parameters():
            p.add_(1.0)
    for arch, expected in zip(archs, before, strict=True):
        assert torch.equal(twin(x, arch), expected)


def test_a_deep_copy_of_an_evaluation_network_runs_its_own_layers() -> None:
    net = cnas.NetworkCIFAR(8, 10, 5, False, cnas.genotypes.CNAS).eval()
    twin = copy.deepcopy(net)
    x = torch.randn(2, 3, 16, 16)
    expected = twin(x)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    assert torch.equal(twin(x), expected)
