"""torch.hub entry points: ``torch.hub.load("<owner>/<repo>", "cnas_imagenet")``.

As in the original CNAS release, the entry points load the default pretrained weights
unless told otherwise: pass ``weights=None`` for a randomly initialized network, or any
other ``weights=`` value that ``cnas.models.cnas_imagenet`` takes. The cnas package is
imported from this checkout's ``src`` folder, falling back to an installed cnas.
"""

import os as _os
import sys as _sys

dependencies = ["torch", "torchvision", "huggingface_hub", "safetensors", "graphviz", "tqdm"]

_SRC = _os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "src")
if _os.path.isdir(_os.path.join(_SRC, "cnas")) and "cnas" not in _sys.modules:
    _sys.path.insert(0, _SRC)
    try:
        import cnas.models as _models
    finally:
        _sys.path.remove(_SRC)
else:
    import cnas.models as _models


def _with_default_weights(kwargs):
    if "weights" not in kwargs and "pretrained" not in kwargs:
        kwargs["weights"] = "DEFAULT"
    return kwargs


def cnas_imagenet(**kwargs):
    """CNAS on ImageNet (``NetworkImageNet(48, 1000, 14, True, CNAS)``) with the official
    weights (75.4% top-1) unless ``weights=`` says otherwise; see
    ``cnas.models.cnas_imagenet``."""
    return _models.cnas_imagenet(**_with_default_weights(kwargs))


def cnas_cifar10(**kwargs):
    """CNAS on CIFAR-10 (``NetworkCIFAR(36, 10, 20, True, CNAS)``); its default weights are
    not published yet, so pass ``weights=None`` (or a file / ``hf-hub:`` repo) for now;
    see ``cnas.models.cnas_cifar10``."""
    return _models.cnas_cifar10(**_with_default_weights(kwargs))
