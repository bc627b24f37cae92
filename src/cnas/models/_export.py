"""``export``: an evaluation network as an ONNX file or a ``torch.export`` program.

The file holds the inference graph (eval mode, no auxiliary head, float32) with a dynamic
batch dimension. It is written atomically and then checked: run on random images
(onnxruntime for ONNX, ``torch.export.load`` for ``.pt2``) and compared with PyTorch.
ONNX needs the ``export`` extra (onnx, onnxruntime, onnxscript); ``.pt2`` only torch.
The Deploying page of the documentation has the measured differences and times.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import inspect
import io
import json
import logging
import os
import re
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._genotype import Genotype
from .._io import atomic_path
from .._memory import check_fits
from .._registry import close_matches
from .._validation import check_finite, check_int
from .._version import __version__
from ..data import DATASETS
from ..errors import UnknownModelError, UnknownNameError, WeightsNotFoundError
from ..genotypes import list_genotypes, resolve
from ._builders import WeightsArg
from ._config import CONFIG_NAME, WEIGHTS_NAME, network_config, read_config
from ._defaults import DEFAULT_NETWORKS, default_network
from ._export_files import (
    BATCH_AXIS,
    EXPORT_HINT,
    INPUT_NAME,
    OUTPUT_NAME,
    dynamic_batch,
    pt2_bytes,
    require,
    run_onnx,
    run_pt2,
)
from ._export_probe import probe
from ._factory import get_model
from ._loading import HF_HUB_PREFIX, from_pretrained
from ._network import NetworkCIFAR, NetworkImageNet
from ._preprocess import WithPreprocessing, recorded_preprocessing
from ._registry import list_models

__all__ = ["CHECK_TOLERANCE", "DEFAULT_OPSET", "ExportResult", "export"]

logger = logging.getLogger("cnas")

DEFAULT_OPSET = 18
"""The ONNX opset ``export`` writes by default: the one torch 2.14's dynamo exporter
translates to natively (its onnxscript functions' opset: no version conversion runs),
from ONNX 1.13, older than any onnxruntime the ``export`` extra allows (1.18 on)."""

CHECK_TOLERANCE = 1e-4
"""The largest absolute difference from PyTorch that passes ``export``'s check."""

_FORMATS, _EXPORTERS = ("onnx", "torch"), ("dynamo", "torchscript")


@dataclass(frozen=True)
class ExportResult:
    """What ``export`` wrote and what its check found.

    Attributes:
        path: The file written.
        format: ``"onnx"`` or ``"torch"``.
        exporter: ``"dynamo"`` or ``"torchscript"`` (ONNX), ``"torch.export"`` (``.pt2``).
        opset: The ONNX opset of the file (``None`` for ``.pt2``).
        network: The class name of the exported network (``"NetworkCIFAR"``).
        input_size: ``(C, H, W)`` of the images the file takes; the batch is dynamic.
        export_seconds: How long exporting and writing took.
        check_batch: How many random images the check ran (``None``: no check).
        max_abs_diff: The largest absolute difference of the file's logits from the
            PyTorch network's on those images (``None``: no check).
        runtime: What ran the file for the check (``"onnxruntime 1.32.0"``).
        tolerance: The largest difference that passes the check.
        cnas_version: The cnas version that wrote the file.
        torch_version: The torch version that exported it.
    """

    path: Path
    format: str
    exporter: str
    opset: int | None
    network: str
    input_size: tuple[int, int, int]
    export_seconds: float
    check_batch: int | None
    max_abs_diff: float | None
    runtime: str | None
    tolerance: float
    cnas_version: str
    torch_version: str

    @property
    def check_passed(self) -> bool | None:
        """Whether the check's difference is within ``tolerance`` (``None``: no check)."""
        return None if self.max_abs_diff is None else self.max_abs_diff <= self.tolerance


def export(
    source: nn.Module | str | os.PathLike[str],
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    opset: int | None = None,
    exporter: str | None = None,
    input_size: tuple[int, int, int] | None = None,
    batch_size: int = 4,
    check: bool = True,
    tolerance: float = CHECK_TOLERANCE,
    overwrite: bool = False,
    weights: WeightsArg = None,
    init_channels: int | None = None,
    layers: int | None = None,
    num_classes: int | None = None,
    dataset: str | None = None,
    with_preprocessing: bool = False,
) -> ExportResult:
    """Export an evaluation network for inference: an ONNX file or a ``.pt2`` program.

    The network is exported in eval mode without its auxiliary head, in float32, with a
    dynamic batch: the input ``images`` is ``(batch, C, H, W)``, the output ``logits``
    ``(batch, num_classes)``. A module passed in is copied, and left as it was. ONNX
    files record ``cnas.version``, ``cnas.opset``, ``cnas.network``, ``cnas.genotype``,
    ``cnas.input_size``, ``cnas.exporter`` and ``torch.version`` in ``metadata_props``,
    and for a folder whose ``config.json`` records them (a network trained on an image
    folder) ``cnas.preprocessing`` (input size, resize, mean, std, interpolation, as
    JSON), ``cnas.categories`` (the class names) and ``cnas.input`` (``normalized`` or,
    with ``with_preprocessing``, ``pixels``); ``.pt2`` files the same in their extra file
    ``cnas.json``. Unless ``check=False``,
    the written file then runs on ``batch_size`` random images (seed 0), in onnxruntime
    or reloaded by ``torch.export.load``; a difference above ``tolerance`` is logged.

    The opset is ``DEFAULT_OPSET`` (18), the one torch 2.14's dynamo exporter writes
    natively. The exporter is torch's own default: ``"dynamo"``
    (``torch.onnx.export(dynamo=True)``) from torch 2.9 on, else ``"torchscript"``. Both
    reproduce the network to float32 rounding with a dynamic batch; ``"dynamo"`` writes
    opsets 18 to 23 but is slow (a minute for the paper's CIFAR network on 2 CPU cores);
    ``"torchscript"``, deprecated by torch but working, writes 9 to 20, 20x faster.

    Args:
        source: What to export: a ``NetworkCIFAR`` or ``NetworkImageNet`` (or another
            module that takes an image batch: then pass ``input_size``); a registered
            model name (``"cnas_cifar10"``; built without weights unless ``weights=``
            names some) or ``"hf-hub:ORG/NAME"``; a folder written by ``cnas train`` or
            ``save_pretrained`` (``config.json`` and ``model.safetensors``); or a genotype
            (a JSON file or a registered name such as ``"CNAS"``), whose untrained network
            is built for ``dataset``.
        path: The file to write.
        format: ``"onnx"`` or ``"torch"`` (``torch.export.save``); default: ``"torch"``
            for a path ending in ``.pt2``, else ``"onnx"``.
        opset: The ONNX opset (default ``DEFAULT_OPSET``).
        exporter: ``"dynamo"`` or ``"torchscript"`` (ONNX only; default: torch's own).
        input_size: ``(C, H, W)`` of the images. Default: the network's channels and
            its dataset's image size (recorded in a trained folder, or ``dataset``);
            else 32x32 for ``NetworkCIFAR``, 224x224 for ``NetworkImageNet``.
        batch_size: How many random images the check runs.
        check: Run the written file and compare it with PyTorch.
        tolerance: The largest absolute difference the check passes.
        overwrite: Replace an existing file at ``path``.
        weights: For a model name: the builder's ``weights=`` (``"DEFAULT"`` downloads
            the official weights); ``None``: untrained.
        init_channels: For a model name or a genotype: the channels ``C``.
        layers: For a model name or a genotype: the number of cells.
        num_classes: For a model name or a genotype: the number of classes.
        dataset: For a genotype: ``"cifar10"`` (the default), ``"imagenet"``,
            ``"digits"`` or ``"synthetic"``; it sets the network (``NetworkImageNet``
            for ImageNet), its size (the training presets'), channels and image size.
        with_preprocessing: Put the recorded scaling and normalization into the graph:
            the file then takes raw ``uint8`` pixels ``(batch, C, H, W)`` of the input
            size (resized as ``Preprocessing.pixels`` does). Needs a recorded
            preprocessing.

    Returns:
        An ``ExportResult``: the file, its opset, the check's largest difference, ...

    Raises:
        ImportError: ONNX export without onnx, the check without onnxruntime, or the
            dynamo exporter without onnxscript; the message says how to install them.
        ValueError: an unknown format, exporter or dataset, an opset the exporter does
            not write, a bad size; ``GenotypeError``: a malformed genotype file;
            ``WeightsFormatError``: a folder whose files do not fit.
        UnknownModelError: ``source`` is no model, genotype, file or folder (a
            ``KeyError``); the message suggests close model names.
        FileNotFoundError: no such file or folder; ``WeightsNotFoundError``: a folder
            without ``model.safetensors``.
        FileExistsError: ``path`` exists and ``overwrite`` is False.
        TypeError: the network runs cnas's custom operators (``cnas::...``), which ONNX
            runtimes cannot run; or network arguments for a fixed architecture.

    Examples:
        >>> import tempfile, cnas
        >>> net = cnas.NetworkCIFAR(8, 10, 5, True, "CNAS")
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     result = cnas.models.export(net, f"{folder}/net.onnx", exporter="torchscript")
        >>> result.opset, result.input_size, result.check_passed
        (18, (3, 32, 32), True)
    """
    target = Path(path)
    fmt = _format(format, target)
    tolerance = check_finite("tolerance", tolerance)
    check_int("batch_size", batch_size)
    if fmt == "onnx":
        exporter = exporter if exporter is not None else _default_exporter()
        opset = _check_opset(exporter, DEFAULT_OPSET if opset is None else opset)
        require(["onnx", *["onnxscript"] * (exporter == "dynamo"), *["onnxruntime"] * check])
    elif exporter is not None or opset is not None:
        raise ValueError("an exporter and an opset apply to ONNX export, not to format 'torch'")
    if input_size is not None:
        input_size = _check_size(input_size)
    if target.is_dir():
        raise IsADirectoryError(f"{target} is a folder; pass the path of the file to write")
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} exists; pass overwrite=True to replace it")
    arch = {"init_channels": init_channels, "layers": layers, "num_classes": num_classes}
    given = {k: check_int(k, v) for k, v in arch.items() if v is not None}
    model, known_dataset = _load(source, weights, given, dataset)
    model = _inference_copy(model, copy_first=isinstance(source, nn.Module))
    prep = recorded_preprocessing(source)
    size = input_size or (prep.input_size if prep else _default_size(model, known_dataset))
    metadata = _metadata(model, size, exporter or "torch.export", opset)
    seed = torch.Generator().manual_seed(0)
    images = torch.randn(batch_size if check else 2, *size, generator=seed)
    if prep is not None:
        metadata.update(prep.metadata(in_graph=with_preprocessing))
    if with_preprocessing:
        if prep is None:
            raise ValueError(
                "with_preprocessing needs a folder whose config.json records its "
                "preprocessing (a network cnas trained on an image folder)"
            )
        model = WithPreprocessing(model, prep).eval()
        images = torch.randint(0, 256, images.shape, generator=seed, dtype=torch.uint8)
    network = type(model.network if isinstance(model, WithPreprocessing) else model).__name__
    reference = probe(model, images)
    example = images.repeat(2, 1, 1, 1)[:2]  # a batch of 1 would let exporters fix the batch
    start = time.perf_counter()
    if exporter is not None and opset is not None:
        data, opset, exporter = _onnx_with_fallback(model, example, exporter, opset, metadata)
    else:
        data = pt2_bytes(model, example, metadata)
    diff, runtime = None, None
    with atomic_path(target, overwrite=True) as tmp:
        tmp.write_bytes(data)
        seconds = time.perf_counter() - start
        if check:
            diff, runtime = (run_onnx if fmt == "onnx" else run_pt2)(tmp, images, reference)
    result = ExportResult(
        target, fmt, exporter or "torch.export", opset, network, size, seconds,
        batch_size if check else None, diff, runtime, tolerance, __version__, torch.__version__,
    )  # fmt: skip
    logger.info("exported %s to %s in %.1f s", result.network, target, seconds)
    if result.check_passed is False:
        logger.warning("%s differs from PyTorch by up to %.3g (over %g)", target, diff, tolerance)
    return result


