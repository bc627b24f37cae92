"""``cnas.models.export`` and ``cnas export``: ONNX and torch.export files of networks.

Kept cheap: the paper's CIFAR network goes through the fast TorchScript exporter once;
the default exporter (torch.export-based, several seconds even for a tiny network) and
``.pt2`` files are exercised on small networks.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import cnas
from cnas.cli import main
from cnas.cli._common import CLIError
from cnas.cli._export import _DEFAULT_OPSET, _EXPORT_DATASETS, add_export_parser
from cnas.errors import GenotypeError, UnknownModelError, WeightsNotFoundError
from cnas.models import _export
from cnas.models._export_probe import probe


def _randomize_batchnorm(net: nn.Module) -> nn.Module:
    """Running statistics other than 0 and 1, so that eval mode differs from training."""
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_(0.0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return net


def _images(batch: int, size: tuple[int, int, int]) -> torch.Tensor:
    return torch.randn(batch, *size, generator=torch.Generator().manual_seed(batch))


def _run_onnx(path: Path, images: torch.Tensor) -> torch.Tensor:
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], {"images": images.numpy()})
    return torch.from_numpy(logits)


def _logits(net: nn.Module, images: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return net.eval()(images)  # type: ignore[no-any-return]


def _metadata(model: Any) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX model, or of the ONNX file at a path."""
    if isinstance(model, Path):
        model = pytest.importorskip("onnx").load(str(model))
    return {p.key: p.value for p in model.metadata_props}


def _export_command(argv: list[str]) -> int:
    """``cnas export ARGV`` through its own parser (as ``cnas.cli`` registers it)."""
    parser = argparse.ArgumentParser(prog="cnas")
    add_export_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["export", *argv])
    return int(args.func(args))


def test_the_cnas_cifar_network_exports_to_onnx_that_matches_pytorch(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    net = _randomize_batchnorm(cnas.NetworkCIFAR(36, 10, 20, True, "CNAS"))
    target = tmp_path / "cnas.onnx"
    result = cnas.models.export(net, target, exporter="torchscript")  # the fast exporter
    assert net.training and net.auxiliary_head is not None  # the caller's network is untouched
    assert result.path == target and target.is_file()
    assert (result.format, result.opset, result.input_size) == ("onnx", 18, (3, 32, 32))
    assert result.max_abs_diff is not None and result.max_abs_diff <= 1e-4
    assert result.check_passed and result.check_batch == 4
    assert result.runtime is not None and result.runtime.startswith("onnxruntime ")
    images = _images(4, (3, 32, 32))
    want = _logits(net, images)
    assert float((_run_onnx(target, images) - want).abs().max()) <= 1e-4
    model = onnx.load(str(target))
    assert not [i.name for i in model.graph.initializer if i.name.startswith("auxiliary_head")]
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 18)]
    meta = _metadata(model)
    assert meta["cnas.version"] == cnas.__version__ and meta["cnas.opset"] == "18"
    assert cnas.Genotype.from_dict(json.loads(meta["cnas.genotype"])) == cnas.genotypes.CNAS
    network = json.loads(meta["cnas.network"])
    assert network["network"] == "NetworkCIFAR" and network["layers"] == 20
    assert network["auxiliary"] is False and json.loads(meta["cnas.input_size"]) == [3, 32, 32]


