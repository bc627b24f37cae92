"""Every exception type cnas raises, in one place.

Each one subclasses the builtin exception it extends (``except KeyError`` still catches
an unknown op name, ``except FileNotFoundError`` a missing dataset) and ``CnasError``, so
``except cnas.errors.CnasError`` catches whatever cnas raised on purpose. The packages
where users meet them re-export them too (``cnas.ops.UnknownOpError``,
``cnas.models.WeightsNotFoundError``, ...).

Examples:
    >>> import cnas
    >>> try:
    ...     cnas.genotypes.get_genotype("CNSA")
    ... except cnas.errors.CnasError as exc:
    ...     print(type(exc).__name__, isinstance(exc, KeyError))
    UnknownGenotypeError True
"""

from __future__ import annotations

__all__ = [
    "BudgetError",
    "CheckpointError",
    "CnasError",
    "ConcurrentRunError",
    "ConfigError",
    "DatasetError",
    "DatasetNotFoundError",
    "GenotypeError",
    "LatencyTableError",
    "NonFiniteLossError",
    "RunLockedError",
    "StudyPlanError",
    "StudyRunError",
    "UnknownGenotypeError",
    "UnknownModelError",
    "UnknownNameError",
    "UnknownOpError",
    "UnknownStrategyError",
    "WeightsFormatError",
    "WeightsIntegrityError",
    "WeightsNotFoundError",
]


class CnasError(Exception):
    """The base of every exception type in this module."""


class ConcurrentRunError(CnasError, RuntimeError):
    """A search or training was started while another one runs in another thread of the
    same process. Runs draw from torch's global random generator (augmentation, drop-path,
    the initial weights), so two at once would not give the results either gives alone:
    runs in one process must be sequential (a study runs each in a process of its own)."""


class ConfigError(CnasError, ValueError):
    """A run configuration (``SearchConfig``, ``TrainConfig``, ``DataConfig``, ...) or a
    configuration file holds a value that cannot be used, or a key that no field has.

    ``path`` names the field (``"optimizer.lr"``, ``"strategy.settings.entropy_coeff"``)
    and ``reason`` what is wrong with it; the message is ``"path: reason"``.
    """

    def __init__(self, path: str, reason: str) -> None:
        # a key of a user's file can be anything: shown cut to 200 characters, in the
        # middle (the start names the file, the end the field)
        shown = path if len(path) <= 200 else path[:100] + "..." + path[-97:]
        super().__init__(f"{shown}: {reason}" if path else reason)
        self.path = path
        self.reason = reason

    def within(self, prefix: str) -> ConfigError:
        """The same error for the field seen from an enclosing configuration (its path
        prefixed with ``prefix``)."""
        if not prefix:
            return self
        return ConfigError(f"{prefix}.{self.path}" if self.path else prefix, self.reason)


class GenotypeError(CnasError, ValueError):
    """A genotype is malformed: bad structure, unknown op, wrong types or unreadable input.

    The message names the offending cell, edge or field.
    """


class UnknownNameError(CnasError, KeyError):
    """A name (op, genotype, model, strategy) is not registered.

    Subclasses ``KeyError`` so ``except KeyError`` keeps working, but prints its message
    plainly instead of as a quoted key.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UnknownOpError(UnknownNameError):
    """An op name that is not in the op registry (a ``KeyError``)."""


class UnknownModelError(UnknownNameError):
    """A model name that is not in the model registry (a ``KeyError``)."""


class UnknownGenotypeError(UnknownNameError):
    """A genotype name that is not registered (a ``KeyError``)."""


class UnknownStrategyError(UnknownNameError):
    """A search strategy name that is not in the strategy registry (a ``KeyError``)."""


class CheckpointError(CnasError, ValueError):
    """A checkpoint or run folder is corrupt, foreign, or does not match the current run.

    Whatever the folder held was left untouched; the message says what to do.
    """


class RunLockedError(CheckpointError):
    """Another process holds the run folder: it is running a search or training there.

    The operating system releases the lock when that process ends, however it ends, so a
    killed run never leaves one behind. The message names the holder's pid.
    """


class NonFiniteLossError(CnasError, FloatingPointError):
    """A training loss became NaN or infinite. The run stopped before the step that would
    have spread it into the weights; its last checkpoint (the end of the previous epoch)
    is kept, and resuming continues from there."""


class DatasetNotFoundError(CnasError, FileNotFoundError):
    """A dataset is not on disk and cannot (or may not) be downloaded."""


class DatasetError(CnasError, ValueError):
    """A dataset cnas cannot use: an image folder with no classes, one class or an empty
    class, a corrupt image, too few images for the splits. The message names the file,
    class or split."""


class WeightsNotFoundError(CnasError, FileNotFoundError):
    """Weights could not be found: not on the Hub or at the URL, not reachable, or not
    in the cache while offline. The message says what was tried and what to do."""


class WeightsIntegrityError(CnasError, ValueError):
    """A downloaded or cached weights file does not have the expected hash; it was
    deleted and not used."""


class WeightsFormatError(CnasError, ValueError):
    """A weights file cannot be used: unreadable, refused by ``weights_only`` loading
    (it needs unpickling of arbitrary objects), not a state dict, or not fitting the
    network."""


class StudyPlanError(CnasError, ValueError):
    """A study plan cannot run as given (an unknown strategy, curriculum or dataset, a
    budget that cannot be equal across arms, a value of the wrong kind), or a study folder
    holds another plan. The message names the field; nothing has run."""


class StudyRunError(CnasError, RuntimeError):
    """A run of a study failed. Its log (``logs/RUN.log`` in the study folder) has the
    details; the runs that finished are kept, and ``--resume`` continues the study."""


class BudgetError(CnasError, ValueError):
    """A cost budget cannot be used: no limit, a limit that is not a positive number, a
    latency limit without a latency table, or a limit that no cell of the search space
    can meet (the message names the smallest reachable value). Raised before the search
    starts."""


class LatencyTableError(CnasError, ValueError):
    """A latency table cannot be used: not a table written by ``cnas profile``, or made
    for another network configuration, device or op set (the message names the field
    that differs)."""