def _format(format: str | None, target: Path) -> str:
    if format is None:
        return "torch" if target.suffix.lower() == ".pt2" else "onnx"
    if format not in _FORMATS:
        raise ValueError(f"unknown export format {format!r}; expected one of {', '.join(_FORMATS)}")
    return format


def _has_dynamo() -> bool:
    """Whether ``torch.onnx.export`` takes ``dynamo=`` (torch 2.5 and later)."""
    return "dynamo" in inspect.signature(torch.onnx.export).parameters


def _default_exporter() -> str:
    """torch.onnx.export's own default: dynamo from torch 2.9 on."""
    major, minor = (int(p) for p in re.findall(r"\d+", torch.__version__)[:2])
    return "dynamo" if (major, minor) >= (2, 9) else "torchscript"


def _check_opset(exporter: str, opset: int) -> int:
    if exporter not in _EXPORTERS:
        raise ValueError(f"unknown ONNX exporter {exporter!r}; expected {' or '.join(_EXPORTERS)}")
    constants = getattr(torch.onnx, "_constants", None)
    if exporter == "dynamo":
        if not _has_dynamo():
            raise ValueError(
                f"exporter='dynamo' needs torch 2.5 or later (this is {torch.__version__}); "
                "pass exporter='torchscript'"
            )
        low, high = 18, int(getattr(constants, "ONNX_MAX_OPSET", 23))
        hint = "; exporter='torchscript' writes older opsets"
    else:
        high = int(getattr(constants, "ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET", 20))
        low, hint = 9, ""
    if not low <= check_int("opset", opset) <= high:
        raise ValueError(
            f"the {exporter} exporter writes opsets {low} to {high}, not {opset}{hint}"
        )
    return opset


