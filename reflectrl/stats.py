"""Confidence intervals for accuracies and for differences between paired accuracies."""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Rate:
    k: int
    n: int
    low: float
    high: float

    @property
    def value(self) -> float:
        return self.k / self.n if self.n else float("nan")

    def __str__(self) -> str:
        if not self.n:
            return "n/a"
        return f"{100 * self.value:.1f}% [{100 * self.low:.1f}, {100 * self.high:.1f}] ({self.k}/{self.n})"

    def as_dict(self) -> dict[str, float | int]:
        return {"k": self.k, "n": self.n, "rate": self.value, "ci_low": self.low, "ci_high": self.high}

    @classmethod
    def from_dict(cls, d: dict[str, float | int]) -> Rate:
        """The inverse of ``as_dict`` (a rate read back from a summary.json)."""
        return cls(d["k"], d["n"], d["ci_low"], d["ci_high"])


def wilson(k: int, n: int, z: float = Z95) -> Rate:
    """Wilson score interval: well behaved near 0% and 100%, unlike the normal approximation."""
    if n == 0:
        return Rate(0, 0, float("nan"), float("nan"))
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return Rate(k, n, max(0.0, centre - half), min(1.0, centre + half))


def rate(flags: Sequence[bool]) -> Rate:
    return wilson(sum(bool(f) for f in flags), len(flags))


def paired_diff_ci(
    a: Sequence[float], b: Sequence[float], resamples: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """Mean of b - a over paired items (same problems; successes as bools or probabilities) with a 95% bootstrap
    interval."""
    if len(a) != len(b):
        raise ValueError("paired samples must have the same length")
    n = len(a)
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    d = [float(y) - float(x) for x, y in zip(a, b, strict=True)]
    rng = random.Random(seed)
    means = sorted(sum(d[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    return sum(d) / n, means[int(0.025 * resamples)], means[int(0.975 * resamples) - 1]


def t_interval(values: Sequence[float]) -> tuple[float, float, float]:
    """Mean of a few independent values (training seeds' gains) with a 95% Student-t interval: unlike a bootstrap,
    honest about how little 3 or 5 values say."""
    from scipy.stats import t as student_t  # here, not at the top: importing scipy.stats costs about a second

    if len(values) < 2:
        raise ValueError("a t-interval needs at least two values")
    mean = statistics.fmean(values)
    half = float(student_t.ppf(0.975, len(values) - 1)) * statistics.stdev(values) / math.sqrt(len(values))
    return mean, mean - half, mean + half


def mcnemar_exact(a: Sequence[bool], b: Sequence[bool]) -> float:
    """Two-sided exact McNemar p-value for paired binary outcomes: a binomial(1/2) test on the discordant pairs
    (items where exactly one of a, b succeeded)."""
    if len(a) != len(b):
        raise ValueError("paired samples must have the same length")
    only_b = sum(1 for x, y in zip(a, b, strict=True) if y and not x)
    only_a = sum(1 for x, y in zip(a, b, strict=True) if x and not y)
    n = only_a + only_b
    tail = sum(math.comb(n, i) for i in range(min(only_a, only_b) + 1)) / 2**n
    return min(1.0, 2 * tail)
