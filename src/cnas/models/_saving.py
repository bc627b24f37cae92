"""Saving networks as Hub-ready folders: ``save_pretrained`` and the model card.

The folder holds ``model.safetensors``, ``config.json`` (``network_config`` plus the
dataset, metrics, preprocessing, class names and license) and a ``README.md`` model
card whose YAML front matter the Hub reads. Only those three files are written; other
files in the folder (a ``cnas train`` run's ``metrics.jsonl``, ``last.pt``, ...) stay.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from torch import nn

from .._genotype import Genotype
from .._io import atomic_path, atomic_write_text
from .._version import __version__
from ..genotypes import resolve
from ..utils import count_params
from ._config import CARD_NAME, CONFIG_NAME, NETWORK_KEYS, WEIGHTS_NAME, network_config
from ._weights import CNAS_CIFAR10_Weights, CNAS_ImageNet_Weights, Weights, WeightsEnum

__all__ = ["RESERVED_KEYS", "check_output", "model_card", "model_record", "save_pretrained"]

logger = logging.getLogger("cnas")

RESERVED_KEYS = frozenset(
    (
        *NETWORK_KEYS,
        "dataset",
        "cnas_version",
        "weights",
        "metrics",
        "preprocessing",
        "categories",
        "license",
    )
)
"""The ``config.json`` keys cnas writes itself; ``save_pretrained(extra=)`` may not set
them."""

# cnas dataset names -> Hub dataset ids
_HUB_DATASETS = {"imagenet": "imagenet-1k", "imagenet-1k": "imagenet-1k", "cifar10": "cifar10"}


def check_output(directory: Path, overwrite: bool) -> None:
    """Refuse to write into a non-empty folder unless ``overwrite``.

    Raises:
        FileExistsError: ``directory`` is a file, or a non-empty folder and ``overwrite``
            is False.
    """
    if directory.exists() and not directory.is_dir():
        raise FileExistsError(f"{directory} exists and is not a folder")
    if directory.is_dir() and any(directory.iterdir()) and not overwrite:
        raise FileExistsError(
            f"{directory} is not empty; refusing to overwrite it (pass overwrite=True, "
            "or --force on the command line)"
        )


def _dataset_defaults(dataset: str | None) -> Weights | None:
    hub_id = _HUB_DATASETS.get(dataset or "")
    if hub_id == "imagenet-1k":
        return CNAS_ImageNet_Weights.DEFAULT.value
    if hub_id == "cifar10":
        return CNAS_CIFAR10_Weights.DEFAULT.value
    return None


def _extra_keys(extra: Mapping[str, Any] | None) -> dict[str, Any]:
    keys = dict(extra or {})
    not_str = [k for k in keys if not isinstance(k, str)]
    if not_str:
        raise TypeError(f"extra= keys must be strings, got {not_str[0]!r}")
    taken = sorted(set(keys) & RESERVED_KEYS)
    if taken:
        raise ValueError(
            f"extra= may not set {', '.join(taken)}: save_pretrained writes these keys "
            "itself (pass weights=, dataset=, metrics= or license= instead)"
        )
    return keys


def save_pretrained(
    model: nn.Module,
    directory: str | os.PathLike[str],
    *,
    weights: WeightsEnum | Weights | None = None,
    dataset: str | None = None,
    metrics: Mapping[str, float] | None = None,
    license: str | None = None,
    repo_id: str | None = None,
    extra: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    preprocessing: Mapping[str, Any] | None = None,
    categories: Sequence[str] | None = None,
) -> Path:
    """Write ``model`` as ``model.safetensors`` + ``config.json`` + ``README.md`` (a model
    card), ready for ``hf upload ORG/NAME DIRECTORY``.

    ``from_pretrained`` (and ``weights="hf-hub:..."`` once uploaded) reads it back. Every
    file is written atomically, and only these three files: ``overwrite=True`` replaces
    them in a folder that holds other files (a ``cnas train`` run folder, say) and leaves
    the rest alone.

    Args:
        model: A ``NetworkCIFAR`` or ``NetworkImageNet``.
        directory: The output folder; created if needed.
        weights: The weights record the model's parameters come from, if any; its
            dataset, metrics, preprocessing and license go into the config and the card.
        dataset: The training dataset (``"imagenet"``, ``"cifar10"``, ...), if not given
            by ``weights``.
        metrics: Accuracies to report: ``top1``/``top5`` in percent (as weights records
            give them), or ``best_top1``/``final_top1``/``final_top5`` as fractions (as
            ``cnas train`` records them); other keys are kept in ``config.json``.
        license: The weights' license for the card (default: the ``weights``' license,
            else ``bsd-3-clause``, cnas's own).
        repo_id: The Hub repository (``ORG/NAME``) the folder is meant for; the card's
            usage example names it.
        extra: More JSON-ready keys for ``config.json`` (``{"train": ...}``).
            They never replace the keys cnas writes itself (``RESERVED_KEYS``: the
            ``network_config`` keys, ``dataset``, ``cnas_version``, ``weights``,
            ``metrics``, ``preprocessing``, ``categories``, ``license``).
        overwrite: Write into a non-empty ``directory``, replacing ``model.safetensors``,
            ``config.json`` and ``README.md``.
        preprocessing: How the model's inputs were prepared, when no ``weights`` record
            or known dataset says: ``input_size`` (``[C, H, W]``), ``resize_size``,
            ``mean``, ``std`` (pixels scaled to [0, 1]) and ``interpolation``, as
            ``Weights.meta`` gives them (an image folder's, from
            ``DataConfig.model_description``).
        categories: The class names in label order, likewise.

    Returns:
        The output folder.

    Raises:
        TypeError: ``model`` is not a cnas network, or ``extra``/``metrics`` values are
            not JSON-ready.
        ValueError: ``extra`` names a key that cnas writes itself.
        FileExistsError: ``directory`` is not empty and ``overwrite`` is False.

    Examples:
        >>> import json, tempfile, cnas
        >>> net = cnas.NetworkCIFAR(8, 10, 5, False, "CNAS")
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     out = cnas.models.save_pretrained(net, folder, extra={"note": "demo"})
        ...     config = json.loads((out / "config.json").read_text())
        >>> config["network"], config["note"]
        ('NetworkCIFAR', 'demo')
    """
    target = Path(directory)
    config = model_record(
        model,
        weights=weights,
        dataset=dataset,
        metrics=metrics,
        license=license,
        extra=extra,
        preprocessing=preprocessing,
        categories=categories,
    )
    check_output(target, overwrite)
    try:
        text = json.dumps(config, indent=2) + "\n"
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{CONFIG_NAME} would not be JSON ({exc}); metrics= and extra= take JSON-ready values"
        ) from None
    card = model_card(config, model, repo_id)
    _write_files(model, target, text, card)
    return target


def model_record(
    model: nn.Module,
    *,
    weights: WeightsEnum | Weights | None = None,
    dataset: str | None = None,
    metrics: Mapping[str, float] | None = None,
    license: str | None = None,
    extra: Mapping[str, Any] | None = None,
    preprocessing: Mapping[str, Any] | None = None,
    categories: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The ``config.json`` of a saved model (``save_pretrained``'s), the one description of
    a model folder: ``network_config(model)``, the dataset, the cnas version, the weights
    record, metrics, preprocessing, categories and license, then ``extra`` (a ``cnas
    train`` folder adds its ``run`` record and its ``train`` configuration, from the
    start of the run on). ``preprocessing`` and ``categories`` (as ``save_pretrained``
    takes them) replace what the weights record or the dataset would give.

    Raises:
        TypeError: ``model`` is not a cnas network, or ``extra`` has a key that is not a
            string.
        ValueError: ``extra`` names a key that cnas writes itself (``RESERVED_KEYS``).
    """
    config: dict[str, Any] = network_config(model)
    more = _extra_keys(extra)
    record = weights.value if isinstance(weights, WeightsEnum) else weights
    dataset = dataset or (record.dataset if record is not None else None) or "custom"
    reference = record or _dataset_defaults(dataset)
    config["dataset"] = dataset
    config["cnas_version"] = __version__
    if isinstance(weights, WeightsEnum):
        config["weights"] = str(weights)
    recorded: dict[str, Any] = dict(metrics or {})
    if metrics is None and record is not None:
        recorded = {**record.metrics, "source": record.metrics_source}
    config["metrics"] = recorded
    if reference is not None and reference.num_classes == config["num_classes"]:
        config["preprocessing"] = {
            "input_size": list(reference.input_size),
            "resize_size": reference.resize_size,
            "mean": list(reference.mean),
            "std": list(reference.std),
            "interpolation": reference.interpolation,
        }
        known = reference.categories
        if known is not None:
            config["categories"] = list(known)
    if preprocessing is not None:
        config["preprocessing"] = _preprocessing(preprocessing, config)
    if categories is not None:
        names = [str(c) for c in categories]
        if len(names) != config["num_classes"]:
            raise ValueError(
                f"categories names {len(names)} class(es); the model has {config['num_classes']}"
            )
        config["categories"] = names
    config["license"] = license or (record.license if record is not None else "bsd-3-clause")
    config.update(more)
    return config