def test_the_default_exporter_writes_a_dynamic_batch(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    net = _randomize_batchnorm(cnas.NetworkCIFAR(4, 10, 1, True, "CNAS"))  # one cell: cheap
    target = tmp_path / "small.onnx"
    result = cnas.models.export(net, target)
    assert result.exporter == _export._default_exporter()
    assert result.opset == 18 and result.check_passed
    graph = onnx.load(str(target)).graph
    for value in (graph.input[0], graph.output[0]):
        assert value.type.tensor_type.shape.dim[0].dim_param == "batch"
    assert (graph.input[0].name, graph.output[0].name) == ("images", "logits")
    for batch in (1, 3):
        images = _images(batch, (3, 32, 32))
        got = _run_onnx(target, images)
        assert got.shape == (batch, 10)
        assert float((got - _logits(net, images)).abs().max()) <= 1e-4


def test_a_digits_trained_folder_exports_through_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    train = ["train", "--dataset", "digits", "--epochs", "1", "--max-steps", "2"]
    tiny = ["--init-channels", "4", "--layers", "2", "--no-progress", "-o", str(run)]
    assert main([*train, *tiny]) == 0
    assert (run / "model.safetensors").is_file() and (run / "config.json").is_file()
    capsys.readouterr()
    target = tmp_path / "digits.onnx"
    assert _export_command([str(run), "-o", str(target), "--exporter", "torchscript"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"wrote {target} (ONNX opset 18, torchscript exporter;")
    assert "input batch x 1 x 8 x 8" in lines[0]
    assert "on 4 random images: largest absolute difference from PyTorch" in lines[1]
    trained = cnas.models.from_pretrained(run)
    images = _images(4, (1, 8, 8))
    assert float((_run_onnx(target, images) - _logits(trained, images)).abs().max()) <= 1e-4
    assert json.loads(_metadata(target)["cnas.network"])["in_channels"] == 1


def test_a_pt2_file_reloads_with_torch_export(tmp_path: Path) -> None:
    net = _randomize_batchnorm(cnas.NetworkCIFAR(4, 10, 1, True, "CNAS"))
    target = tmp_path / "small.pt2"
    target.write_text("an older export")
    result = cnas.models.export(net, target, overwrite=True)  # .pt2: format="torch"
    assert (result.format, result.exporter, result.opset) == ("torch", "torch.export", None)
    assert result.check_passed and result.runtime == f"torch {torch.__version__}"
    extra = {"cnas.json": ""}
    program = torch.export.load(io.BytesIO(target.read_bytes()), extra_files=extra)
    meta = json.loads(extra["cnas.json"])
    assert meta["cnas.version"] == cnas.__version__ and meta["cnas.exporter"] == "torch.export"
    assert not [k for k in program.state_dict if k.startswith("auxiliary_head")]
    for batch in (1, 3):
        images = _images(batch, (3, 32, 32))
        with torch.no_grad():
            got = program.module()(images)
        assert float((got - _logits(net, images)).abs().max()) <= 1e-4
    assert zipfile.is_zipfile(target)


def test_without_the_export_extra_the_message_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime fails
    net = cnas.NetworkCIFAR(4, 10, 1, False, "CNAS")
    hint = r'needs onnxruntime, not installed here: pip install "cnas\[export\]"'
    with pytest.raises(ImportError, match=hint):
        cnas.models.export(net, tmp_path / "a.onnx")
    with pytest.raises(CLIError, match=hint):
        _export_command(["CNAS", "-o", str(tmp_path / "a.onnx")])
    assert not list(tmp_path.iterdir())
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r"needs onnx, "):
        cnas.models.export(net, tmp_path / "a.onnx", check=False)


def _folder_without_weights(tmp_path: Path) -> Path:
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "last.pt").write_bytes(b"")
    return folder


def _bad_genotype(tmp_path: Path) -> Path:
    path = tmp_path / "bad.json"
    path.write_text('{"normal": 3}')
    return path


