"""The model registry, the builders and the weights metadata (no downloads here)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

import cnas
from cnas.models import (
    CNAS_CIFAR10_Weights,
    CNAS_ImageNet_Weights,
    UnknownModelError,
    UrlSource,
    Weights,
)
from cnas.utils import count_madds, count_params


@pytest.fixture
def fake_download(monkeypatch: pytest.MonkeyPatch) -> list[Weights]:
    """Make weights "downloads" return a fixed state dict of the right network."""
    requested: list[Weights] = []

    def load(weights: Weights, **kwargs: object) -> dict[str, torch.Tensor]:
        requested.append(weights)
        torch.manual_seed(7)
        if weights.dataset == "imagenet-1k":
            return cnas.NetworkImageNet(48, 1000, 14, True, "CNAS").state_dict()
        return cnas.NetworkCIFAR(36, 10, 20, True, "CNAS").state_dict()

    monkeypatch.setattr("cnas.models._builders.load_state_dict", load)
    return requested


# -- registry --------------------------------------------------------------------------------


def test_list_models_is_sorted_and_filters_by_pattern_and_weights() -> None:
    names = cnas.models.list_models()
    assert names == sorted(names)
    assert {"cnas_imagenet", "cnas_cifar10", "darts_v2_cifar10", "pdarts_imagenet"} <= set(names)
    assert cnas.models.list_models("*_cifar10") == [n for n in names if n.endswith("_cifar10")]
    assert cnas.models.list_models(with_weights=True) == ["cnas_imagenet"]  # published only
    assert cnas.models.list_models("nothing*") == []


def test_unknown_model_names_get_close_matches() -> None:
    with pytest.raises(UnknownModelError, match="did you mean 'cnas_imagenet'") as info:
        cnas.models.get_model("cnas_imagent")
    assert isinstance(info.value, KeyError)
    assert "known: cnas_cifar10, cnas_imagenet" in str(info.value)
    with pytest.raises(UnknownModelError):
        cnas.models.get_model_weights("resnet50")


def test_duplicate_and_invalid_names_are_refused() -> None:
    with pytest.raises(ValueError, match="'cnas_imagenet' is already registered.*override=True"):
        cnas.models.register_model(name="cnas_imagenet")(lambda **kw: torch.nn.Identity())
    with pytest.raises(ValueError, match="invalid model name 'Bad-Name'"):
        cnas.models.register_model(name="Bad-Name")(lambda **kw: torch.nn.Identity())
    with pytest.raises(UnknownModelError, match="cannot unregister unknown model"):
        cnas.models.unregister_model("never_registered")


def test_registered_builders_are_reachable_by_name_until_unregistered() -> None:
    @cnas.models.register_model(name="test_tiny_net")
    def builder(**kwargs: object) -> torch.nn.Module:
        return cnas.NetworkCIFAR(4, 3, 3, False, "CNAS")

    try:
        assert "test_tiny_net" in cnas.models.list_models()
        assert cnas.models.get_model_weights("test_tiny_net") is None
        assert isinstance(cnas.models.get_model("test_tiny_net"), cnas.NetworkCIFAR)
    finally:
        cnas.models.unregister_model("test_tiny_net")
    assert "test_tiny_net" not in cnas.models.list_models()


def test_override_replaces_a_registered_builder() -> None:
    @cnas.models.register_model(name="test_replaced")
    def first(**kwargs: object) -> torch.nn.Module:
        return torch.nn.Identity()

    try:

        @cnas.models.register_model(name="test_replaced", override=True)
        def second(**kwargs: object) -> torch.nn.Module:
            return torch.nn.Linear(1, 1)

        assert isinstance(cnas.models.get_model("test_replaced"), torch.nn.Linear)
    finally:
        cnas.models.unregister_model("test_replaced")


def test_registered_weights_are_found_by_their_name() -> None:
    found = cnas.models.find_weights("CNAS_ImageNet_Weights.IMAGENET1K_V1")
    assert found is CNAS_ImageNet_Weights.IMAGENET1K_V1
    assert (
        cnas.models.find_weights(str(CNAS_CIFAR10_Weights.DEFAULT)) is CNAS_CIFAR10_Weights.DEFAULT
    )
    with pytest.raises(KeyError, match="known: CNAS_CIFAR10_Weights.CIFAR10_V1"):
        cnas.models.find_weights("ResNet50_Weights.DEFAULT")


def test_get_model_passes_arguments_to_the_builder() -> None:
    net = cnas.models.get_model("darts_v2_cifar10", C=8, layers=5, num_classes=3)
    assert isinstance(net, cnas.NetworkCIFAR)
    assert net.genotype == cnas.genotypes.DARTS_V2
    assert net.classifier.out_features == 3 and len(net.cells) == 5
    assert net.training  # no weights: as PyTorch builds modules


def test_hf_hub_names_take_their_weights_from_the_hub() -> None:
    with pytest.raises(ValueError, match="drop weights="):
        cnas.models.get_model("hf-hub:me/tiny", weights="DEFAULT")
    with pytest.raises(ValueError, match="drop pretrained="):
        cnas.models.get_model("hf-hub:me/tiny", pretrained=False)


def test_get_model_weights_names_each_builders_enum() -> None:
    assert cnas.models.get_model_weights("cnas_imagenet") is CNAS_ImageNet_Weights
    assert cnas.models.get_model_weights("cnas_cifar10") is CNAS_CIFAR10_Weights
    assert cnas.models.get_model_weights("darts_v2_imagenet") is None


# -- builders --------------------------------------------------------------------------------


def test_cnas_imagenet_is_the_original_release_network() -> None:
    net = cnas.models.cnas_imagenet()
    assert isinstance(net, cnas.NetworkImageNet)
    assert net.genotype == cnas.genotypes.CNAS and net.auxiliary
    assert (len(net.cells), net.classifier.out_features) == (14, 1000)
    assert count_params(net) == CNAS_ImageNet_Weights.DEFAULT.value.num_params
    madds = count_madds(net, (3, 224, 224)) - 768 * 1000
    assert madds == pytest.approx(CNAS_ImageNet_Weights.DEFAULT.value.madds, abs=0.5e6)


def test_cnas_cifar10_matches_its_metadata() -> None:
    net = cnas.models.cnas_cifar10()
    assert count_params(net) == CNAS_CIFAR10_Weights.DEFAULT.value.num_params == 3_695_374


@pytest.mark.parametrize(
    ("name", "genotype"),
    [
        ("darts_v1_cifar10", "DARTS_V1"),
        ("darts_v2_cifar10", "DARTS_V2"),
        ("pc_darts_cifar10", "PC_DARTS"),
        ("pdarts_cifar10", "PDARTS"),
    ],
)
def test_genotype_builders_use_the_published_cells(name: str, genotype: str) -> None:
    net = cnas.models.get_model(name, C=8, layers=5)
    assert net.genotype == cnas.genotypes.get_genotype(genotype)


def test_weights_load_strictly_and_return_an_eval_model(fake_download: list[Weights]) -> None:
    net = cnas.models.cnas_imagenet(weights=CNAS_ImageNet_Weights.DEFAULT)
    assert fake_download == [CNAS_ImageNet_Weights.IMAGENET1K_V1.value]
    assert not net.training
    torch.manual_seed(7)
    expected = cnas.NetworkImageNet(48, 1000, 14, True, "CNAS").state_dict()
    assert torch.equal(net.state_dict()["classifier.weight"], expected["classifier.weight"])


@pytest.mark.parametrize("name", ["DEFAULT", "IMAGENET1K_V1", "CNAS_ImageNet_Weights.DEFAULT"])
def test_weights_are_accepted_by_name(name: str, fake_download: list[Weights]) -> None:
    cnas.models.cnas_imagenet(weights=name)
    assert fake_download == [CNAS_ImageNet_Weights.IMAGENET1K_V1.value]


def test_pretrained_true_loads_the_default_weights_without_a_warning(
    fake_download: list[Weights],
) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net = cnas.models.cnas_imagenet(pretrained=True)
    assert caught == []
    assert fake_download == [CNAS_ImageNet_Weights.DEFAULT.value]
    assert isinstance(net, cnas.NetworkImageNet) and not net.training


def test_pretrained_is_also_the_first_positional_argument(fake_download: list[Weights]) -> None:
    net = cnas.models.cnas_imagenet(True)
    assert fake_download == [CNAS_ImageNet_Weights.DEFAULT.value] and not net.training
    assert cnas.models.cnas_cifar10(False, C=8, layers=5).training


def test_pretrained_false_builds_random_weights(fake_download: list[Weights]) -> None:
    net = cnas.models.cnas_cifar10(pretrained=False)
    assert fake_download == [] and net.training
    assert cnas.models.darts_v2_imagenet(pretrained=False, C=8, layers=3).training


def test_pretrained_reaches_the_builder_through_get_model(fake_download: list[Weights]) -> None:
    net = cnas.models.get_model("cnas_imagenet", pretrained=True)
    assert fake_download == [CNAS_ImageNet_Weights.DEFAULT.value] and not net.training


def test_pretrained_true_and_weights_together_are_an_error() -> None:
    with pytest.raises(ValueError, match=r"pass pretrained=True or weights=, not both"):
        cnas.models.cnas_imagenet(pretrained=True, weights="DEFAULT")
    with pytest.raises(ValueError, match=r"pretrained=True or weights="):
        cnas.models.get_model("cnas_cifar10", weights="DEFAULT", pretrained=True)


def test_pretrained_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match="pretrained must be True or False.*weights="):
        cnas.models.cnas_imagenet(CNAS_ImageNet_Weights.DEFAULT)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", [n for n in cnas.models.list_models() if "darts" in n])
def test_pretrained_true_on_a_builder_without_weights_is_an_error(name: str) -> None:
    with pytest.raises(ValueError, match=f"{name} has no pretrained weights"):
        cnas.models.get_model(name, pretrained=True)


def test_weights_of_another_builder_are_refused() -> None:
    with pytest.raises(ValueError, match="cnas_cifar10 cannot load CNAS_ImageNet_Weights"):
        cnas.models.cnas_cifar10(weights=CNAS_ImageNet_Weights.DEFAULT)
    with pytest.raises(ValueError, match="darts_v2_imagenet cannot load"):
        cnas.models.darts_v2_imagenet(weights=CNAS_ImageNet_Weights.DEFAULT)


def test_num_classes_must_match_the_weights() -> None:
    with pytest.raises(ValueError, match="the weights have 1000 classes, not num_classes=10"):
        cnas.models.cnas_imagenet(weights="DEFAULT", num_classes=10)


def test_an_unknown_weights_string_lists_what_is_valid(tmp_path: Path) -> None:
    members = r"a member of CNAS_ImageNet_Weights \(IMAGENET1K_V1, DEFAULT\)"
    with pytest.raises(FileNotFoundError, match=members):
        cnas.models.cnas_imagenet(weights=str(tmp_path / "missing.pth"))
    with pytest.raises(TypeError, match="weights must be"):
        cnas.models.cnas_imagenet(weights=3)  # type: ignore[arg-type]


def test_local_weight_files_load_and_may_drop_the_auxiliary_head(tmp_path: Path) -> None:
    source = cnas.NetworkCIFAR(4, 10, 3, True, "DARTS_V2")
    torch.save(source.state_dict(), tmp_path / "w.pth")
    net = cnas.models.darts_v2_cifar10(weights=tmp_path / "w.pth", C=4, layers=3)
    assert torch.equal(net.classifier.weight, source.classifier.weight) and not net.training
    slim = cnas.models.darts_v2_cifar10(
        weights=str(tmp_path / "w.pth"), C=4, layers=3, auxiliary=False
    )
    assert slim.auxiliary_head is None


def test_a_file_for_another_network_is_a_clear_error(tmp_path: Path) -> None:
    torch.save(cnas.NetworkCIFAR(4, 10, 3, True, "CNAS").state_dict(), tmp_path / "w.pth")
    with pytest.raises(cnas.models.WeightsFormatError, match=r"does not fit NetworkCIFAR") as info:
        cnas.models.darts_v2_cifar10(weights=tmp_path / "w.pth", C=4, layers=3)
    assert "missing" in str(info.value) and "unexpected" in str(info.value)


# -- weights metadata -------------------------------------------------------------------------


def test_default_is_an_alias_of_the_first_weights() -> None:
    assert CNAS_ImageNet_Weights.DEFAULT is CNAS_ImageNet_Weights.IMAGENET1K_V1
    assert CNAS_CIFAR10_Weights.DEFAULT is CNAS_CIFAR10_Weights.CIFAR10_V1
    assert list(CNAS_ImageNet_Weights) == [CNAS_ImageNet_Weights.IMAGENET1K_V1]
    assert str(CNAS_ImageNet_Weights.DEFAULT) == "CNAS_ImageNet_Weights.IMAGENET1K_V1"
    with pytest.raises(KeyError, match="members: IMAGENET1K_V1, DEFAULT"):
        CNAS_ImageNet_Weights.from_str("IMAGENET")


def test_imagenet_weights_carry_the_papers_numbers() -> None:
    w = CNAS_ImageNet_Weights.DEFAULT
    assert dict(w.metrics) == {"top1": 75.4, "top5": 92.6}
    assert w.num_classes == 1000
    assert w.value.madds == 576_000_000 and w.value.num_params == 5_318_368
    assert w.value.input_size == (3, 224, 224) and w.value.interpolation == "bilinear"
    assert w.meta["license"] == "bsd-3-clause" and w.meta["paper"].startswith("https://")


def test_categories_are_the_imagenet_and_cifar10_names() -> None:
    imagenet = CNAS_ImageNet_Weights.DEFAULT.categories
    assert imagenet is not None and len(imagenet) == 1000 and imagenet[0] == "tench"
    assert CNAS_CIFAR10_Weights.DEFAULT.categories == cnas.models.CIFAR10_CATEGORIES
    assert len(cnas.models.CIFAR10_CATEGORIES) == 10


def test_transforms_resize_crop_and_normalize() -> None:
    preprocess = CNAS_ImageNet_Weights.DEFAULT.transforms()
    image = torch.full((3, 300, 400), 255, dtype=torch.uint8)
    out = preprocess(image)
    assert out.shape == (3, 224, 224) and out.dtype == torch.float32
    expected = (1 - 0.485) / 0.229
    assert out[0, 0, 0].item() == pytest.approx(expected, rel=1e-5)


def test_url_sources_must_be_checkable() -> None:
    assert UrlSource("https://x/a/cnas-imagenet-602b7057.pth").hash_prefix == "602b7057"
    with pytest.raises(ValueError, match="sha256 prefix"):
        UrlSource("https://x/a/weights.pth")
    with pytest.raises(ValueError, match="64 lower-case hex"):
        UrlSource("https://x/a/weights.pth", sha256="abc")
    with pytest.raises(ValueError, match="'ORG/NAME'"):
        cnas.models.HubSource("no-slash")
