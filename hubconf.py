"""torch.hub entry points: ``torch.hub.load("<owner>/<repo>", "cnas_imagenet")``.

As in the original CNAS release (``cnas_imagenet(pretrained=True)``), the entry points
load the default pretrained weights unless told otherwise: pass ``pretrained=False`` or
``weights=None`` for a randomly initialized network, or any other ``weights=`` value that
``cnas.models.cnas_imagenet`` takes. The cnas package is imported from this checkout's
``src`` folder, falling back to an installed cnas.
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


def _pretrained(pretrained, kwargs):
    """The original's default, ``pretrained=True``, unless ``weights=`` is given."""
    return ("weights" not in kwargs) if pretrained is None else pretrained


def cnas_imagenet(pretrained=None, **kwargs):
    """CNAS on ImageNet (``NetworkImageNet(48, 1000, 14, True, CNAS)``) with the official
    weights (75.4% top-1) unless ``pretrained=False`` or ``weights=`` says otherwise; see
    ``cnas.models.cnas_imagenet``."""
    return _models.cnas_imagenet(_pretrained(pretrained, kwargs), **kwargs)


def cnas_cifar10(pretrained=None, **kwargs):
    """CNAS on CIFAR-10 (``NetworkCIFAR(36, 10, 20, True, CNAS)``); its default weights are
    not published yet, so pass ``pretrained=False`` or ``weights=None`` (or a file /
    ``hf-hub:`` repo) for now; see ``cnas.models.cnas_cifar10``."""
    return _models.cnas_cifar10(_pretrained(pretrained, kwargs), **kwargs)