def _check_size(size: Any) -> tuple[int, int, int]:
    if not isinstance(size, (tuple, list)) or len(size) != 3:
        raise ValueError(f"input_size must be (C, H, W), got {size!r}")
    C, H, W = (check_int(f"input_size {n}", v) for n, v in zip("CHW", size, strict=True))
    return C, H, W


def _load(
    source: nn.Module | str | os.PathLike[str],
    weights: WeightsArg,
    given: dict[str, int],
    dataset: str | None,
) -> tuple[nn.Module, str | None]:
    """The network ``source`` names, and the dataset it is for (when known)."""
    if dataset is not None and dataset not in DEFAULT_NETWORKS:
        raise ValueError(
            f"unknown dataset {dataset!r}; expected one of {', '.join(DEFAULT_NETWORKS)}"
        )
    if not isinstance(source, (nn.Module, str, os.PathLike)):
        raise TypeError(f"expected a module, a name or a path, got {type(source).__name__}")
    spec = None if isinstance(source, nn.Module) else os.fspath(source)
    fixed = sorted(
        [*given, *["dataset"] * (dataset is not None), *["weights"] * (weights is not None)]
    )
    if fixed and (spec is None or Path(spec).is_dir()):
        raise TypeError(
            f"{'a network' if spec is None else spec} fixes its architecture and weights; "
            f"{', '.join(fixed)} apply to model names and genotypes"
        )
    if spec is None:
        assert isinstance(source, nn.Module)
        return source, None
    if Path(spec).is_dir():
        return _load_folder(Path(spec))
    if spec.startswith(HF_HUB_PREFIX) or spec in list_models():
        if dataset is not None:
            raise TypeError(f"dataset= applies to genotypes; {spec} builds its own network")
        renamed = {("C" if k == "init_channels" else k): v for k, v in given.items()}
        return get_model(spec, weights=weights, **renamed), None
    if weights is not None:
        raise TypeError(f"weights= applies to model names, and {spec!r} is not one")
    try:
        genotype = resolve(spec)
    except UnknownNameError:
        if not isinstance(source, str) or any(c in spec for c in ("/", os.sep, ".")):
            raise FileNotFoundError(f"{spec}: no such file or folder") from None
        raise UnknownModelError(
            f"{spec!r} is not a model name, a genotype name, a genotype file or a folder"
            f"{close_matches(spec, [*list_models(), *list_genotypes()])}"
        ) from None
    dataset = dataset or "cifar10"
    return _genotype_network(genotype, dataset, given), dataset


