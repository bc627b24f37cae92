"""Saved models: ``save_pretrained``, ``from_pretrained`` and checkpoint conversion.

A saved model is a folder (or a Hub repository) with ``model.safetensors``, a
``config.json`` that describes the network (the keys ``cnas train`` writes) and a
``README.md`` model card whose YAML front matter the Hub reads.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._genotype import Genotype
from .._io import atomic_path, atomic_write_text
from .._version import __version__
from ..genotypes import resolve
from ._hub import (
    WeightsFormatError,
    extract_state_dict,
    hub_download,
    read_state_dict,
    sha256_file,
)
from ._network import NetworkCIFAR, NetworkImageNet
from ._weights import (
    CNAS_CIFAR10_Weights,
    CNAS_ImageNet_Weights,
    HubSource,
    UrlSource,
    Weights,
    WeightsEnum,
)

__all__ = [
    "CONFIG_NAME",
    "WEIGHTS_NAME",
    "convert",
    "from_pretrained",
    "load_into",
    "network_config",
    "network_from_config",
    "parse_hf_hub",
    "save_pretrained",
]

logger = logging.getLogger("cnas")

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "README.md"
HF_HUB_PREFIX = "hf-hub:"
TRAIN_FORMAT = "cnas.train-checkpoint"

Network = NetworkCIFAR | NetworkImageNet
_NETWORKS: dict[str, type[NetworkCIFAR] | type[NetworkImageNet]] = {
    "NetworkCIFAR": NetworkCIFAR,
    "NetworkImageNet": NetworkImageNet,
}
# cnas dataset names -> Hub dataset ids
_HUB_DATASETS = {"imagenet": "imagenet-1k", "imagenet-1k": "imagenet-1k", "cifar10": "cifar10"}
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_OVERRIDABLE = ("auxiliary", "dropout")


# -- network <-> config ---------------------------------------------------------------------


def network_config(model: nn.Module) -> dict[str, Any]:
    """The ``config.json`` keys that describe ``model``'s architecture (as ``cnas train``
    writes them): ``network``, ``genotype``, ``init_channels``, ``layers``,
    ``num_classes``, ``auxiliary``, ``in_channels``.

    Raises:
        TypeError: ``model`` is not a ``NetworkCIFAR`` or ``NetworkImageNet``.
    """
    if isinstance(model, NetworkImageNet):
        first, last = model.stem0[0], model.stem0[3]
    elif isinstance(model, NetworkCIFAR):
        first = last = model.stem[0]
    else:
        raise TypeError(f"expected a NetworkCIFAR or NetworkImageNet, got {type(model).__name__}")
    assert isinstance(first, nn.Conv2d)
    assert isinstance(last, nn.Conv2d)
    # the CIFAR stem has 3 * C channels, the ImageNet stem0 ends with C
    C = last.out_channels // 3 if isinstance(model, NetworkCIFAR) else last.out_channels
    return {
        "network": type(model).__name__,
        "genotype": model.genotype.to_dict(),
        "init_channels": int(C),
        "layers": len(model.cells),
        "num_classes": model.classifier.out_features,
        "auxiliary": model.auxiliary,
        "in_channels": first.in_channels,
    }


def network_from_config(
    config: Mapping[str, Any], origin: str = "config.json", **overrides: Any
) -> Network:
    """Build the network a ``config.json`` describes (untrained).

    Args:
        config: The parsed ``config.json``.
        origin: Where the config came from, for messages.
        **overrides: ``auxiliary=False`` (build without the auxiliary head) or
            ``dropout=`` (``NetworkImageNet`` only).

    Raises:
        WeightsFormatError: the config lacks a key or names an unknown network.
        TypeError: an override other than ``auxiliary`` or ``dropout``.
    """
    unknown = sorted(set(overrides) - set(_OVERRIDABLE))
    if unknown:
        raise TypeError(
            f"{origin} fixes the architecture; only {', '.join(_OVERRIDABLE)} can be "
            f"changed, not {', '.join(unknown)}"
        )
    missing = [
        k
        for k in ("network", "genotype", "init_channels", "layers", "num_classes", "auxiliary")
        if k not in config
    ]
    if missing:
        raise WeightsFormatError(
            f"{origin} does not describe a cnas network: missing {', '.join(missing)}"
        )
    cls = _NETWORKS.get(str(config["network"]))
    if cls is None:
        raise WeightsFormatError(
            f"{origin}: unknown network {config['network']!r}; known: {', '.join(_NETWORKS)}"
        )
    try:
        genotype = Genotype.from_dict(config["genotype"])
    except ValueError as exc:
        raise WeightsFormatError(f"{origin}: {exc}") from None
    auxiliary = bool(overrides.pop("auxiliary", config["auxiliary"]))
    if auxiliary and not config["auxiliary"]:
        raise ValueError(f"{origin} has no auxiliary head to load; drop auxiliary=True")
    if "dropout" in overrides and cls is not NetworkImageNet:
        raise TypeError("dropout= applies to NetworkImageNet only")
    try:
        return cls(
            int(config["init_channels"]),
            int(config["num_classes"]),
            int(config["layers"]),
            auxiliary,
            genotype,
            in_channels=int(config.get("in_channels", 3)),
            **overrides,
        )
    except (TypeError, ValueError) as exc:
        raise WeightsFormatError(f"{origin}: {exc}") from None


def infer_network_config(
    state: Mapping[str, torch.Tensor], genotype: Genotype, origin: str
) -> dict[str, Any]:
    """The ``network_config`` of the network that ``state`` (an original-format state
    dict) was saved from; the genotype cannot be read from shapes, so it is given."""
    if "stem0.0.weight" in state and "stem0.3.weight" in state:
        network, C = "NetworkImageNet", state["stem0.3.weight"].shape[0]
        in_channels = state["stem0.0.weight"].shape[1]
    elif "stem.0.weight" in state:
        network, C = "NetworkCIFAR", state["stem.0.weight"].shape[0] // 3
        in_channels = state["stem.0.weight"].shape[1]
    else:
        raise WeightsFormatError(
            f"{origin} is not the state dict of a NetworkCIFAR or NetworkImageNet "
            "(no stem.0.weight or stem0.0.weight)"
        )
    cells = {int(k.split(".")[1]) for k in state if k.startswith("cells.")}
    if "classifier.weight" not in state or not cells:
        raise WeightsFormatError(f"{origin} has no cells or no classifier")
    return {
        "network": network,
        "genotype": genotype.to_dict(),
        "init_channels": int(C),
        "layers": max(cells) + 1,
        "num_classes": int(state["classifier.weight"].shape[0]),
        "auxiliary": any(k.startswith("auxiliary_head.") for k in state),
        "in_channels": int(in_channels),
    }


def load_into(model: nn.Module, state: Mapping[str, torch.Tensor], origin: str) -> None:
    """Load ``state`` into ``model`` with ``strict=True``.

    A network built without its auxiliary head ignores the head's tensors in ``state``
    (the only relaxation).

    Raises:
        WeightsFormatError: a missing, unexpected or misshapen tensor.
    """
    if getattr(model, "auxiliary_head", None) is None:
        state = {k: v for k, v in state.items() if not k.startswith("auxiliary_head.")}
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    misshapen = [
        f"{k} {tuple(state[k].shape)} for {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    problems = [
        f"{len(keys)} {what} ({', '.join(keys[:3])}{', ...' if len(keys) > 3 else ''})"
        for what, keys in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("of another shape", misshapen),
        )
        if keys
    ]
    if problems:
        raise WeightsFormatError(
            f"{origin} does not fit {type(model).__name__} (strict loading): tensors "
            + "; ".join(problems)
        )
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:  # e.g. a dtype that cannot be copied
        first = str(exc).strip().splitlines()[0][:300]
        raise WeightsFormatError(f"{origin} does not fit {type(model).__name__}: {first}") from None


# -- loading --------------------------------------------------------------------------------


def parse_hf_hub(spec: str) -> tuple[str, str]:
    """Split ``"hf-hub:ORG/NAME[@REVISION]"`` into ``(repo_id, revision)``.

    Raises:
        ValueError: not of that form.

    Examples:
        >>> from cnas.models._pretrained import parse_hf_hub
        >>> parse_hf_hub("hf-hub:me/cnas-cifar10@v1")
        ('me/cnas-cifar10', 'v1')
    """
    if not spec.startswith(HF_HUB_PREFIX):
        raise ValueError(f"expected 'hf-hub:ORG/NAME[@REVISION]', got {spec!r}")
    repo_id, _, revision = spec[len(HF_HUB_PREFIX) :].partition("@")
    if not _REPO_ID.match(repo_id) or (revision == "" and spec.endswith("@")):
        raise ValueError(f"expected 'hf-hub:ORG/NAME[@REVISION]', got {spec!r}")
    return repo_id, revision or "main"


def _read_config(path: Path, origin: str) -> dict[str, Any]:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WeightsFormatError(f"{origin} is not readable JSON: {exc}") from None
    if not isinstance(config, dict):
        raise WeightsFormatError(f"{origin} is not a JSON object")
    return config


def _pretrained_files(
    source: str | os.PathLike[str],
    cache_dir: str | os.PathLike[str] | None,
    progress: bool,
) -> tuple[Path, Path, str]:
    """``(config.json, model.safetensors, origin)`` of a Hub repo or a local folder."""
    if isinstance(source, str) and source.startswith(HF_HUB_PREFIX):
        repo_id, revision = parse_hf_hub(source)
        config = hub_download(
            repo_id, CONFIG_NAME, revision=revision, cache_dir=cache_dir, progress=progress
        )
        weights = hub_download(
            repo_id, WEIGHTS_NAME, revision=revision, cache_dir=cache_dir, progress=progress
        )
        return config, weights, source
    folder = Path(source)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder} is not a folder; from_pretrained takes 'hf-hub:ORG/NAME[@REVISION]' "
            f"or a folder with {CONFIG_NAME} and {WEIGHTS_NAME}"
        )
    missing = [n for n in (CONFIG_NAME, WEIGHTS_NAME) if not (folder / n).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{folder} lacks {' and '.join(missing)} (as written by cnas train or save_pretrained)"
        )
    return folder / CONFIG_NAME, folder / WEIGHTS_NAME, str(folder)


def from_pretrained(
    source: str | os.PathLike[str],
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    **overrides: Any,
) -> Network:
    """Load a saved network: a Hub repository or a local folder written by ``cnas train``,
    ``save_pretrained`` or ``cnas convert``.

    The network is built from ``config.json`` and ``model.safetensors`` is loaded into it
    with ``strict=True``. Hub files are hash-checked against what the Hub reports.

    Args:
        source: ``"hf-hub:ORG/NAME"`` or ``"hf-hub:ORG/NAME@REVISION"`` (a commit, tag
            or branch; default ``main``), or a local folder.
        cache_dir: The Hub cache folder (default: huggingface_hub's, ``HF_HUB_CACHE``).
        progress: Show download progress bars.
        **overrides: ``auxiliary=False`` to leave out the auxiliary head, or ``dropout=``
            (``NetworkImageNet``).

    Returns:
        The network, in eval mode.

    Raises:
        FileNotFoundError: a local folder without the two files.
        WeightsNotFoundError: the repository or a file is not on the Hub (or not cached
            while offline).
        WeightsIntegrityError: a downloaded file failed its hash check.
        WeightsFormatError: the files do not describe or fit a cnas network.

    Examples:
        >>> import tempfile, cnas
        >>> net = cnas.NetworkCIFAR(8, 10, 5, False, "CNAS")
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     _ = cnas.models.save_pretrained(net, folder, overwrite=True)
        ...     again = cnas.models.from_pretrained(folder)
        >>> type(again).__name__, again.genotype == net.genotype
        ('NetworkCIFAR', True)
    """
    config_path, weights_path, origin = _pretrained_files(source, cache_dir, progress)
    config = _read_config(config_path, f"{origin} ({CONFIG_NAME})")
    model = network_from_config(config, f"{origin} ({CONFIG_NAME})", **overrides)
    load_into(model, read_state_dict(weights_path), f"{origin} ({WEIGHTS_NAME})")
    return model.eval()


# -- saving ---------------------------------------------------------------------------------


def _check_output(directory: Path, overwrite: bool) -> None:
    if directory.exists() and not directory.is_dir():
        raise FileExistsError(f"{directory} exists and is not a folder")
    if directory.is_dir() and any(directory.iterdir()) and not overwrite:
        raise FileExistsError(
            f"{directory} is not empty; refusing to overwrite it (pass overwrite=True, "
            "or --force on the command line)"
        )


def _weights_record(weights: WeightsEnum | Weights | None) -> Weights | None:
    return weights.value if isinstance(weights, WeightsEnum) else weights


def _dataset_defaults(dataset: str | None) -> Weights | None:
    hub_id = _HUB_DATASETS.get(dataset or "")
    if hub_id == "imagenet-1k":
        return CNAS_ImageNet_Weights.DEFAULT.value
    if hub_id == "cifar10":
        return CNAS_CIFAR10_Weights.DEFAULT.value
    return None


def save_pretrained(
    model: nn.Module,
    directory: str | os.PathLike[str],
    *,
    weights: WeightsEnum | Weights | None = None,
    dataset: str | None = None,
    metrics: Mapping[str, float] | None = None,
    license: str | None = None,
    repo_id: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``model`` as ``model.safetensors`` + ``config.json`` + ``README.md`` (a model
    card), ready for ``hf upload ORG/NAME DIRECTORY``.

    ``from_pretrained`` (and ``weights="hf-hub:..."`` once uploaded) reads it back. Every
    file is written atomically.

    Args:
        model: A ``NetworkCIFAR`` or ``NetworkImageNet``.
        directory: The output folder; created if needed.
        weights: The weights record the model's parameters come from, if any; its
            dataset, metrics, preprocessing and license go into the config and the card.
        dataset: The training dataset (``"imagenet"``, ``"cifar10"``, ...), if not given
            by ``weights``.
        metrics: Accuracies in percent (``top1``, ``top5``) to report.
        license: The weights' license for the card (default: the ``weights``' license,
            else ``bsd-3-clause``, cnas's own).
        repo_id: The Hub repository (``ORG/NAME``) the folder is meant for; the card's
            usage example names it.
        overwrite: Replace the files of a non-empty ``directory``.

    Returns:
        The output folder.

    Raises:
        TypeError: ``model`` is not a cnas network.
        FileExistsError: ``directory`` is not empty and ``overwrite`` is False.
    """
    return _write_pretrained(
        model,
        Path(directory),
        weights=_weights_record(weights),
        weights_name=str(weights) if isinstance(weights, WeightsEnum) else None,
        dataset=dataset,
        metrics=metrics,
        license=license,
        repo_id=repo_id,
        extra={},
        overwrite=overwrite,
    )


def _write_pretrained(
    model: nn.Module,
    directory: Path,
    *,
    weights: Weights | None,
    weights_name: str | None,
    dataset: str | None,
    metrics: Mapping[str, Any] | None,
    license: str | None,
    repo_id: str | None,
    extra: Mapping[str, Any],
    overwrite: bool,
) -> Path:
    from safetensors.torch import save_file

    config: dict[str, Any] = network_config(model)
    _check_output(directory, overwrite)
    dataset = dataset or (weights.dataset if weights is not None else None) or "custom"
    reference = weights or _dataset_defaults(dataset)
    config["dataset"] = dataset
    config["cnas_version"] = __version__
    if weights_name is not None:
        config["weights"] = weights_name
    if metrics is None and weights is not None:
        metrics = {**weights.metrics, "source": weights.metrics_source}
    config["metrics"] = dict(metrics or {})
    if reference is not None and reference.num_classes == config["num_classes"]:
        config["preprocessing"] = {
            "input_size": list(reference.input_size),
            "resize_size": reference.resize_size,
            "mean": list(reference.mean),
            "std": list(reference.std),
            "interpolation": reference.interpolation,
        }
        categories = reference.categories
        if categories is not None:
            config["categories"] = list(categories)
    license = license or (weights.license if weights is not None else "bsd-3-clause")
    config["license"] = license
    config.update({k: v for k, v in extra.items() if k not in config})
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    directory.mkdir(parents=True, exist_ok=True)
    with atomic_path(directory / WEIGHTS_NAME) as tmp:
        save_file(tensors, str(tmp), metadata={"format": "pt", "cnas": __version__})
    atomic_write_text(directory / CONFIG_NAME, json.dumps(config, indent=2) + "\n")
    atomic_write_text(directory / CARD_NAME, model_card(config, model, repo_id))
    logger.info("wrote %s, %s and %s in %s", WEIGHTS_NAME, CONFIG_NAME, CARD_NAME, directory)
    return directory


_CITATION = """@inproceedings{guo2020breaking,
  title     = {Breaking the Curse of Space Explosion: Towards Efficient {NAS}
               with Curriculum Search},
  author    = {Guo, Yong and Chen, Yaofo and Zheng, Yin and Zhao, Peilin and
               Chen, Jian and Huang, Junzhou and Tan, Mingkui},
  booktitle = {Proceedings of the 37th International Conference on Machine Learning},
  year      = {2020}
}"""


def _yaml_list(key: str, values: list[str]) -> list[str]:
    return [f"{key}:", *(f"- {json.dumps(v)}" for v in values)] if values else []


def _metric_lines(metrics: Mapping[str, Any]) -> list[str]:
    """Human-readable metric rows: percentages as given by weights records, fractions as
    ``cnas train`` writes them."""
    rows: list[str] = []
    labels = {
        "top1": "top-1 accuracy",
        "top5": "top-5 accuracy",
        "best_top1": "best validation top-1 accuracy",
        "final_top1": "last-epoch validation top-1 accuracy",
        "final_top5": "last-epoch validation top-5 accuracy",
    }
    for key, label in labels.items():
        value = metrics.get(key)
        if isinstance(value, (int, float)):
            percent = value if key in ("top1", "top5") else 100 * value
            rows.append(f"| {label} | {percent:.2f}% |")
    return rows


def model_card(config: Mapping[str, Any], model: nn.Module, repo_id: str | None = None) -> str:
    """The ``README.md`` model card for a saved network: YAML front matter for the Hub
    (``library_name: cnas``, license, tags, datasets, metrics) and a short description."""
    from ..utils import count_params

    dataset = str(config.get("dataset", "custom"))
    hub_dataset = _HUB_DATASETS.get(dataset)
    metrics = config.get("metrics") or {}
    rows = _metric_lines(metrics)
    front = [
        "---",
        "library_name: cnas",
        f"license: {config.get('license', 'bsd-3-clause')}",
        *_yaml_list(
            "tags",
            ["cnas", "image-classification", "neural-architecture-search", "pytorch"],
        ),
        *_yaml_list("datasets", [hub_dataset] if hub_dataset else []),
        *_yaml_list("metrics", ["accuracy"] if rows else []),
        "pipeline_tag: image-classification",
        "---",
    ]
    network = config["network"]
    genotype = Genotype.from_dict(config["genotype"])
    title = f"{network} with the {'CNAS' if genotype == resolve('CNAS') else 'searched'} cell"
    body = [
        f"# {title}" + (f" ({hub_dataset})" if hub_dataset else ""),
        "",
        "An evaluation network of Curriculum Neural Architecture Search (Guo et al., "
        f"ICML 2020), saved with cnas {config.get('cnas_version', __version__)}.",
        "",
        "## Use",
        "",
        "```python",
        "import cnas",
        "",
        f'model = cnas.models.from_pretrained("hf-hub:{repo_id or "ORG/NAME"}")',
        "```",
        "",
        "## Architecture",
        "",
        "| | |",
        "| --- | --- |",
        f"| network | `{network}` |",
        f"| channels (C) | {config['init_channels']} |",
        f"| cells | {config['layers']} |",
        f"| classes | {config['num_classes']} |",
        f"| auxiliary head | {'yes' if config['auxiliary'] else 'no'} |",
        f"| parameters (without the auxiliary head) | {count_params(model):,} |",
        "",
        "Genotype:",
        "",
        "```text",
        repr(genotype),
        "```",
    ]
    if rows:
        source = metrics.get("source")
        note = " (as reported in the paper)" if source == "paper" else ""
        body += ["", "## Results", "", f"On {hub_dataset or dataset}{note}:", ""]
        body += ["| metric | value |", "| --- | --- |", *rows]
    prep = config.get("preprocessing")
    if isinstance(prep, Mapping):
        body += [
            "",
            "## Preprocessing",
            "",
            f"Resize the shorter side to {prep['resize_size']} ({prep['interpolation']}), "
            f"centre-crop to {prep['input_size'][1]}x{prep['input_size'][2]}, scale to "
            f"[0, 1], normalize with mean {tuple(prep['mean'])} and std "
            f"{tuple(prep['std'])}.",
        ]
    body += ["", "## Citation", "", "```bibtex", _CITATION, "```", ""]
    return "\n".join([*front, "", *body])


# -- conversion -----------------------------------------------------------------------------


def _known_weights(path: Path) -> WeightsEnum | None:
    """The registered weights whose URL file ``path`` is (same name, matching hash)."""
    from ._registry import _REGISTRY

    digest: str | None = None
    for _, spec in _REGISTRY.items():
        for member in spec.weights or ():
            for source in member.sources:
                if isinstance(source, UrlSource) and source.filename == path.name:
                    digest = digest or sha256_file(path)
                    expected = source.sha256 or source.hash_prefix or "-"
                    if digest.startswith(expected):
                        return member
                    logger.warning(
                        "%s is named like %s's file but its SHA-256 %s does not match %s; "
                        "converting it without that metadata",
                        path,
                        member,
                        digest,
                        expected,
                    )
    return None


def find_weights(name: str) -> WeightsEnum:
    """The registered weights called ``"EnumName.MEMBER"`` (e.g.
    ``"CNAS_ImageNet_Weights.IMAGENET1K_V1"``).

    Raises:
        KeyError: no such weights; the message lists the known ones.
    """
    from ._registry import _REGISTRY

    known: dict[str, WeightsEnum] = {}
    for _, spec in _REGISTRY.items():
        if spec.weights is not None:
            for key, member in spec.weights.__members__.items():
                known[f"{spec.weights.__name__}.{key}"] = member
    if name not in known:
        raise KeyError(f"unknown weights {name!r}; known: {', '.join(sorted(known))}")
    return known[name]


def convert(
    source: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    *,
    arch: Genotype | str | None = None,
    weights: WeightsEnum | None = None,
    dataset: str | None = None,
    repo_id: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Turn a checkpoint into a ``save_pretrained`` folder (what ``cnas convert`` runs).

    ``source`` may be an original-format ``.pth`` (a state dict, possibly under
    ``state_dict``, with or without ``module.`` prefixes; the network's size is read
    from the tensor shapes and its genotype is ``arch``, default CNAS), a ``cnas train``
    checkpoint (``last.pt``/``best.pt``), a ``.safetensors`` file, or a folder written by
    ``cnas train``/``save_pretrained``. The converted weights are loaded into the
    network with ``strict=True`` before anything is written. The official release file
    is recognised by its name and hash, and its metadata fills the model card.

    Raises:
        FileNotFoundError: ``source`` does not exist.
        WeightsFormatError: ``source`` is unreadable or does not fit the network.
        ValueError: ``arch`` given for a source that carries its own network config.
        FileExistsError: ``output_dir`` is not empty and ``overwrite`` is False.
    """
    path = Path(source)
    out = Path(output_dir)
    _check_output(out, overwrite)
    genotype = resolve(arch) if arch is not None else None
    config: dict[str, Any] | None = None
    extra: dict[str, Any] = {}
    if path.is_dir():
        model = from_pretrained(path)
        config = _read_config(path / CONFIG_NAME, str(path / CONFIG_NAME))
    elif not path.is_file():
        raise FileNotFoundError(f"no such file or folder: {path}")
    else:
        state, config = _read_checkpoint(path)
        beside = path.parent / CONFIG_NAME
        if config is None and path.suffix == ".safetensors" and beside.is_file():
            config = _read_config(beside, str(beside))  # the cnas train layout
        if config is not None and "network" in config:
            model = network_from_config(config, str(path))
        else:
            config = None
            inferred = infer_network_config(state, genotype or resolve("CNAS"), str(path))
            model = network_from_config(inferred, str(path))
        load_into(model, state, str(path))
        weights = weights or _known_weights(path)
    if config is not None and genotype is not None:
        raise ValueError(
            f"{path} comes with its network config (genotype included); drop arch= / --arch"
        )
    if config is not None:
        dataset = dataset or config.get("dataset")
        if "train_config" in config:
            extra["train_config"] = config["train_config"]
    metrics = config.get("metrics") if config is not None and weights is None else None
    if repo_id is None and weights is not None:
        hub = [s for s in weights.sources if isinstance(s, HubSource)]
        repo_id = hub[0].repo_id if hub else None
    return _write_pretrained(
        model,
        out,
        weights=_weights_record(weights),
        weights_name=str(weights) if weights is not None else None,
        dataset=dataset,
        metrics=metrics,
        license=None,
        repo_id=repo_id,
        extra=extra,
        overwrite=overwrite,
    )


def _read_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any] | None]:
    """The state dict of a weights file, and the network config of a ``cnas train``
    checkpoint (``None`` for other files)."""
    if path.suffix != ".safetensors":
        try:
            raw = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # read_state_dict gives the precise, one-line reason
            return read_state_dict(path), None
        if isinstance(raw, dict) and raw.get("format") == TRAIN_FORMAT:
            config = dict(raw.get("model_config") or {})
            if "train_config" in raw:
                config["train_config"] = raw["train_config"]
            return extract_state_dict(raw.get("model"), str(path)), config
        return extract_state_dict(raw, str(path)), None
    return read_state_dict(path), None
