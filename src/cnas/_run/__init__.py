"""The run layer shared by search, training and studies, one module per concern:

- ``_folder``: ``RunFolder``, a run's output folder (fresh, resumed or refused), its
  lock, ``config.json``, ``metrics.jsonl`` and TensorBoard events;
- ``_checkpoints``: sealing (format, version, checksum), writing atomically, loading and
  checking checkpoints against their kind's schema;
- ``_rng``: every random generator a run draws from, captured and restored;
- ``_loaders``: the global-batch convention, sharded data loaders and the batch loop;
- ``_runtime``: ``RuntimeConfig``, the part of a run's configuration that says how it
  runs (device, workers, progress bars, memory format, TensorBoard).
"""

from ._checkpoints import CHECKPOINT_FORMATS as CHECKPOINT_FORMATS
from ._checkpoints import CHECKPOINT_NAMES as CHECKPOINT_NAMES
from ._checkpoints import CHECKPOINT_SCHEMAS as CHECKPOINT_SCHEMAS
from ._checkpoints import RunKind as RunKind
from ._checkpoints import load_checkpoint as load_checkpoint
from ._checkpoints import save_checkpoint as save_checkpoint
from ._checkpoints import seal_checkpoint as seal_checkpoint
from ._checkpoints import verify_checkpoint as verify_checkpoint
from ._checkpoints import write_checkpoint as write_checkpoint
from ._folder import CONFIG_NAME as CONFIG_NAME
from ._folder import METRICS_NAME as METRICS_NAME
from ._folder import TEST_RESULT_NAME as TEST_RESULT_NAME
from ._folder import RunFolder as RunFolder
from ._folder import json_line as json_line
from ._loaders import check_data as check_data
from ._loaders import device_batches as device_batches
from ._loaders import make_loader as make_loader
from ._loaders import per_process_batch as per_process_batch
from ._rng import rng_state as rng_state
from ._rng import set_rng_state as set_rng_state
from ._runtime import RuntimeConfig as RuntimeConfig

__all__ = [
    "CHECKPOINT_FORMATS",
    "CHECKPOINT_NAMES",
    "CHECKPOINT_SCHEMAS",
    "CONFIG_NAME",
    "METRICS_NAME",
    "TEST_RESULT_NAME",
    "RunFolder",
    "RunKind",
    "RuntimeConfig",
    "check_data",
    "device_batches",
    "json_line",
    "load_checkpoint",
    "make_loader",
    "per_process_batch",
    "rng_state",
    "save_checkpoint",
    "seal_checkpoint",
    "set_rng_state",
    "verify_checkpoint",
    "write_checkpoint",
]
