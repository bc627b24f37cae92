"""Image folders as a dataset: ``DIR/<class>/*`` or ``DIR/train|val[|test]/<class>/*``.

The images are decoded once (a progress bar on a terminal) into one ``uint8`` tensor that
is cached on disk (``cache_dir()``), keyed by the folder and the requested size, and
checked against the files' names, sizes and modification times: a later run reads the
cache and no image; a changed, added or removed file decodes the folder again. The
images' size, channels (grey or colour) and class names are read from the folder.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch.utils.data import Dataset

from .._io import shorten
from .._progress import progress_bar
from ..errors import DatasetError, DatasetNotFoundError
from ._folder_cache import cache_path, read_cache, write_cache

__all__ = [
    "IMAGE_EXTENSIONS",
    "FolderImages",
    "ImageFolderData",
    "decode_image",
    "image_folder",
]

logger = logging.getLogger("cnas")

IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pbm"}
)
"""The file endings read as images (case-insensitive); other files are skipped and counted."""

MAX_IMAGE_SIZE = 1024
"""The largest side images are resized to (``--image-size``)."""

SPLITS = ("train", "val", "test")
_GREY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})

Layout = Literal["classes", "splits"]


# -- finding the files -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scan:
    root: Path
    layout: Layout
    classes: tuple[str, ...]
    files: tuple[tuple[str, int, int], ...]  # (path relative to root, label, split index)
    skipped: int
    manifest: str


def _walk(folder: Path, root: Path, seen: set[tuple[int, int]]) -> tuple[list[Path], int]:
    """The image files under ``folder`` (links followed, loops refused) and the count of
    other files."""
    images: list[Path] = []
    skipped = 0
    try:
        info = folder.stat()
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        raise DatasetError(f"cannot read {folder}: {exc.strerror or exc}") from None
    key = (info.st_dev, info.st_ino)
    if key in seen:
        raise DatasetError(f"{folder} is a symbolic link loop (it leads back to a folder above)")
    seen = seen | {key}
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = Path(entry.path)
        try:
            is_dir = entry.is_dir()  # follows links
            mode = path.stat().st_mode
        except OSError as exc:
            raise DatasetError(f"cannot read {path}: {exc.strerror or exc}") from None
        if is_dir:
            more, other = _walk(path, root, seen)
            images += more
            skipped += other
        elif stat.S_ISREG(mode) and path.suffix.lower() in IMAGE_EXTENSIONS:
            images.append(path)
        else:
            skipped += 1
    return images, skipped


def _class_folders(folder: Path) -> list[str]:
    try:
        return sorted(
            e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith(".")
        )
    except OSError as exc:
        raise DatasetError(f"cannot read {folder}: {exc.strerror or exc}") from None


def _scan(root: Path) -> _Scan:
    if not root.is_dir():
        raise DatasetNotFoundError(
            f"{root} is not a folder; an image folder holds one sub-folder of images per "
            "class (DIR/<class>/*.png), or train/ and val/ (and test/) that do"
        )
    layout: Layout = "splits" if (root / "train").is_dir() else "classes"
    split_folders = (
        {s: root / s for s in SPLITS if (root / s).is_dir()} if layout == "splits" else {}
    )
    if layout == "splits" and "val" not in split_folders:
        raise DatasetError(f"{root} has train/ but no val/: give both (test/ is optional)")
    classes = _class_folders(root / "train" if layout == "splits" else root)
    if not classes:
        raise DatasetError(
            f"{root} holds no class folders: put each class's images in a sub-folder named "
            "after it (DIR/<class>/*.png)"
        )
    if len(classes) < 2:
        raise DatasetError(
            f"{root} holds one class ({classes[0]!r}); a classifier needs at least two"
        )
    labels = {name: i for i, name in enumerate(classes)}
    files: list[tuple[str, int, int]] = []
    skipped = 0
    manifest = hashlib.sha256()
    for split_index, split in enumerate(SPLITS if layout == "splits" else ("train",)):
        base = split_folders.get(split, root) if layout == "splits" else root
        if layout == "splits" and split not in split_folders:
            continue
        here = _class_folders(base)
        extra = sorted(set(here) - set(classes))
        if extra:
            raise DatasetError(
                f"class {extra[0]!r} is in {split}/ but not in train/ ({base / extra[0]})"
            )
        if split == "val":
            missing = sorted(set(classes) - set(here))
            if missing:
                raise DatasetError(
                    f"class {missing[0]!r} is in train/ but not in val/: its accuracy "
                    "could not be measured; add its images to val/ or remove the class"
                )
        for name in here:
            images, other = _walk(base / name, root, set())
            skipped += other
            if not images and split != "test":
                raise DatasetError(f"class {name!r} holds no images ({base / name})")
            for path in images:
                relative = path.relative_to(root).as_posix()
                info = path.stat()
                manifest.update(
                    f"{split}\0{relative}\0{info.st_size}\0{info.st_mtime_ns}\n".encode()
                )
                files.append((relative, labels[name], split_index))
    loose = [p for p in root.iterdir() if p.is_file() and not p.name.startswith(".")]
    skipped += len(loose) if layout == "classes" else 0
    return _Scan(root, layout, tuple(classes), tuple(files), skipped, manifest.hexdigest())


# -- decoding ----------------------------------------------------------------------------------


def _open(path: str | os.PathLike[str]) -> Any:
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(path)
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError, ValueError) as exc:
        raise DatasetError(f"{path} is not a readable image: {exc}") from None
    return image


def decode_image(
    path: str | os.PathLike[str], size: int, channels: int, crop: int | None = None
) -> torch.Tensor:
    """The image file at ``path`` as a ``uint8`` tensor ``(channels, size, size)``:
    converted to grey (1 channel) or RGB (3), the shorter side resized to ``size``
    (bilinear), then the centre ``crop`` (default: ``size``) cropped.

    Raises:
        DatasetError: the file is not an image, or a corrupt or truncated one.
    """
    from PIL import Image

    image = _open(path)
    try:
        with image:
            image.load()
            image = image.convert("L" if channels == 1 else "RGB")
            width, height = image.size
            side = crop or size
            if (width, height) != (side, side):
                scale = size / min(width, height)
                new = (max(size, round(width * scale)), max(size, round(height * scale)))
                if new != (width, height):
                    image = image.resize(new, Image.Resampling.BILINEAR)
                left, top = (new[0] - side) // 2, (new[1] - side) // 2
                image = image.crop((left, top, left + side, top + side))
            data = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise DatasetError(f"{path} is a corrupt or truncated image: {exc}") from None
    return data.view(side, side, channels).permute(2, 0, 1).contiguous()


def _shape(paths: Sequence[Path], image_size: int | None) -> tuple[int, int, int, int]:
    """``(size, channels, images of another size, colour images made grey or grey made
    colour)`` from the images' headers."""
    sizes: Counter[tuple[int, int]] = Counter()
    grey = 0
    for path in paths:
        with _open(path) as image:
            sizes[image.size] += 1
            grey += image.mode in _GREY_MODES
    channels = 1 if grey == len(paths) else 3
    (width, height), _ = sizes.most_common(1)[0]
    size = image_size or min(width, height, MAX_IMAGE_SIZE)
    other = sum(n for s, n in sizes.items() if s != (size, size))
    converted = grey if channels == 3 else 0
    return size, channels, other, converted


