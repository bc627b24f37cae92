"""Your own images, end to end: an image folder searched, trained, evaluated, exported
and predicted on through the CLI, with the preprocessing carried to the deployed network;
the decode cache; a study on a folder."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from cnas.cli import main
from cnas.data import DataConfig, image_folder
from cnas.data import _folder as folder_module

sys.path.insert(0, str(Path(__file__).with_name("scripts")))
from image_folders import make_folder

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CNAS_CACHE", str(tmp_path / "cache"))
    folder_module._MEMORY.clear()


def _run(*argv: str, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    code = main(list(argv))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


SEARCH = [
    "--epochs-per-stage", "1", "--warmup-epochs", "0", "--steps-per-epoch", "2",
    "--layers", "3", "--init-channels", "4", "--nodes", "2", "--batch-size", "16",
    "--ops", "sep_conv_3x3,max_pool_3x3,skip_connect", "--device", "cpu", "--no-progress",
]  # fmt: skip
TRAIN = [
    "--epochs", "6", "--init-channels", "8", "--layers", "3", "--batch-size", "16",
    "--lr", "0.05", "--device", "cpu", "--no-progress",
]  # fmt: skip


def _ort_top1(onnx_file: Path, files: list[str]) -> list[str]:
    """onnxruntime on the raw image files, with only what the export recorded: the
    resize and crop, then (unless the graph does it) the scaling and normalization."""
    import numpy as np
    import onnxruntime as ort
    from PIL import Image

    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    prep = json.loads(meta["cnas.preprocessing"])
    names = json.loads(meta["cnas.categories"])
    channels, size, _ = prep["input_size"]
    found = []
    for file in files:
        image = Image.open(file).convert("L" if channels == 1 else "RGB")
        scale = prep["resize_size"] / min(image.size)
        image = image.resize(
            (max(size, round(image.size[0] * scale)), max(size, round(image.size[1] * scale))),
            Image.Resampling.BILINEAR,
        )
        left, top = (image.size[0] - size) // 2, (image.size[1] - size) // 2
        image = image.crop((left, top, left + size, top + size))
        pixels = np.asarray(image, dtype=np.uint8).reshape(size, size, channels)
        pixels = pixels.transpose(2, 0, 1)[None]
        if meta["cnas.input"] == "pixels":
            batch = pixels
        else:
            mean = np.array(prep["mean"], dtype=np.float32).reshape(1, -1, 1, 1)
            std = np.array(prep["std"], dtype=np.float32).reshape(1, -1, 1, 1)
            batch = ((pixels.astype(np.float32) / 255 - mean) / std).astype(np.float32)
        (logits,) = session.run(None, {session.get_inputs()[0].name: batch})
        found.append(names[int(logits.argmax())])
    return found


def _whole_path(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], *, in_graph: bool
) -> None:
    search, train = tmp_path / "search", tmp_path / "train"
    _run("search", "--dataset", "folder", "--data", str(root), "-o", str(search), *SEARCH,
         capsys=capsys)  # fmt: skip
    genotype = search / "genotype.json"
    _run("train", "--dataset", "folder", "--data", str(root), "--arch", str(genotype),
         "-o", str(train), *TRAIN, capsys=capsys)  # fmt: skip
    config = json.loads((train / "config.json").read_text())
    assert config["dataset"] == "folder"
    assert config["categories"] == ["class_a", "class_b", "class_c"]
    channels = image_folder(root).channels
    assert config["preprocessing"]["input_size"] == [channels, 16, 16]
    card = (train / "README.md").read_text()
    assert "imagenet" not in card.lower()
    assert "On an image folder of 3 classes (class_a, class_b, class_c)" in card
    assert "normalize with mean" in card

    evaluated = _run("evaluate", "--weights", str(train), "--device", "cpu", capsys=capsys)
    accuracy = float(evaluated.split("top-1 ")[1].split("%")[0])

    onnx_file = tmp_path / "net.onnx"
    export = ["export", str(train), "-o", str(onnx_file)]
    _run(*export, *(["--with-preprocessing"] if in_graph else []), capsys=capsys)

    # the images cnas evaluate scored: the run's validation split, from its config
    data = DataConfig.from_dict(config["train"]["data"])
    _, val, _ = data.load_train(config["train"]["seed"], 0)
    files = list(val.files)
    predicted = json.loads(_run("predict", str(train), *files, "--json", capsys=capsys))
    assert [p["path"] for p in predicted] == files
    assert all(set(p) == {"path", "class", "probability", "top_k"} for p in predicted)
    from_onnx = _ort_top1(onnx_file, files)
    assert from_onnx == [p["class"] for p in predicted]
    truth = [Path(f).parent.name for f in files]
    onnx_accuracy = 100 * sum(a == b for a, b in zip(from_onnx, truth, strict=True)) / len(files)
    assert onnx_accuracy == pytest.approx(accuracy, abs=0.01)
    by_onnx = json.loads(_run("predict", str(onnx_file), *files, "--json", capsys=capsys))
    assert [p["class"] for p in by_onnx] == from_onnx


@pytest.mark.slow
def test_a_class_folder_goes_from_search_to_predict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_folder(tmp_path / "shapes", per_class=24, size=16)
    _whole_path(root, tmp_path, capsys, in_graph=False)


@pytest.mark.slow
def test_a_grey_train_val_folder_goes_from_search_to_predict_taking_raw_pixels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_folder(tmp_path / "grey", per_class=30, size=16, channels=1, layout="splits")
    data = image_folder(root)
    assert (data.layout, data.channels, len(data.indices("test"))) == ("splits", 1, 18)
    _whole_path(root, tmp_path, capsys, in_graph=True)


# -- the decode cache ----------------------------------------------------------------------


def _count_opens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    opened: list[str] = []
    real = folder_module._open

    def counting(path: Any) -> Any:
        opened.append(str(path))
        return real(path)

    monkeypatch.setattr(folder_module, "_open", counting)
    return opened


def test_a_second_search_reads_no_image_and_a_changed_file_decodes_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_folder(tmp_path / "shapes", per_class=8, size=16)
    opened = _count_opens(monkeypatch)
    first = image_folder(root)
    assert not first.from_cache and len(opened) == 2 * 24  # headers, then pixels
    folder_module._MEMORY.clear()
    opened.clear()
    _run("search", "--dataset", "folder", "--data", str(root), "-o", str(tmp_path / "s"),
         *SEARCH, capsys=capsys)  # fmt: skip
    assert opened == []  # the search read the cache, not one image
    cached = image_folder(root)
    assert torch.equal(cached.images, first.images) and cached.paths == first.paths

    from image_folders import pattern, save_png

    folder_module._MEMORY.clear()
    save_png(pattern(2, 99, 16, 3), root / "class_a" / "0003.png")  # changed content
    again = image_folder(root)
    assert not again.from_cache and opened
    assert not torch.equal(again.images, first.images)
    folder_module._MEMORY.clear()
    (root / "class_b" / "0000.png").unlink()  # a removed file
    assert len(image_folder(root).labels) == 23


def test_a_damaged_cache_is_decoded_again(tmp_path: Path) -> None:
    from cnas.data._folder_cache import cache_path

    root = make_folder(tmp_path / "shapes", per_class=4, size=8)
    image_folder(root)
    cache_path(root, None).write_bytes(b"not a safetensors file")
    folder_module._MEMORY.clear()
    data = image_folder(root)
    assert not data.from_cache and len(data.labels) == 12


# -- the data a run reads --------------------------------------------------------------------


def test_splits_normalization_and_augmentation(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "shapes", per_class=10, size=16)
    config = DataConfig(dataset="folder", root=str(root))
    weights, controller, score, info = config.load_search(seed=0)
    assert (len(weights), len(controller)) == (12, 18)  # the paper's 40% / 60%
    assert score is not None and len(score) == 18
    assert info.classes == ("class_a", "class_b", "class_c") and info.num_classes == 3
    assert info.mean is not None and info.std is not None
    train, val, _ = config.load_train(seed=0, cutout=0)
    assert (len(train), len(val)) == (24, 6)
    assert not set(train.files) & set(val.files)  # type: ignore[attr-defined]
    images = torch.stack([val[i][0] for i in range(len(val))])  # type: ignore[index]
    assert abs(float(images.mean())) < 0.5  # normalized with the training images' statistics
    torch.manual_seed(0)
    augmented = torch.stack([weights[0][0] for _ in range(8)])  # type: ignore[index]
    assert not all(torch.equal(augmented[0], a) for a in augmented)
    plain = DataConfig(dataset="folder", root=str(root), normalize="none")
    assert plain.info().mean == (0.0, 0.0, 0.0)
    held = DataConfig(dataset="folder", root=str(root), hold_out_test=True, test_portion=0.2)
    test = held.load_test()
    assert len(test) == 6
    assert not set(test.files) & set(held.load_train(0, 0)[0].files)  # type: ignore[attr-defined]


def test_a_large_image_folder_gets_the_imagenet_stem(tmp_path: Path) -> None:
    from cnas.models import network_for_images
    from cnas.training import TrainConfig, Trainer

    assert network_for_images("folder", 32) == "NetworkCIFAR"
    assert network_for_images("folder", 128) == "NetworkImageNet"
    root = make_folder(tmp_path / "big", classes=2, per_class=4, size=16)
    config = TrainConfig.preset(
        "folder",
        genotype="DARTS_V2",
        init_channels=4,
        layers=3,
        epochs=1,
        data={"dataset": "folder", "root": str(root), "image_size": 112},
        runtime={"device": "cpu", "progress": False},
    )
    trainer = Trainer.from_config(config, tmp_path / "run")
    assert type(trainer.model).__name__ == "NetworkImageNet"


def test_the_folder_preset_and_its_checks() -> None:
    from cnas.errors import ConfigError
    from cnas.training import PRESETS, TrainConfig

    config = TrainConfig.preset("folder")
    assert (config.epochs, config.cutout, config.auxiliary_weight) == (50, 0, 0.0)
    assert config.network_size() == (16, 8)
    assert "folder" in PRESETS
    with pytest.raises(ConfigError, match="image_size: applies to an image folder"):
        DataConfig(dataset="digits", image_size=32)
    with pytest.raises(ConfigError, match="normalize: expected auto, imagenet, none"):
        DataConfig(dataset="folder", normalize="loud")
    with pytest.raises(ConfigError, match="normalize: give one finite mean"):
        DataConfig(dataset="folder", normalize="0.5,0.5/0.2")


# -- a study on a folder ----------------------------------------------------------------------


@pytest.mark.slow
def test_a_quick_study_on_a_folder_names_it_in_its_report(tmp_path: Path) -> None:
    from cnas.study import Study, StudyPlan

    root = make_folder(tmp_path / "shapes", per_class=20, size=16)
    plan = StudyPlan.preset(
        "quick",
        data=str(root),
        search_seeds=[0],
        random_archs=1,
        search={
            "warmup_epochs": 3,
            "epochs": 3,
            "init_channels": 4,
            "layers": 3,
            "batch_size": 16,
            "train_portion": 0.5,
            "derive_batches": 1,
            "steps_per_epoch": 2,
            "ops": ["sep_conv_3x3", "max_pool_3x3", "skip_connect"],
            "nodes": 2,
        },
        train={"epochs": 1, "init_channels": 4, "layers": 3, "batch_size": 16, "max_steps": 2},
    )
    results = Study(plan, tmp_path / "study").run(progress=False)
    assert results["complete"]
    report = (tmp_path / "study" / "report.md").read_text()
    assert f"the image folder `{root}`" in report


def test_the_quick_preset_fits_the_default_space() -> None:
    from cnas.study import StudyPlan

    plan = StudyPlan.preset("quick", data="mine")
    assert (plan.dataset, plan.data) == ("folder", "mine")


# -- bad input: one clear line, nothing half-written -----------------------------------------


def _empty(root: Path) -> None:
    root.mkdir()


def _empty_class(root: Path) -> None:
    make_folder(root, classes=2, per_class=3, size=8)
    (root / "class_c").mkdir()


def _one_class(root: Path) -> None:
    make_folder(root, classes=1, per_class=3, size=8)


def _corrupt(root: Path) -> None:
    make_folder(root, classes=2, per_class=3, size=8)
    (root / "class_a" / "0001.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")


def _truncated(root: Path) -> None:
    make_folder(root, classes=2, per_class=3, size=32)
    path = root / "class_b" / "0002.png"
    path.write_bytes(path.read_bytes()[:60])


def _no_images(root: Path) -> None:
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        (root / name / "notes.txt").write_text("hello")


def _too_few(root: Path) -> None:
    make_folder(root, classes=2, per_class=1, size=8)


def _missing_in_val(root: Path) -> None:
    make_folder(root, classes=3, per_class=10, size=8, layout="splits")
    for image in (root / "val" / "class_c").iterdir():
        image.unlink()
    (root / "val" / "class_c").rmdir()


def _only_in_val(root: Path) -> None:
    make_folder(root, classes=2, per_class=10, size=8, layout="splits")
    (root / "val" / "class_z").mkdir()


def _no_val(root: Path) -> None:
    make_folder(root, classes=2, per_class=10, size=8, layout="splits")
    for image in sorted((root / "val").rglob("*.png")):
        image.unlink()
    for folder in sorted((root / "val").iterdir()):
        folder.rmdir()
    (root / "val").rmdir()


def _unreadable(root: Path) -> None:
    make_folder(root, classes=2, per_class=3, size=8)
    (root / "class_a" / "gone.png").symlink_to(root / "nowhere.png")


def _link_loop(root: Path) -> None:
    make_folder(root, classes=2, per_class=3, size=8)
    (root / "class_a" / "again").symlink_to(root / "class_a", target_is_directory=True)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (_empty, "holds no class folders"),
        (_empty_class, "class 'class_c' holds no images"),
        (_one_class, r"holds one class \('class_a'\); a classifier needs at least two"),
        (_corrupt, "class_a/0001.png is not a readable image"),
        (_truncated, "class_b/0002.png is a corrupt or truncated image"),
        (_no_images, "class 'a' holds no images"),
        (_too_few, "of 2 images in .* leaves one part empty"),
        (_missing_in_val, "class 'class_c' is in train/ but not in val/"),
        (_only_in_val, "class 'class_z' is in val/ but not in train/"),
        (_no_val, "has train/ but no val/"),
        (_unreadable, "cannot read .*gone.png"),
        (_link_loop, "is a symbolic link loop"),
    ],
    ids=lambda v: v.__name__.strip("_") if callable(v) else None,
)
def test_a_folder_cnas_cannot_use_is_one_line_naming_the_problem(
    build: Any, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "data"
    build(root)
    out = tmp_path / "run"
    capsys.readouterr()
    code = main(["search", "--dataset", "folder", "--data", str(root), "-o", str(out), *SEARCH])
    err = capsys.readouterr().err
    assert code != 0
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    import re

    assert re.search(message, err), err
    assert not out.exists() or not any(out.iterdir())  # nothing half-written


def test_odd_files_are_skipped_and_mixed_sizes_and_modes_converted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from image_folders import pattern, save_png

    root = make_folder(tmp_path / "mixed", classes=2, per_class=4, size=16)
    (root / "class_a" / "README.txt").write_text("not an image")
    save_png(pattern(0, 50, 24, 3), root / "class_a" / "big.png")
    save_png(pattern(1, 51, 16, 1), root / "class_b" / "grey.png")
    with caplog.at_level("INFO", logger="cnas"):
        data = image_folder(root)
    assert (data.image_size, data.channels, len(data.labels)) == (16, 3, 10)
    assert (data.skipped, data.resized, data.converted) == (1, 1, 1)
    assert "1 image(s) of another size than 16x16 were resized" in caplog.text
    assert "1 grey image(s) were made colour" in caplog.text
    assert "1 file(s) that are not images were skipped" in caplog.text
    assert image_folder(root, image_size=8).images.shape[-1] == 8


def test_a_missing_folder_is_dataset_not_found(tmp_path: Path) -> None:
    from cnas.data import DatasetNotFoundError

    with pytest.raises(DatasetNotFoundError, match="is not a folder"):
        image_folder(tmp_path / "nowhere")


def test_evaluate_without_the_folder_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_folder(tmp_path / "shapes", per_class=6, size=8)
    train = tmp_path / "train"
    _run("train", "--dataset", "folder", "--data", str(root), "--arch", "DARTS_V2",
         "-o", str(train), "--epochs", "1", "--init-channels", "4", "--layers", "3",
         "--device", "cpu", "--no-progress", capsys=capsys)  # fmt: skip
    trained = _run("evaluate", "--weights", str(train), "--split", "train", "--device", "cpu",
                   capsys=capsys)  # fmt: skip
    assert "folder train (the split the run trained on (seed 0))" in trained
    import shutil

    shutil.rmtree(root)
    assert main(["evaluate", "--weights", str(train), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert f"the run read its images from {root}, which is not a folder" in err
    assert "pass --data DIR" in err


def test_fewer_images_than_a_batch_make_one_smaller_batch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_folder(tmp_path / "few", classes=2, per_class=5, size=8)
    small = [a if a != "16" else "64" for a in SEARCH]  # a batch of 64 for 10 images
    _run("search", "--dataset", "folder", "--data", str(root), "-o", str(tmp_path / "s"),
         *small, capsys=capsys)  # fmt: skip
    assert (tmp_path / "s" / "genotype.json").is_file()


def test_derive_reads_the_folder_a_search_recorded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_folder(tmp_path / "shapes", per_class=8, size=16)
    search = tmp_path / "search"
    _run("search", "--dataset", "folder", "--data", str(root), "-o", str(search), *SEARCH,
         capsys=capsys)  # fmt: skip
    folder_module._MEMORY.clear()
    out = _run("derive", str(search), "--device", "cpu", capsys=capsys)
    assert "genotype: Genotype(" in out


def test_a_recorded_preprocessing_is_checked(tmp_path: Path) -> None:
    import cnas
    from cnas.errors import WeightsFormatError
    from cnas.models import Preprocessing

    good = {
        "input_size": [1, 8, 8],
        "resize_size": 8,
        "mean": [0.5],
        "std": [0.2],
        "interpolation": "bilinear",
    }
    assert Preprocessing.from_config({"preprocessing": good}).input_size == (1, 8, 8)
    for bad, message in [
        ({**good, "mean": [0.5, 0.5]}, "one mean and std per channel"),
        ({**good, "std": [0.0]}, "std > 0"),
        ({**good, "resize_size": 4}, "smaller than its 8x8 crop"),
        ({**good, "input_size": "big"}, "malformed"),
    ]:
        with pytest.raises(WeightsFormatError, match=message):
            Preprocessing.from_config({"preprocessing": bad})
    with pytest.raises(WeightsFormatError, match="records no preprocessing"):
        Preprocessing.from_config({})
    net = cnas.NetworkCIFAR(4, 3, 3, False, "CNAS")
    with pytest.raises(ValueError, match="the model takes 3 channel"):
        cnas.models.save_pretrained(net, tmp_path / "m", preprocessing=good)
    with pytest.raises(ValueError, match="categories names 2 class"):
        cnas.models.save_pretrained(net, tmp_path / "m", categories=["a", "b"])
    assert not (tmp_path / "m").exists()


def test_v_raises_cnas_logging_only_and_vv_every_library(tmp_path: Path) -> None:
    import os
    import subprocess

    root = make_folder(tmp_path / "shapes", classes=2, per_class=4, size=8)

    def err(flag: str) -> str:
        argv = [sys.executable, "-m", "cnas", flag, "search", "--dataset", "folder", "--data",
                str(root), "-o", str(tmp_path / f"run{flag}"), *SEARCH]  # fmt: skip
        env = {**os.environ, "CNAS_CACHE": str(tmp_path / f"cache{flag}")}  # decode again
        return subprocess.run(
            argv, capture_output=True, text=True, timeout=300, check=True, env=env
        ).stderr

    verbose = err("-v")
    assert "DEBUG cnas" in verbose or "INFO cnas" in verbose
    assert "PIL" not in verbose  # PIL logs every PNG chunk it reads at DEBUG
    assert "DEBUG PIL" in err("-vv")