def _load_folder(folder: Path) -> tuple[nn.Module, str | None]:
    if not (folder / WEIGHTS_NAME).is_file():
        unfinished = (
            " (an unfinished run has only last.pt)" if (folder / "last.pt").exists() else ""
        )
        raise WeightsNotFoundError(
            f"{folder} has no {WEIGHTS_NAME}: it is not a folder written by cnas train or "
            f"save_pretrained{unfinished}"
        )
    model = from_pretrained(folder, auxiliary=False)
    dataset = read_config(folder / CONFIG_NAME, f"{folder} ({CONFIG_NAME})").get("dataset")
    return model, dataset if isinstance(dataset, str) else None


def _genotype_network(genotype: Genotype, dataset: str, given: dict[str, int]) -> nn.Module:
    default = default_network(dataset)
    C = given.get("init_channels", default.init_channels)
    layers = given.get("layers", default.layers)
    info = DATASETS.get(dataset)
    channels = info.in_channels if info else 3
    classes = given.get("num_classes", info.num_classes if info else 1000)
    cls = NetworkImageNet if default.network == "NetworkImageNet" else NetworkCIFAR
    check_fits(lambda: cls(C, classes, layers, False, genotype, in_channels=channels), copies=1)
    return cls(C, classes, layers, False, genotype, in_channels=channels)


