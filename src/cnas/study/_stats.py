"""The statistics of a study report: mean and spread, the relative improvement over random
architectures (Yang et al., ICLR 2020), a permutation test of two arms' means, and Kendall's
tau (tau-b) between two rankings. Plain Python: no SciPy needed."""

from __future__ import annotations

import itertools
import math
import random
import statistics
from collections.abc import Sequence

__all__ = ["kendall_tau", "mean_std", "permutation_test", "relative_improvement"]

EXACT_LIMIT = 20_000
"""Up to this many relabelings, ``permutation_test`` enumerates them all (exact)."""


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """The mean and the sample standard deviation (n - 1; 0 for one value).

    Raises:
        ValueError: no values.
    """
    if not values:
        raise ValueError("mean_std needs at least one value")
    mean = statistics.fmean(values)
    return mean, statistics.stdev(values) if len(values) > 1 else 0.0


def relative_improvement(accuracy: float, random_accuracy: float) -> float:
    """``100 * (accuracy - random_accuracy) / random_accuracy``: the relative improvement
    (RI) of a method over the mean of random architectures trained the same way, in
    percent (Yang et al., "NAS evaluation is frustratingly hard", ICLR 2020).

    Raises:
        ValueError: ``random_accuracy`` is not positive.
    """
    if not random_accuracy > 0:
        raise ValueError(
            f"the random architectures' accuracy must be positive, got {random_accuracy}"
        )
    return 100.0 * (accuracy - random_accuracy) / random_accuracy


def permutation_test(
    a: Sequence[float], b: Sequence[float], *, samples: int = EXACT_LIMIT, seed: int = 0
) -> float:
    """Two-sided p-value that ``a`` and ``b`` have the same mean: the share of relabelings
    of the pooled values whose difference of means is at least as large (in absolute
    value) as the observed one.

    Exact (every relabeling) when there are at most ``EXACT_LIMIT`` of them, else
    ``samples`` seeded random relabelings plus the observed one. Makes no assumption of
    normality, which a handful of seeds cannot support.

    Raises:
        ValueError: a sample is empty.
    """
    if not a or not b:
        raise ValueError("permutation_test needs two non-empty samples")
    pooled = [float(v) for v in (*a, *b)]
    n, k = len(pooled), len(a)
    total = sum(pooled)
    observed = abs(statistics.fmean(a) - statistics.fmean(b))
    tolerance = 1e-12 * max(1.0, observed)

    def gap(first_sum: float) -> float:
        return abs(first_sum / k - (total - first_sum) / (n - k))

    if math.comb(n, k) <= EXACT_LIMIT:
        hits = count = 0
        for chosen in itertools.combinations(pooled, k):
            count += 1
            hits += gap(sum(chosen)) >= observed - tolerance
        return hits / count
    rng = random.Random(seed)
    hits = 1  # the observed labeling
    for _ in range(samples):
        rng.shuffle(pooled)
        hits += gap(sum(pooled[:k])) >= observed - tolerance
    return hits / (samples + 1)


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b between two paired sequences: +1 when they rank the items the same,
    -1 reversed, 0 unrelated; ties count as in tau-b. ``nan`` when either sequence is
    constant.

    Raises:
        ValueError: the sequences differ in length or hold fewer than two items.
    """
    if len(x) != len(y):
        raise ValueError(f"kendall_tau needs paired sequences, got {len(x)} and {len(y)} items")
    if len(x) < 2:
        raise ValueError("kendall_tau needs at least two items")
    concordant = discordant = ties_x = ties_y = 0
    for i, j in itertools.combinations(range(len(x)), 2):
        dx, dy = x[i] - x[j], y[i] - y[j]
        if dx == 0 and dy == 0:
            continue
        if dx == 0:
            ties_x += 1
        elif dy == 0:
            ties_y += 1
        elif (dx > 0) == (dy > 0):
            concordant += 1
        else:
            discordant += 1
    denominator = math.sqrt((concordant + discordant + ties_x) * (concordant + discordant + ties_y))
    if denominator == 0:
        return math.nan
    return (concordant - discordant) / denominator