def _progress(total: int, what: str) -> Any:
    return progress_bar(total=total, desc=what, unit="img", leave=False)


# -- the folder --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageFolderData:
    """A decoded image folder.

    Attributes:
        root: The folder.
        layout: ``"classes"`` (``DIR/<class>/*``: cnas draws the splits) or ``"splits"``
            (``DIR/train/<class>/*``, ``DIR/val/...``, and an optional ``test/``).
        classes: The class names, in label order (sorted folder names).
        image_size: The images' side after resizing.
        channels: 1 when every image is grey, else 3.
        images: ``uint8`` images ``(N, channels, image_size, image_size)``.
        labels: ``int64`` labels ``(N,)``.
        splits: ``int8`` ``(N,)``: 0 for ``train/`` (every image of the ``classes``
            layout), 1 for ``val/``, 2 for ``test/``.
        paths: Each image's path relative to ``root`` (POSIX separators), in order.
        skipped: Files that are not images (by their ending), skipped.
        resized: Images that had another size and were resized.
        converted: Grey images made colour, or colour images made grey.
        from_cache: Whether the images were read from the cache (no image file opened).
    """

    root: Path
    layout: Layout
    classes: tuple[str, ...]
    image_size: int
    channels: int
    images: torch.Tensor
    labels: torch.Tensor
    splits: torch.Tensor
    paths: tuple[str, ...] = ()
    skipped: int = 0
    resized: int = 0
    converted: int = 0
    from_cache: bool = False

    def indices(self, split: Literal["train", "val", "test"]) -> list[int]:
        """The positions of ``split``'s images."""
        return torch.nonzero(self.splits == SPLITS.index(split)).flatten().tolist()

    def statistics(self, indices: Sequence[int]) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per-channel mean and standard deviation of the images at ``indices``, pixels
        scaled to [0, 1]."""
        if not indices:
            raise DatasetError(f"{self.root}: no images to compute the normalization from")
        pixels = self.images[torch.as_tensor(list(indices))].float().div_(255)
        mean = pixels.mean(dim=(0, 2, 3))
        std = pixels.std(dim=(0, 2, 3)).clamp_min(1e-3)
        return (
            tuple(round(float(v), 6) for v in mean),
            tuple(round(float(v), 6) for v in std),
        )

    def dataset(
        self,
        indices: Sequence[int],
        mean: Sequence[float],
        std: Sequence[float],
        *,
        augment: bool = False,
    ) -> FolderImages:
        """The images at ``indices`` as ``(float image, label)`` pairs, normalized with
        ``mean`` and ``std`` (and cropped and flipped at random with ``augment``)."""
        index = torch.as_tensor(list(indices), dtype=torch.long)
        files = [str(self.root / self.paths[i]) for i in indices] if self.paths else None
        return FolderImages(
            self.images[index], self.labels[index], mean, std, augment=augment, files=files
        )


class FolderImages(Dataset[tuple[torch.Tensor, int]]):
    """``uint8`` images and labels served as normalized float images: ``(image, label)``.

    With ``augment`` (images of at least 16x16), each image is padded by an eighth of its
    side and cropped back at a random place, and flipped horizontally with probability
    one half: the search-time augmentation of CIFAR-10, scaled to the images. The draws
    use torch's global generator, as torchvision's transforms do. ``__getitems__``
    serves a whole batch at once (the ``DataLoader`` uses it). ``files`` names each
    item's image file (which images a split holds).
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        mean: Sequence[float],
        std: Sequence[float],
        *,
        augment: bool = False,
        files: Sequence[str] | None = None,
    ) -> None:
        channels = images.shape[1]
        if len(mean) != channels or len(std) != channels:
            raise ValueError(
                f"mean and std need {channels} value(s) each, got {len(mean)} and {len(std)}"
            )
        self.images = images
        self.labels = labels
        self.mean = torch.tensor(list(mean), dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(list(std), dtype=torch.float32).view(1, -1, 1, 1)
        self.augment = augment and images.shape[-1] >= 16
        self.files = list(files) if files is not None else None

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: Sequence[int]) -> list[tuple[torch.Tensor, int]]:
        index = torch.as_tensor(list(indices), dtype=torch.long)
        batch = self.images[index].float().div_(255)
        if self.augment:
            batch = _crop_and_flip(batch)
        batch = batch.sub_(self.mean).div_(self.std)
        labels = self.labels[index].tolist()
        return list(zip(batch.unbind(0), labels, strict=True))


