"""NetworkCIFAR / NetworkImageNet: sizes, state-dict layout, heads, drop-path; the layout of
the ``cnas.models`` package."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

import cnas
from cnas.genotypes import CNAS, DARTS_V2
from cnas.utils import count_madds, count_params


@pytest.fixture(scope="module")
def imagenet() -> cnas.NetworkImageNet:
    return cnas.NetworkImageNet(48, 1000, 14, True, CNAS)


def test_cifar_sizes_match_the_papers() -> None:
    assert count_params(cnas.NetworkCIFAR(36, 10, 20, True, CNAS)) == 3_695_374
    assert count_params(cnas.NetworkCIFAR(36, 10, 20, False, DARTS_V2)) == 3_349_342


def test_auxiliary_head_is_excluded_by_default_but_countable() -> None:
    net = cnas.NetworkCIFAR(36, 10, 20, True, CNAS)
    aux = sum(p.numel() for p in net.auxiliary_head.parameters())  # type: ignore[union-attr]
    assert count_params(net, exclude=()) == 3_695_374 + aux


def test_imagenet_size_and_multiply_adds(imagenet: cnas.NetworkImageNet) -> None:
    assert count_params(imagenet) == 5_318_368
    madds = count_madds(imagenet, (3, 224, 224))
    classifier = 768 * 1000
    assert madds - classifier == pytest.approx(576e6, abs=0.5e6)  # the paper's 576M
    assert count_madds(imagenet, (2, 3, 224, 224)) == madds  # per image


def test_count_madds_restores_training_mode_and_checks_input_size() -> None:
    net = cnas.NetworkCIFAR(8, 10, 5, False, CNAS).train()
    count_madds(net, (3, 32, 32))
    assert net.training
    with pytest.raises(ValueError, match="input_size must be"):
        count_madds(net, (32, 32))


def test_imagenet_state_dict_uses_the_original_release_layout(
    imagenet: cnas.NetworkImageNet,
) -> None:
    sd = imagenet.state_dict()
    expected_shapes = {
        "stem0.0.weight": (24, 3, 3, 3),
        "stem0.1.running_mean": (24,),
        "stem0.3.weight": (48, 24, 3, 3),
        "stem1.1.weight": (48, 48, 3, 3),
        "stem1.2.weight": (48,),
        # cell 0 follows the strided stem, so input 0 is factorized-reduced
        "cells.0.preprocess0.conv_1.weight": (24, 48, 1, 1),
        "cells.0.preprocess0.conv_2.weight": (24, 48, 1, 1),
        "cells.0.preprocess1.op.1.weight": (48, 48, 1, 1),
        # CNAS normal edge 0 is dil_conv_3x3: depthwise then pointwise conv
        "cells.0._ops.0.op.1.weight": (48, 1, 3, 3),
        "cells.0._ops.0.op.2.weight": (48, 48, 1, 1),
        # edge 1 is sep_conv_3x3
        "cells.0._ops.1.op.5.weight": (48, 1, 3, 3),
        # cell 4 is the first reduction cell (96 channels); its edge 1 is a strided skip
        "cells.4._ops.1.conv_1.weight": (48, 96, 1, 1),
        "auxiliary_head.features.2.weight": (128, 768, 1, 1),
        "auxiliary_head.features.5.weight": (768, 128, 2, 2),
        "auxiliary_head.classifier.weight": (1000, 768),
        "classifier.weight": (1000, 768),
        "classifier.bias": (1000,),
    }
    for key, shape in expected_shapes.items():
        assert tuple(sd[key].shape) == shape, key
    assert len(imagenet.cells) == 14
    # the ImageNet auxiliary head has no BatchNorm after its 768-channel conv
    assert "auxiliary_head.features.6.weight" not in sd
    assert all(
        k.split(".")[0] in {"stem0", "stem1", "cells", "auxiliary_head", "classifier"} for k in sd
    )


def test_state_dict_round_trips_with_strict_loading(imagenet: cnas.NetworkImageNet) -> None:
    other = cnas.NetworkImageNet(48, 1000, 14, True, "CNAS")
    other.load_state_dict(imagenet.state_dict(), strict=True)
    with pytest.raises(RuntimeError, match=r"size mismatch|Missing key"):
        cnas.NetworkImageNet(48, 1000, 14, True, DARTS_V2).load_state_dict(
            imagenet.state_dict(), strict=True
        )


def test_cifar_state_dict_keys() -> None:
    sd = cnas.NetworkCIFAR(36, 10, 20, True, CNAS).state_dict()
    assert tuple(sd["stem.0.weight"].shape) == (108, 3, 3, 3)
    assert "auxiliary_head.features.6.weight" in sd  # the CIFAR head keeps that BatchNorm
    assert tuple(sd["classifier.weight"].shape) == (10, 576)


def test_forward_returns_logits_and_forward_with_aux_adds_aux_logits_in_training() -> None:
    net = cnas.NetworkCIFAR(8, 10, 6, True, CNAS)
    x = torch.randn(2, 3, 32, 32)
    net.train()
    logits, aux = net.forward_with_aux(x)
    assert logits.shape == (2, 10) and aux is not None and aux.shape == (2, 10)
    net.eval()
    out = net(x)
    assert isinstance(out, torch.Tensor) and out.shape == (2, 10)
    logits, aux = net.forward_with_aux(x)
    assert aux is None
    torch.testing.assert_close(logits, out)


def test_network_without_auxiliary_never_returns_aux_logits() -> None:
    net = cnas.NetworkCIFAR(8, 10, 6, False, CNAS).train()
    assert net.forward_with_aux(torch.randn(2, 3, 32, 32))[1] is None
    assert net.auxiliary_head is None and not net.auxiliary


def test_imagenet_forward_in_eval_mode() -> None:
    net = cnas.NetworkImageNet(8, 7, 3, True, CNAS, dropout=0.2).eval()
    out = net(torch.randn(1, 3, 64, 64))
    assert out.shape == (1, 7)


def test_drop_path_applies_only_in_training_and_keeps_identities() -> None:
    net = cnas.NetworkCIFAR(8, 10, 3, False, CNAS)
    x = torch.randn(4, 3, 16, 16)
    net.eval()
    net.drop_path_prob = 0.5
    torch.testing.assert_close(net(x), net(x))  # no randomness at eval
    cell = net.cells[0]
    cell.train()
    s = torch.randn(4, 24, 16, 16)
    torch.manual_seed(1)
    a = cell(s, s, 0.0)
    torch.manual_seed(1)
    b = cell(s, s, 0.9)
    assert not torch.allclose(a, b)


def test_drop_path_zeroes_whole_samples_and_rescales() -> None:
    x = torch.ones(1000, 2, 2, 2)
    y = cnas.models.drop_path(x, 0.25)
    per_sample = y.flatten(1)
    kept = per_sample[per_sample != 0]
    torch.testing.assert_close(kept, torch.full_like(kept, 1 / 0.75))
    assert (per_sample == 0).all(dim=1).float().mean().item() == pytest.approx(0.25, abs=0.06)
    assert cnas.models.drop_path(x, 0.0) is x


def test_networks_accept_genotype_names_and_files(tmp_path: pytest.TempPathFactory) -> None:
    path = CNAS.save(tmp_path / "g.json")  # type: ignore[operator]
    assert cnas.NetworkCIFAR(8, 10, 3, False, str(path)).genotype == CNAS
    assert cnas.NetworkCIFAR(8, 10, 3, False, "cnas").genotype is CNAS
    with pytest.raises(KeyError, match="unknown genotype"):
        cnas.NetworkCIFAR(8, 10, 3, False, "CNAZ")


def test_five_node_genotypes_with_partial_concat_build_and_run() -> None:
    net = cnas.NetworkCIFAR(8, 10, 3, True, "AmoebaNet").eval()
    assert net(torch.randn(1, 3, 32, 32)).shape == (1, 10)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"C": 0}, "C must be a positive integer, got 0"),
        ({"layers": -1}, "layers must be a positive integer"),
        ({"num_classes": 2.5}, "num_classes must be a positive integer"),
    ],
)
def test_network_arguments_are_validated(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "C": 8,
        "num_classes": 10,
        "layers": 3,
        "auxiliary": False,
        "genotype": CNAS,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        cnas.NetworkCIFAR(**args)  # type: ignore[arg-type]


def test_imagenet_needs_even_channels_and_valid_dropout() -> None:
    with pytest.raises(ValueError, match="even C"):
        cnas.NetworkImageNet(47, 10, 3, False, CNAS)
    with pytest.raises(ValueError, match="dropout must be in"):
        cnas.NetworkImageNet(48, 10, 3, False, CNAS, dropout=1.0)


def test_channels_last_training_keeps_every_activation_gradient_channels_last() -> None:
    # A gradient in the other layout sends CPU kernels down slow paths; the pooling head,
    # FactorizedReduce and the subsampled dilated convs must hand back channels-last ones.
    net = cnas.NetworkCIFAR(8, 10, 6, True, CNAS).train().to(memory_format=torch.channels_last)
    net.drop_path_prob = 0.2
    layouts: list[tuple[str, bool]] = []

    def record(name: str) -> Callable[[nn.Module, object, object], None]:
        def hook(module: nn.Module, inputs: object, output: object) -> None:
            if isinstance(output, torch.Tensor) and output.dim() == 4 and output.requires_grad:
                output.register_hook(
                    lambda g: layouts.append(
                        (name, g.is_contiguous(memory_format=torch.channels_last))
                    )
                )

        return hook

    for name, module in net.named_modules():
        if isinstance(module, nn.BatchNorm2d):
            module.register_forward_hook(record(name))
    x = torch.randn(2, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    logits, aux = net.forward_with_aux(x.requires_grad_(True))
    assert aux is not None
    (logits.sum() + aux.sum()).backward()
    assert len(layouts) > 50
    assert [name for name, ok in layouts if not ok] == []
    assert x.grad is not None and x.grad.is_contiguous(memory_format=torch.channels_last)


def test_gradients_flow_to_every_parameter_in_training() -> None:
    net = cnas.NetworkCIFAR(8, 10, 6, True, CNAS).train()
    logits, aux = net.forward_with_aux(torch.randn(2, 3, 32, 32))
    assert aux is not None
    (logits.sum() + aux.sum()).backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None]
    assert missing == []
