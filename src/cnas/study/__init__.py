"""Studies: does a search find better cells? Several arms (a strategy on a curriculum) at
one search budget, several seeds each, every derived cell and a set of random ones
retrained with one recipe and scored on a held-out test split, and one report
(``report.md``: the table, Kendall's tau of weight sharing, the figure, the best cells).

The protocol follows Li & Talwalkar (UAI 2019), Yang et al. (ICLR 2020) and Lindauer &
Hutter's checklist (JMLR 2020); ``docs/study.md`` has the details.

- ``StudyPlan``, ``Arm``: what to run (a JSON file, code, or a preset).
- ``Study``: a study folder; ``run(jobs=...)`` runs it (resumable), ``run_one(i)`` one run.
- ``StudyRun``: one run, a configuration file in the study folder (``configs/``): a
  ``SearchConfig``, a ``TrainConfig`` or a ``ScoreConfig``, run by the library (on a
  cluster: ``cnas search --config``, ``cnas train --config``).
- ``kendall_tau``, ``permutation_test``, ``relative_improvement``, ``mean_std``: the
  statistics of the report.

Examples:
    >>> from cnas.study import StudyPlan
    >>> plan = StudyPlan.preset("smoke")
    >>> [arm.label for arm in plan.arms]
    ['cnas/ops', 'cnas/fixed', 'random/fixed']
"""

from ..errors import StudyPlanError as StudyPlanError
from ..errors import StudyRunError as StudyRunError
from ._plan import CURRICULA as CURRICULA
from ._plan import Arm as Arm
from ._plan import StudyPlan as StudyPlan
from ._presets import PRESETS as PRESETS
from ._report import parameter_free_share as parameter_free_share
from ._runner import STUDY_FILE as STUDY_FILE
from ._runner import Study as Study
from ._runs import ScoreConfig as ScoreConfig
from ._runs import StudyRun as StudyRun
from ._stats import kendall_tau as kendall_tau
from ._stats import mean_std as mean_std
from ._stats import permutation_test as permutation_test
from ._stats import relative_improvement as relative_improvement

__all__ = [
    "CURRICULA",
    "PRESETS",
    "STUDY_FILE",
    "Arm",
    "ScoreConfig",
    "Study",
    "StudyPlan",
    "StudyPlanError",
    "StudyRun",
    "StudyRunError",
    "kendall_tau",
    "mean_std",
    "parameter_free_share",
    "permutation_test",
    "relative_improvement",
]