def _preprocessing(given: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("input_size", "resize_size", "mean", "std", "interpolation")
    missing = [k for k in keys if k not in given]
    if missing:
        raise ValueError(f"preprocessing lacks {', '.join(missing)}; it holds {', '.join(keys)}")
    record = {k: given[k] for k in keys}
    channels = config.get("in_channels", 3)
    if list(record["input_size"])[:1] != [channels] or len(record["mean"]) != channels:
        raise ValueError(
            f"preprocessing describes {record['input_size']} images with "
            f"{len(record['mean'])} mean(s); the model takes {channels} channel(s)"
        )
    return {
        **record,
        "input_size": list(record["input_size"]),
        "mean": list(record["mean"]),
        "std": list(record["std"]),
    }


def _write_files(model: nn.Module, directory: Path, config_text: str, card: str) -> None:
    from safetensors.torch import save_file

    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    directory.mkdir(parents=True, exist_ok=True)
    with atomic_path(directory / WEIGHTS_NAME) as tmp:
        save_file(tensors, str(tmp), metadata={"format": "pt", "cnas": __version__})
    atomic_write_text(directory / CONFIG_NAME, config_text)
    atomic_write_text(directory / CARD_NAME, card)
    logger.info("wrote %s, %s and %s in %s", WEIGHTS_NAME, CONFIG_NAME, CARD_NAME, directory)


# -- the model card --------------------------------------------------------------------------

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
        named = hub_dataset or dataset
        if dataset == "folder":
            categories = config.get("categories") or []
            named = f"an image folder of {len(categories)} classes ({', '.join(categories)})"
        body += ["", "## Results", "", f"On {named}{note}:", ""]
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
