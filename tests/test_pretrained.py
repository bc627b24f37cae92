"""save_pretrained / from_pretrained, the model card, ``cnas convert`` and the docs table."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

import cnas
from cnas.cli import main
from cnas.models import UrlSource, Weights, WeightsEnum
from cnas.models._catalog import markdown
from cnas.training import TrainConfig, Trainer

ROOT = Path(__file__).resolve().parents[1]
NETWORK_KEYS = {
    "network",
    "genotype",
    "init_channels",
    "layers",
    "num_classes",
    "auxiliary",
    "in_channels",
}


def tiny() -> cnas.NetworkCIFAR:
    return cnas.NetworkCIFAR(4, 10, 3, True, "DARTS_V2")


def same_tensors(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def front_matter(card: str) -> dict[str, Any]:
    """The YAML front matter of a model card (the subset the card uses: scalars, lists)."""
    assert card.startswith("---\n")
    block = card.split("---\n")[1]
    data: dict[str, Any] = {}
    key = ""
    for line in block.splitlines():
        if line.startswith("- "):
            data[key].append(json.loads(line[2:]))
        else:
            key, _, value = line.partition(":")
            data[key] = value.strip() if value.strip() else []
    return data


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


# -- save_pretrained / from_pretrained ----------------------------------------------------------


def test_save_pretrained_writes_hub_ready_files_that_load_back(tmp_path: Path) -> None:
    net = tiny()
    out = cnas.models.save_pretrained(net, tmp_path / "out", dataset="cifar10", repo_id="me/x")
    names = sorted(p.name for p in out.iterdir())
    assert names == ["README.md", "config.json", "model.safetensors"]
    config = json.loads((out / "config.json").read_text())
    assert set(config) >= NETWORK_KEYS
    assert config["dataset"] == "cifar10" and config["cnas_version"] == cnas.__version__
    assert config["categories"][0] == "airplane"
    again = cnas.models.from_pretrained(out)
    assert isinstance(again, cnas.NetworkCIFAR) and not again.training
    assert again.genotype == cnas.genotypes.DARTS_V2 and same_tensors(again, net)
    assert 'from_pretrained("hf-hub:me/x")' in (out / "README.md").read_text()


def test_save_pretrained_refuses_a_non_empty_folder_unless_told(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not empty"):
        cnas.models.save_pretrained(tiny(), tmp_path)
    assert not (tmp_path / "model.safetensors").exists()
    cnas.models.save_pretrained(tiny(), tmp_path, overwrite=True)
    assert (tmp_path / "notes.txt").read_text() == "keep me"
    with pytest.raises(TypeError, match="NetworkCIFAR or NetworkImageNet"):
        cnas.models.save_pretrained(torch.nn.Linear(2, 2), tmp_path / "lin")


def test_save_pretrained_records_extra_keys_beside_its_own(tmp_path: Path) -> None:
    extra = {"train_config": {"epochs": 3, "lr": 0.025}, "note": "run 7"}
    cnas.models.save_pretrained(tiny(), tmp_path, dataset="cifar10", extra=extra)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["train_config"] == {"epochs": 3, "lr": 0.025} and config["note"] == "run 7"
    assert config["dataset"] == "cifar10" and set(config) >= NETWORK_KEYS


@pytest.mark.parametrize("key", ["layers", "dataset", "metrics", "cnas_version", "license"])
def test_save_pretrained_extra_never_replaces_its_own_keys(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError, match=f"extra= may not set {key}"):
        cnas.models.save_pretrained(tiny(), tmp_path / "out", extra={key: 1})
    assert not (tmp_path / "out").exists()


def test_save_pretrained_extra_must_be_json_ready(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="JSON-ready"):
        cnas.models.save_pretrained(tiny(), tmp_path / "out", extra={"when": object()})
    assert not (tmp_path / "out" / "model.safetensors").exists()


def test_save_pretrained_into_a_run_folder_replaces_only_its_own_files(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    others = {"metrics.jsonl": '{"epoch": 0}\n', "last.pt": "checkpoint", "log.txt": "hello"}
    for name, text in others.items():
        (run / name).write_text(text)
    (run / "config.json").write_text("{}")
    (run / "README.md").write_text("old card")
    net = tiny()
    metrics = {"best_top1": 0.5, "best_epoch": 3, "final_top1": 0.4, "final_top5": 0.9}
    cnas.models.save_pretrained(
        net, run, dataset="cifar10", metrics=metrics, extra={"train_config": {}}, overwrite=True
    )
    assert {name: (run / name).read_text() for name in others} == others
    assert sorted(p.name for p in run.iterdir()) == sorted(
        [*others, "README.md", "config.json", "model.safetensors"]
    )
    config = json.loads((run / "config.json").read_text())
    assert config["metrics"] == metrics and config["train_config"] == {}
    assert "| best validation top-1 accuracy | 50.00% |" in (run / "README.md").read_text()
    assert same_tensors(cnas.models.from_pretrained(run), net)


def test_network_config_identifies_the_network() -> None:
    net = cnas.NetworkImageNet(8, 7, 4, True, "CNAS", in_channels=1)
    config = cnas.models.network_config(net)
    assert set(config) == NETWORK_KEYS
    assert json.loads(json.dumps(config)) == config  # JSON-ready
    assert config["network"] == "NetworkImageNet" and config["in_channels"] == 1
    assert cnas.Genotype.from_dict(config["genotype"]) == cnas.genotypes.CNAS
    with pytest.raises(TypeError, match="NetworkCIFAR or NetworkImageNet"):
        cnas.models.network_config(torch.nn.Linear(2, 2))


def test_model_card_front_matter_describes_the_weights(tmp_path: Path) -> None:
    net = cnas.NetworkImageNet(8, 1000, 3, False, "CNAS")
    weights = cnas.models.CNAS_ImageNet_Weights.DEFAULT
    cnas.models.save_pretrained(net, tmp_path, weights=weights)
    card = (tmp_path / "README.md").read_text()
    meta = front_matter(card)
    assert meta["library_name"] == "cnas"
    assert meta["license"] == "bsd-3-clause"
    assert {"cnas", "image-classification"} <= set(meta["tags"])
    assert meta["datasets"] == ["imagenet-1k"] and meta["metrics"] == ["accuracy"]
    assert "| top-1 accuracy | 75.40% |" in card and "as reported in the paper" in card
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["weights"] == "CNAS_ImageNet_Weights.IMAGENET1K_V1"
    assert config["preprocessing"]["resize_size"] == 256
    assert len(config["categories"]) == 1000


def test_from_pretrained_reads_a_cnas_train_output_folder(tmp_path: Path) -> None:
    data = cnas.data.synthetic(num_samples=32, num_classes=4, image_size=32, seed=0)
    config = TrainConfig.preset("synthetic", init_channels=4, layers=3, epochs=1, batch_size=16)
    config = config.replace(runtime={"device": "cpu", "progress": False})
    trainer = Trainer(cnas.NetworkCIFAR(4, 4, 3, False, "CNAS"), config, tmp_path)
    trainer.fit(data, data)
    model = cnas.models.from_pretrained(tmp_path)
    assert same_tensors(model, trainer.model)
    with pytest.raises(TypeError, match="only auxiliary, dropout"):
        cnas.models.from_pretrained(tmp_path, layers=5)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="lacks config.json and model.safetensors"):
        cnas.models.from_pretrained(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        cnas.models.from_pretrained(tmp_path / "nothing")


# -- cnas convert -------------------------------------------------------------------------------


def test_convert_turns_an_original_checkpoint_into_a_hub_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    net = tiny()
    wrapped = {"epoch": 600, "state_dict": {f"module.{k}": v for k, v in net.state_dict().items()}}
    torch.save(wrapped, tmp_path / "checkpoint.pth")
    out = tmp_path / "out"
    assert main(["convert", str(tmp_path / "checkpoint.pth"), str(out), "--arch", "DARTS_V2"]) == 0
    assert "hf upload ORG/NAME" in capsys.readouterr().out
    assert same_tensors(cnas.models.from_pretrained(out), net)
    assert front_matter((out / "README.md").read_text())["library_name"] == "cnas"


def test_convert_reads_the_network_size_from_the_shapes(tmp_path: Path) -> None:
    net = cnas.NetworkImageNet(8, 7, 4, True, "CNAS", in_channels=1)
    torch.save(net.state_dict(), tmp_path / "w.pth")
    assert main(["convert", str(tmp_path / "w.pth"), str(tmp_path / "out")]) == 0
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert {k: config[k] for k in NETWORK_KEYS - {"genotype"}} == {
        "network": "NetworkImageNet",
        "init_channels": 8,
        "layers": 4,
        "num_classes": 7,
        "auxiliary": True,
        "in_channels": 1,
    }


def test_convert_recognises_a_registered_release_file(tmp_path: Path) -> None:
    net = tiny()
    torch.save(net.state_dict(), tmp_path / "tmp.pth")
    prefix = hashlib.sha256((tmp_path / "tmp.pth").read_bytes()).hexdigest()[:8]
    release = tmp_path / f"tiny-darts-{prefix}.pth"
    os.replace(tmp_path / "tmp.pth", release)
    record = Weights(
        sources=(UrlSource(f"https://example.invalid/{release.name}"),),
        dataset="cifar10",
        num_classes=10,
        input_size=(3, 32, 32),
        resize_size=32,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        metrics={"top1": 12.5},
    )

    class TinyDartsWeights(WeightsEnum):
        V1 = record
        DEFAULT = V1

    cnas.models.register_model(name="test_tiny_darts", weights=TinyDartsWeights)(
        lambda **kw: tiny()
    )
    try:
        assert main(["convert", str(release), str(tmp_path / "out"), "--arch", "DARTS_V2"]) == 0
    finally:
        cnas.models.unregister_model("test_tiny_darts")
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config["weights"] == "TinyDartsWeights.V1"
    assert config["metrics"]["top1"] == 12.5 and config["dataset"] == "cifar10"


def test_convert_takes_train_checkpoints_and_output_folders(tmp_path: Path) -> None:
    data = cnas.data.synthetic(num_samples=32, num_classes=4, image_size=32, seed=0)
    config = TrainConfig.preset("synthetic", init_channels=4, layers=3, epochs=1, batch_size=16)
    run = tmp_path / "run"
    config = config.replace(runtime={"device": "cpu", "progress": False})
    trainer = Trainer(cnas.NetworkCIFAR(4, 4, 3, False, "DARTS_V1"), config, run)
    trainer.fit(data, data)
    assert main(["convert", str(run / "last.pt"), str(tmp_path / "a")]) == 0
    assert main(["convert", str(run), str(tmp_path / "b"), "--repo-id", "me/tiny"]) == 0
    for out in (tmp_path / "a", tmp_path / "b"):
        model = cnas.models.from_pretrained(out)
        assert model.genotype == cnas.genotypes.DARTS_V1 and same_tensors(model, trainer.model)
        assert "train" in json.loads((out / "config.json").read_text())
    assert "| best validation top-1 accuracy |" in (tmp_path / "b" / "README.md").read_text()


def test_convert_refuses_to_overwrite_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    torch.save(tiny().state_dict(), tmp_path / "w.pth")
    out = tmp_path / "out"
    out.mkdir()
    (out / "README.md").write_text("mine")
    assert main(["convert", str(tmp_path / "w.pth"), str(out), "--arch", "DARTS_V2"]) == 2
    assert "pass --force" in one_line_error(capsys)
    assert (out / "README.md").read_text() == "mine"
    args = ["convert", str(tmp_path / "w.pth"), str(out), "--arch", "DARTS_V2", "--force"]
    assert main(args) == 0
    assert (out / "model.safetensors").is_file()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "no such file or folder"),
        (lambda p: p.write_bytes(b"\x80\x04junk"), "not a readable PyTorch weights file"),
        (lambda p: torch.save({"step": 3}, p), "holds no state dict"),
        (lambda p: torch.save(tiny().state_dict(), p), "does not fit NetworkCIFAR"),
    ],
)
def test_convert_explains_bad_input_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: Any, message: str
) -> None:
    make(tmp_path / "in.pth")
    assert main(["convert", str(tmp_path / "in.pth"), str(tmp_path / "out")]) == 2
    err = one_line_error(capsys)
    assert err.startswith("cnas convert: error:") and message in err
    assert not (tmp_path / "out" / "model.safetensors").exists()


def test_convert_refuses_a_malicious_pickle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], write_exploit: Callable[[Path, str], Path]
) -> None:
    marker = write_exploit(tmp_path / "evil.pth", "stem.0.weight")
    assert main(["convert", str(tmp_path / "evil.pth"), str(tmp_path / "out")]) == 2
    assert "weights_only=True" in one_line_error(capsys)
    assert not marker.exists()


def test_convert_rejects_unknown_weights_and_arch_with_a_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cnas.models.save_pretrained(tiny(), tmp_path / "saved")
    args = ["convert", str(tmp_path / "saved"), str(tmp_path / "o")]
    assert main([*args, "--weights", "Nope.V1"]) == 2
    assert "known: CNAS_CIFAR10_Weights.CIFAR10_V1" in one_line_error(capsys)
    assert main([*args, "--arch", "CNAS"]) == 2
    assert "drop arch=" in one_line_error(capsys)


# -- docs ---------------------------------------------------------------------------------------


def test_the_docs_table_of_models_and_weights_is_up_to_date() -> None:
    committed = (ROOT / "docs" / "_generated" / "models.md").read_text()
    assert committed == markdown(), (
        "docs/_generated/models.md is stale; regenerate it with "
        "python -m cnas.models._catalog --write docs/_generated/models.md"
    )


def test_the_pretrained_page_includes_the_generated_table() -> None:
    page = (ROOT / "docs" / "pretrained.md").read_text()
    assert '--8<-- "docs/_generated/models.md"' in page
