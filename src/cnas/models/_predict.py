"""``predict``: class names and probabilities for image files, with the preprocessing the
model recorded, from a trained folder, a saved model, an ``hf-hub:`` name or an ONNX file."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import DatasetError, WeightsFormatError
from ._preprocess import Preprocessing

__all__ = ["Prediction", "Predictor", "predict"]


@dataclass(frozen=True)
class Prediction:
    """One image's prediction.

    Attributes:
        path: The image file.
        label: The most probable class's index.
        name: Its name (the index as text when the model records no names).
        probability: Its probability (softmax of the logits).
        top_k: ``(name, probability)`` of the ``k`` most probable classes, most first.
    """

    path: str
    label: int
    name: str
    probability: float
    top_k: tuple[tuple[str, float], ...]

    def to_dict(self) -> dict[str, Any]:
        """``{"path", "class", "probability", "top_k": [{"class", "probability"}, ...]}``:
        what ``cnas predict --json`` prints for each image."""
        return {
            "path": self.path,
            "class": self.name,
            "probability": self.probability,
            "top_k": [{"class": n, "probability": p} for n, p in self.top_k],
        }


def _images(items: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The image files: files as given, folders' images (recursively, sorted)."""
    from ..data import IMAGE_EXTENSIONS

    found: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            inside = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix.lower() in IMAGE_EXTENSIONS
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not inside:
                raise DatasetError(f"{path} holds no images")
            found += inside
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such image file or folder")
    if not found:
        raise ValueError("no images given")
    return found


class Predictor:
    """A model ready to classify image files with its recorded preprocessing.

    Args:
        source: A folder written by ``cnas train`` or ``save_pretrained`` (its
            ``config.json`` records the preprocessing), ``"hf-hub:ORG/NAME[@REVISION]"``
            (such a folder on the Hub), or an ONNX file written by ``cnas export``
            (needs the export extra; its metadata records the preprocessing).
        device: Where a PyTorch model runs.

    Raises:
        WeightsFormatError: the model records no preprocessing, or a malformed one.
        FileNotFoundError: no such folder or file.
        ImportError: an ONNX file without onnxruntime; the message says how to install it.
    """

    def __init__(self, source: str | os.PathLike[str], device: str | torch.device = "cpu") -> None:
        from .._validation import parse_device

        self.source = str(source)
        self.device = parse_device(device)
        self._session: Any = None
        self._model: Any = None
        if Path(source).is_file() and Path(source).suffix.lower() == ".onnx":
            self.preprocessing, self._pixels = self._open_onnx(Path(source))
        else:
            self.preprocessing, self._pixels = self._open_model(source), False

    def _open_onnx(self, path: Path) -> tuple[Preprocessing, bool]:
        from ._export_files import require as _require

        (ort,) = _require(["onnxruntime"])
        self._session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        meta = self._session.get_modelmeta().custom_metadata_map
        if "cnas.preprocessing" not in meta:
            raise WeightsFormatError(
                f"{path} records no preprocessing: export a network trained on an image "
                "folder with cnas export"
            )
        try:
            config = {
                "preprocessing": json.loads(meta["cnas.preprocessing"]),
                "categories": json.loads(meta.get("cnas.categories", "null")),
            }
        except ValueError as exc:
            raise WeightsFormatError(f"{path}: malformed cnas metadata ({exc})") from None
        return Preprocessing.from_config(config, str(path)), meta.get("cnas.input") == "pixels"

    def _open_model(self, source: str | os.PathLike[str]) -> Preprocessing:
        from ._config import CONFIG_NAME, network_from_config, read_config
        from ._loading import _pretrained_files, load_into
        from ._state_dict import read_state_dict

        config_path, weights_path, origin = _pretrained_files(source, None, True)
        where = f"{origin} ({CONFIG_NAME})"
        config = read_config(config_path, where)
        preprocessing = Preprocessing.from_config(config, where)
        model = network_from_config(config, where, auxiliary=False)
        load_into(model, read_state_dict(weights_path), f"{origin} (weights)")
        self._model = model.to(self.device).eval()
        return preprocessing

    def logits(self, pixels: torch.Tensor) -> torch.Tensor:
        """The logits for a batch of ``uint8`` pixels ``(N, C, H, W)`` of the input size."""
        if self._session is not None:
            batch = pixels if self._pixels else self.preprocessing.normalize(pixels)
            name = self._session.get_inputs()[0].name
            (out,) = self._session.run(None, {name: batch.numpy()})
            return torch.from_numpy(out)
        with torch.no_grad():
            x = self.preprocessing.normalize(pixels).to(self.device)
            return self._model(x).float().cpu()  # type: ignore[no-any-return]

    def predict(
        self, images: Iterable[str | os.PathLike[str]], *, top_k: int = 5, batch_size: int = 64
    ) -> list[Prediction]:
        """Predictions for image files and folders (their images, sorted), in order.

        Raises:
            DatasetError: a file that is not a readable image (named).
            FileNotFoundError: no such file or folder.
        """
        from .._validation import check_int

        check_int("top_k", top_k)
        check_int("batch_size", batch_size)
        paths = _images(images)
        names = self.preprocessing.categories
        results: list[Prediction] = []
        for start in range(0, len(paths), batch_size):
            chunk = paths[start : start + batch_size]
            pixels = torch.stack([self.preprocessing.pixels(p) for p in chunk])
            probabilities = self.logits(pixels).softmax(dim=1)
            k = min(top_k, probabilities.shape[1])
            values, indices = probabilities.topk(k, dim=1)
            for path, vals, idxs in zip(chunk, values.tolist(), indices.tolist(), strict=True):
                labels = [names[i] if names and i < len(names) else str(i) for i in idxs]
                results.append(
                    Prediction(
                        str(path),
                        idxs[0],
                        labels[0],
                        vals[0],
                        tuple(zip(labels, vals, strict=True)),
                    )
                )
        return results


def predict(
    source: str | os.PathLike[str],
    images: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    *,
    top_k: int = 5,
    device: str | torch.device = "cpu",
) -> list[Prediction]:
    """Classify image files (or folders of them) with a trained model and the
    preprocessing it recorded: ``Predictor(source, device).predict(images, top_k=top_k)``.

    Examples:
        >>> import cnas
        >>> cnas.models.predict  # doctest: +ELLIPSIS
        <function predict at ...>
    """
    items = [images] if isinstance(images, (str, os.PathLike)) else list(images)
    return Predictor(source, device).predict(items, top_k=top_k)