class _CustomOpNet(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return cnas.kernels.max_pool2d(x, 3, 1, 1).mean((2, 3))


@pytest.mark.parametrize(
    ("source", "options", "error", "match"),
    [
        ("cnas_cifar", {}, UnknownModelError, "did you mean 'cnas_cifar10'"),
        (_bad_genotype, {}, GenotypeError, "not a genotype"),
        ("missing.json", {}, FileNotFoundError, "missing.json"),
        ("runs/missing", {}, FileNotFoundError, "no such file or folder"),
        (_folder_without_weights, {}, WeightsNotFoundError, "has no model.safetensors"),
        ("CNAS", {"format": "tflite"}, ValueError, "unknown export format 'tflite'"),
        ("CNAS", {"exporter": "jit"}, ValueError, "unknown ONNX exporter"),
        ("CNAS", {"opset": 99}, ValueError, "opsets .* not 99"),
        ("CNAS", {"opset": 12, "exporter": "dynamo"}, ValueError, "torchscript"),
        ("CNAS", {"format": "torch", "opset": 18}, ValueError, "apply to ONNX"),
        ("CNAS", {"dataset": "mnist"}, ValueError, "unknown dataset 'mnist'"),
        ("CNAS", {"input_size": (3, 32)}, ValueError, r"input_size must be \(C, H, W\)"),
        ("CNAS", {"batch_size": 0}, ValueError, "batch_size"),
        ("cnas_cifar10", {"dataset": "digits"}, TypeError, "dataset= applies to genotypes"),
        (_folder_without_weights, {"layers": 2}, TypeError, "fixes its architecture"),
        (
            lambda _: cnas.NetworkCIFAR(4, 10, 1, False, "CNAS"),
            {"init_channels": 8},
            TypeError,
            "fixes its architecture",
        ),
        (lambda _: _CustomOpNet(), {"input_size": (1, 4, 4)}, TypeError, "cnas::max_pool2d"),
        (lambda _: nn.Conv2d(3, 3, 1), {}, ValueError, "pass input_size"),
    ],
)
def test_bad_input_is_refused_before_anything_is_written(
    tmp_path: Path, source: Any, options: dict[str, Any], error: type[Exception], match: str
) -> None:
    source = source(tmp_path) if callable(source) else source
    target = tmp_path / "out" / "model.onnx"
    with pytest.raises(error, match=match):
        cnas.models.export(source, target, **{"exporter": "torchscript", **options})
    assert not target.parent.exists() or not list(target.parent.iterdir())


def test_evaluation_networks_run_no_custom_operators() -> None:
    for net in (
        cnas.NetworkCIFAR(4, 10, 3, True, "CNAS"),
        cnas.NetworkImageNet(4, 10, 3, True, "CNAS"),
    ):
        images = _images(2, (3, 64, 64))
        assert probe(net.eval(), images).shape == (2, 10)


def test_an_existing_file_is_kept_unless_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "model.onnx"
    target.write_text("keep me")
    net = cnas.NetworkCIFAR(4, 10, 1, False, "CNAS")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        cnas.models.export(net, target)
    with pytest.raises(CLIError, match="pass --overwrite"):
        _export_command(["CNAS", "-o", str(target)])
    with pytest.raises(IsADirectoryError):
        cnas.models.export(net, tmp_path)
    assert target.read_text() == "keep me"


def test_a_failed_check_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("onnx")

    def broken(*args: object) -> None:
        raise RuntimeError("the runtime failed")

    monkeypatch.setattr(_export, "run_onnx", broken)
    net = cnas.NetworkCIFAR(4, 10, 1, False, "CNAS")
    with pytest.raises(RuntimeError, match="the runtime failed"):
        cnas.models.export(net, tmp_path / "model.onnx", exporter="torchscript")
    assert not list(tmp_path.iterdir())  # neither the file nor a temporary one


def test_genotypes_and_model_names_build_untrained_networks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("onnx")

    def no_downloads(*args: object, **kwargs: object) -> None:
        raise AssertionError("export downloaded weights it was not asked for")

    monkeypatch.setattr(cnas.models._builders, "load_state_dict", no_downloads)
    genotype = tmp_path / "genotype.json"
    cnas.genotypes.DARTS_V2.save(genotype)
    tiny: dict[str, Any] = {"init_channels": 4, "layers": 2, "exporter": "torchscript"}
    result = cnas.models.export(genotype, tmp_path / "g.onnx", dataset="digits", **tiny)
    assert (result.network, result.input_size, result.check_passed) == (
        "NetworkCIFAR",
        (1, 8, 8),
        True,
    )
    meta = _metadata(tmp_path / "g.onnx")
    assert cnas.Genotype.from_dict(json.loads(meta["cnas.genotype"])) == cnas.genotypes.DARTS_V2
    result = cnas.models.export("cnas_cifar10", tmp_path / "m.onnx", num_classes=7, **tiny)
    assert result.input_size == (3, 32, 32) and result.check_passed
    assert json.loads(_metadata(tmp_path / "m.onnx")["cnas.network"])["num_classes"] == 7


def test_restated_settings_agree_with_their_sources() -> None:
    from cnas.training import TrainConfig

    for dataset, network in cnas.models.DEFAULT_NETWORKS.items():  # the one place
        preset = TrainConfig.preset(dataset)
        assert (preset.init_channels, preset.layers) == (network.init_channels, network.layers)
        spec = cnas.costs.NetworkSpec.for_dataset(dataset)
        assert (spec.C, spec.layers) == (network.init_channels, network.layers)
    assert _export.DEFAULT_OPSET == _DEFAULT_OPSET
    # a network trained on an image folder is exported from its training folder, which
    # records its size; a genotype is built for a named dataset
    named = tuple(d for d in cnas.models.DEFAULT_NETWORKS if d != "folder")
    assert named == _EXPORT_DATASETS


# The cell the README's digits search found: its normal cell never reads input 0, so the
# preprocessing of that input is dead code in the traced graph. The TorchScript exporter
# used to fail on it with an internal assert of torch and a 2,000-line graph dump.
IGNORES_INPUT_0 = cnas.Genotype(
    normal=[("sep_conv_3x3", 1, 2), ("skip_connect", 1, 2), ("max_pool_3x3", 2, 3),
            ("sep_conv_3x3", 1, 3)],
    normal_concat=[2, 3],
    reduce=[("max_pool_3x3", 0, 2), ("skip_connect", 1, 2), ("max_pool_3x3", 0, 3),
            ("skip_connect", 2, 3)],
    reduce_concat=[2, 3],
)  # fmt: skip


def _random_genotypes(count: int) -> list[cnas.Genotype]:
    space = cnas.SearchSpace()  # the 8 DARTS ops, 4 nodes
    generator = torch.Generator().manual_seed(28)
    return [IGNORES_INPUT_0, *(space.sample(generator) for _ in range(count))]


@pytest.mark.slow
@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
def test_random_genotypes_export_with_both_exporters(tmp_path: Path, exporter: str) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    for i, genotype in enumerate(_random_genotypes(4)):
        # 5 layers: normal cells right after reductions read a FactorizedReduce input 0
        net = _randomize_batchnorm(cnas.NetworkCIFAR(4, 10, 5, False, genotype))
        result = cnas.models.export(net, tmp_path / f"{i}.onnx", exporter=exporter)
        assert result.exporter == exporter, genotype
        assert result.check_passed, (genotype, result.max_abs_diff)


def test_a_failing_torchscript_export_falls_back_to_dynamo_with_one_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("onnxscript")
    real = _export._onnx_bytes

    def torchscript_fails(*args: Any) -> Any:
        if args[2] == "torchscript":
            raise RuntimeError(
                "INTERNAL ASSERT FAILED at dead_code_elimination.cpp\n" + "%1 = x\n" * 2000
            )
        return real(*args)

    monkeypatch.setattr(_export, "_onnx_bytes", torchscript_fails)
    net = cnas.NetworkCIFAR(4, 10, 1, False, IGNORES_INPUT_0)
    with caplog.at_level("WARNING", logger="cnas"):
        result = cnas.models.export(net, tmp_path / "net.onnx", exporter="torchscript")
    assert result.exporter == "dynamo" and result.check_passed
    assert _metadata(result.path)["cnas.exporter"] == "dynamo"
    (warning,) = [r for r in caplog.records if r.levelname == "WARNING"]
    assert "torchscript exporter failed" in warning.getMessage()
    assert len(warning.getMessage()) < 400  # the first line of torch's message, not its dump