def _crop_and_flip(batch: torch.Tensor) -> torch.Tensor:
    n, _, size, _ = batch.shape
    pad = max(1, size // 8)
    padded = torch.nn.functional.pad(batch, (pad, pad, pad, pad))
    offsets = torch.randint(0, 2 * pad + 1, (n, 2)).tolist()
    flips = torch.rand(n).lt(0.5).tolist()
    out = torch.empty_like(batch)
    for i, ((dy, dx), flip) in enumerate(zip(offsets, flips, strict=True)):
        crop = padded[i, :, dy : dy + size, dx : dx + size]
        out[i] = crop.flip(-1) if flip else crop
    return out


# -- the cache ---------------------------------------------------------------------------------

_MEMORY: dict[tuple[str, int | None], tuple[str, ImageFolderData]] = {}
"""The last folder decoded or read in this process, by folder and requested size (a run
reads its folder's shape before it loads it)."""


def image_folder(
    root: str | os.PathLike[str],
    image_size: int | None = None,
    *,
    cache: bool = True,
    progress: bool | None = None,
) -> ImageFolderData:
    """Read an image folder (decoded once, then from the cache).

    Args:
        root: ``DIR`` with one sub-folder per class, or with ``train/`` and ``val/`` (and
            an optional ``test/``) that have.
        image_size: Resize every image (shorter side, then the centre): unset, the
            images' most common size (its shorter side) is kept.
        cache: Read and write the decoded images in ``cache_dir()``.
        progress: Show a progress bar while decoding (``None``: on a terminal).

    Raises:
        DatasetNotFoundError: ``root`` is not a folder.
        DatasetError: a folder cnas cannot use, in one line naming the file or class:
            no class folders, one class, an empty class, a class of ``val/`` or
            ``test/`` missing from ``train/`` (or of ``train/`` from ``val/``), a
            corrupt or truncated image, an unreadable file, a symbolic link loop.
    """
    if image_size is not None and not (
        isinstance(image_size, int) and not isinstance(image_size, bool)
    ):
        raise TypeError(f"image_size must be an integer, got {shorten(image_size)}")
    if image_size is not None and not 1 <= image_size <= MAX_IMAGE_SIZE:
        raise ValueError(f"image_size must be in 1..{MAX_IMAGE_SIZE}, got {image_size}")
    folder = Path(os.fspath(root))
    scan = _scan(folder)
    if not scan.files:
        raise DatasetError(
            f"{folder} holds no images ({scan.skipped} other file(s) skipped; images end "
            f"in {', '.join(sorted(IMAGE_EXTENSIONS))})"
        )
    key = (str(folder.resolve()), image_size)
    remembered = _MEMORY.get(key)
    if remembered is not None and remembered[0] == scan.manifest:
        return remembered[1]
    path = cache_path(folder, image_size) if cache else None
    data = _from_cache(path, scan) if path is not None else None
    if data is None:
        data = _decode_all(scan, image_size, progress)
        if path is not None:
            write_cache(path, scan.manifest, *_cache_parts(data))
    _MEMORY.clear()
    _MEMORY[key] = (scan.manifest, data)
    return data


def _decode_all(scan: _Scan, image_size: int | None, progress: bool | None) -> ImageFolderData:
    paths = [scan.root / relative for relative, _, _ in scan.files]
    size, channels, resized, converted = _shape(paths, image_size)
    images = torch.empty(len(paths), channels, size, size, dtype=torch.uint8)
    bar = _progress(len(paths), f"decoding {scan.root.name or scan.root}")
    if progress is False:
        bar.disable = True
    with bar:
        for i, path in enumerate(paths):
            images[i] = decode_image(path, size, channels)
            bar.update(1)
    if resized:
        logger.warning(
            "%s: %d image(s) of another size than %dx%d were resized to it",
            scan.root,
            resized,
            size,
            size,
        )
    if converted:
        logger.warning("%s: %d grey image(s) were made colour (RGB)", scan.root, converted)
    if scan.skipped:
        logger.info("%s: %d file(s) that are not images were skipped", scan.root, scan.skipped)
    return ImageFolderData(
        root=scan.root,
        layout=scan.layout,
        classes=scan.classes,
        image_size=size,
        channels=channels,
        images=images,
        labels=torch.tensor([label for _, label, _ in scan.files], dtype=torch.long),
        splits=torch.tensor([split for _, _, split in scan.files], dtype=torch.int8),
        paths=tuple(relative for relative, _, _ in scan.files),
        skipped=scan.skipped,
        resized=resized,
        converted=converted,
    )


def _cache_parts(data: ImageFolderData) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors = {"images": data.images, "labels": data.labels, "splits": data.splits}
    record = {
        "root": str(data.root),
        "classes": list(data.classes),
        "image_size": data.image_size,
        "channels": data.channels,
        "resized": data.resized,
        "converted": data.converted,
    }
    return tensors, record


def _from_cache(path: Path, scan: _Scan) -> ImageFolderData | None:
    cached = read_cache(path, scan.manifest)
    if cached is None:
        return None
    tensors, record = cached
    try:
        data = ImageFolderData(
            root=scan.root,
            layout=scan.layout,
            classes=tuple(str(c) for c in record["classes"]),
            image_size=int(record["image_size"]),
            channels=int(record["channels"]),
            images=tensors["images"],
            labels=tensors["labels"],
            splits=tensors["splits"],
            paths=tuple(relative for relative, _, _ in scan.files),
            skipped=scan.skipped,
            resized=int(record["resized"]),
            converted=int(record["converted"]),
            from_cache=True,
        )
    except (KeyError, TypeError, ValueError):
        data = None
    n = len(scan.files)
    if data is None or (
        tuple(data.images.shape) != (n, data.channels, data.image_size, data.image_size)
        or data.images.dtype != torch.uint8
        or data.classes != scan.classes
        or tuple(data.labels.shape) != (n,)
        or tuple(data.splits.shape) != (n,)
    ):
        logger.warning("ignoring the image cache %s, which does not fit; decoding again", path)
        return None
    logger.info("read %d decoded images of %s from the cache %s", n, scan.root, path)
    return data