def _inference_copy(model: nn.Module, *, copy_first: bool) -> nn.Module:
    """``model`` (a copy of it, when it is the caller's) for export: eval mode, float32,
    CPU, no gradients, no auxiliary head."""
    if copy_first:
        model = copy.deepcopy(model)
    if isinstance(model, (NetworkCIFAR, NetworkImageNet)):
        model.auxiliary_head = None  # forward() never runs it; now it is not in the file either
    model = model.to("cpu", torch.float32).to(memory_format=torch.contiguous_format)
    return model.eval().requires_grad_(False)


def _default_size(model: nn.Module, dataset: str | None) -> tuple[int, int, int]:
    if isinstance(model, NetworkImageNet):
        return model.in_channels, 224, 224
    if isinstance(model, NetworkCIFAR):
        info = DATASETS.get(dataset or "cifar10")
        side = info.image_size if info else 32
        return model.in_channels, side, side
    raise ValueError(
        f"pass input_size=(C, H, W): the image size of a {type(model).__name__} is not known"
    )


def _metadata(
    model: nn.Module, size: tuple[int, int, int], exporter: str, opset: int | None
) -> dict[str, str]:
    meta = {"cnas.version": __version__, "cnas.network": type(model).__name__}
    if isinstance(model, (NetworkCIFAR, NetworkImageNet)):
        config = {**network_config(model), "auxiliary": False}
        meta["cnas.genotype"] = json.dumps(config.pop("genotype"), separators=(",", ":"))
        meta["cnas.network"] = json.dumps(config, separators=(",", ":"))
    meta.update({"cnas.input_size": json.dumps(list(size)), "cnas.exporter": exporter})
    meta.update({} if opset is None else {"cnas.opset": str(opset)})
    return {**meta, "torch.version": torch.__version__}


def _onnx_bytes(
    model: nn.Module, example: torch.Tensor, exporter: str, opset: int, meta: dict[str, str]
) -> tuple[bytes, int]:
    (onnx,) = require(["onnx"])
    names: dict[str, Any] = {"input_names": [INPUT_NAME], "output_names": [OUTPUT_NAME]}
    if exporter == "dynamo":
        program = torch.onnx.export(
            model,
            (example,),
            dynamo=True,
            opset_version=opset,
            dynamic_shapes=dynamic_batch(),
            verbose=False,
            **names,
        )
        assert program is not None
        proto = program.model_proto
    else:
        buffer = io.BytesIO()
        legacy: dict[str, Any] = {"dynamo": False} if _has_dynamo() else {}
        with warnings.catch_warnings():
            # its own deprecation, and tracer notes on the sizes it fixes (all but the
            # batch, which the check then varies)
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                (example,),
                buffer,  # type: ignore[arg-type]
                opset_version=opset,
                dynamic_axes={INPUT_NAME: {0: BATCH_AXIS}, OUTPUT_NAME: {0: BATCH_AXIS}},
                **names,
                **legacy,
            )
        proto = onnx.load_from_string(buffer.getvalue())
    written = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), opset)
    if written != opset:
        logger.warning("the %s exporter wrote opset %d, not %d", exporter, written, opset)
        meta["cnas.opset"] = str(written)
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    return proto.SerializeToString(), int(written)


def _onnx_with_fallback(
    model: nn.Module, example: torch.Tensor, exporter: str, opset: int, meta: dict[str, str]
) -> tuple[bytes, int, str]:
    """``_onnx_bytes``; when the TorchScript exporter fails inside torch (an internal
    assert, a graph it cannot handle), the dynamo exporter instead, with one warning."""
    try:
        return (*_onnx_bytes(model, example, exporter, opset, meta), exporter)
    except RuntimeError as exc:  # torch's own failure: its message can be a graph dump
        if exporter != "torchscript":
            raise
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        if not _has_dynamo() or importlib.util.find_spec("onnxscript") is None:
            raise RuntimeError(
                f"the torchscript exporter failed ({first}); the dynamo exporter could "
                f"export this network: {EXPORT_HINT} and pass exporter='dynamo'"
            ) from None
    fallback_opset = max(opset, DEFAULT_OPSET)  # dynamo writes opset 18 and later
    logger.warning(
        "the torchscript exporter failed on this network (%s); exported with the dynamo "
        "exporter instead (opset %d)",
        first,
        fallback_opset,
    )
    meta["cnas.exporter"] = "dynamo"
    meta["cnas.opset"] = str(fallback_opset)
    return (*_onnx_bytes(model, example, "dynamo", fallback_opset, meta), "dynamo")
