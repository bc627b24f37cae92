"""Your own images on a CPU: the one-time decode of an image folder, and the share of a
search epoch spent loading data once the folder is cached.

Generates a folder of ``--images`` 32x32 RGB PNG files in 10 classes (a fixed pattern per
class plus noise), then in one process:

1. decodes it with ``cnas.data.image_folder`` into a fresh cache (the one-time cost),
   and reads it again from the cache (what every later run pays);
2. runs a search on it (``cnas.Searcher.from_config``, the ``folder`` dataset, a fixed
   curriculum of ``--epochs`` supernet epochs of ``--steps`` batches of 64, C=8,
   5 cells, the 8 DARTS ops) and measures, per epoch, the time inside the DataLoader's
   iterator (fetching, augmenting, normalizing, collating) against the epoch's time;
3. as the baseline, in the same run: the same epochs' loading from an in-memory
   ``TensorDataset`` of the already normalized images (what loading costs with nothing
   to decode or augment).

Usage::

    python benchmarks/own_images.py                 # 10,000 images, 3 epochs of 40 steps
    python benchmarks/own_images.py --images 2000 --steps 10 --json out.json

Target (issue 27): data loading at most 10% of a search epoch after the first.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.dataloader import _BaseDataLoaderIter


def make_images(root: Path, count: int, classes: int = 10, size: int = 32) -> float:
    from PIL import Image

    start = time.perf_counter()
    g = torch.Generator().manual_seed(0)
    templates = torch.rand(classes, size, size, 3, generator=g) * 160
    for i in range(count):
        label = i % classes
        folder = root / f"class_{label}"
        folder.mkdir(parents=True, exist_ok=True)
        noise = torch.rand(size, size, 3, generator=g) * 95
        pixels = (templates[label] + noise).clamp(0, 255).to(torch.uint8).numpy()
        Image.fromarray(pixels, mode="RGB").save(folder / f"{i:05d}.png")
    return time.perf_counter() - start


class LoaderClock:
    """Accumulates the time spent in every DataLoader iterator's ``__next__``."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._real = _BaseDataLoaderIter.__next__

    def __enter__(self) -> LoaderClock:
        clock = self
        real = self._real

        def timed(it: Any) -> Any:
            start = time.perf_counter()
            try:
                return real(it)
            finally:
                clock.seconds += time.perf_counter() - start

        _BaseDataLoaderIter.__next__ = timed  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        _BaseDataLoaderIter.__next__ = self._real  # type: ignore[method-assign]


def search_epochs(root: Path, out: Path, epochs: int, steps: int) -> list[dict[str, float]]:
    import cnas
    from cnas.search import Callback, SearchConfig

    rows: list[dict[str, float]] = []
    clock = LoaderClock()

    class EpochClock(Callback):
        mark = 0.0

        def on_epoch_end(self, searcher: Any, record: dict[str, Any]) -> None:
            rows.append(
                {
                    "epoch_s": float(record["time_s"]),
                    "loading_s": clock.seconds - self.mark,
                    "images": float(record["images"]),
                }
            )
            self.mark = clock.seconds

    config = SearchConfig().replace(
        data={"dataset": "folder", "root": str(root)},
        curriculum={
            "kind": "fixed",
            "warmup_epochs": epochs,
            "epochs_per_stage": 0,
            "steps_per_epoch": steps,
        },
        supernet={"init_channels": 8, "layers": 5},
        optimizer={"batch_size": 64},
        strategy={"derive_batches": 1},
        runtime={"device": "cpu", "progress": False, "draw": False, "tensorboard": False},
    )
    searcher = cnas.Searcher.from_config(config, out, callbacks=[EpochClock()])
    with clock:
        searcher.fit()
    return rows


def baseline_loading(root: Path, steps: int, epochs: int) -> float:
    """Seconds per epoch to load ``steps`` batches of 64 from a TensorDataset."""
    from cnas.data import image_folder

    data = image_folder(root)
    images = data.images.float().div(255)
    mean = images.mean(dim=(0, 2, 3)).view(1, -1, 1, 1)
    std = images.std(dim=(0, 2, 3)).view(1, -1, 1, 1)
    dataset = TensorDataset((images - mean) / std, data.labels)
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        for i, _batch in enumerate(DataLoader(dataset, batch_size=64, shuffle=True)):
            if i + 1 == steps:
                break
        times.append(time.perf_counter() - start)
    return sum(times[1:]) / max(1, len(times) - 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=40, help="batches per search epoch")
    parser.add_argument(
        "--epochs", type=int, default=3, help="search epochs (the first is not counted)"
    )
    parser.add_argument("--work", type=Path, default=None, help="folder for the images and runs")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        os.environ["CNAS_CACHE"] = str(work / "cache")
        root = work / "images"
        made = make_images(root, args.images)

        from cnas.data import _folder, image_folder

        start = time.perf_counter()
        image_folder(root, progress=False)
        decode = time.perf_counter() - start
        _folder._MEMORY.clear()
        start = time.perf_counter()
        cached = image_folder(root)
        read = time.perf_counter() - start
        assert cached.from_cache
        _folder._MEMORY.clear()

        rows = search_epochs(root, work / "search", args.epochs, args.steps)
        later = rows[1:] or rows
        epoch = sum(r["epoch_s"] for r in later) / len(later)
        loading = sum(r["loading_s"] for r in later) / len(later)
        base = baseline_loading(root, args.steps, args.epochs)

    result = {
        "images": args.images,
        "write_png_s": made,
        "decode_s": decode,
        "decode_images_per_s": args.images / decode,
        "cache_read_s": read,
        "decode_over_cache_read": decode / read,
        "epochs": rows,
        "epoch_s": epoch,
        "loading_s": loading,
        "loading_share": loading / epoch,
        "baseline_loading_s": base,
        "loading_over_baseline": loading / base,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
    print(f"{args.images} PNG images (32x32 RGB, 10 classes), torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")  # fmt: skip
    print(f"one-time decode into the cache: {decode:.1f} s ({args.images / decode:,.0f} images/s)")
    print(f"read from the cache: {read:.2f} s ({decode / read:.0f}x faster than decoding)")
    share = 100 * loading / epoch
    print(f"search epochs of {args.steps} batches of 64 (after the first): {epoch:.2f} s, "
          f"of which loading {loading:.3f} s = {share:.1f}% (target <= 10%)")  # fmt: skip
    print(f"baseline (in-memory TensorDataset, same batches): {base:.3f} s; folder loading "
          f"/ baseline = {loading / base:.2f}x")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
