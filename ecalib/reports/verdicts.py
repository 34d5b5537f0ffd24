"""Verdicts as functions of evidence: the five outcomes, the tests that produce them, and how parts combine.

A claim is split into parts, each judged by one rule:

- :func:`reaches`: does a measurement reproduce a printed number? Confirmed when its 95 % interval reaches
  the number (or lies beyond it on the favourable side), contradicted when the whole interval falls short.
- :func:`gain`: is A above B? Confirmed when the interval of the difference lies above 0; contradicted when
  the difference is at or below 0 (beyond the noise or not: a claimed gain that is not there); partly when the
  difference is positive but within the noise (the direction holds, the size is not established).
- :func:`not_below`: does A at least match B? Contradicted only when A is below B beyond the noise.

Parts combine (:func:`combine`) into the claim's verdict: all alike give that verdict; confirmed and
contradicted parts together give ``partly``; confirmed parts with untested ones give ``partly`` (the
confirmed part is named); a contradicted part with untested ones gives ``contradicted``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum


class Verdict(str, Enum):
    CONFIRMED = "confirmed"
    CONTRADICTED = "contradicted"
    PARTLY = "partly"
    NOT_TESTABLE = "not testable here"
    UNTESTED = "untested"


@dataclass(frozen=True)
class Part:
    """One testable part of a claim, its verdict and the reason (with the numbers behind it)."""

    name: str
    verdict: Verdict
    reason: str


@dataclass(frozen=True)
class Item:
    """One piece of evidence: what it shows, where it comes from, and whether the verdict uses it."""

    text: str
    source: str
    counts: bool = True


NOISE = "95 % interval"


def _interval(low: float, high: float, digits: int, noise: str = NOISE) -> str:
    if math.isinf(low) and math.isinf(high):
        return "noise unknown: one run on a side"
    return f"{noise} {low:.{digits}f} to {high:.{digits}f}"


def reaches(
    name: str, measured: float, low: float, high: float, claimed: float, digits: int = 2, noise: str = NOISE
) -> Part:
    """Whether ``measured`` (with its interval) reproduces ``claimed``, higher being better."""
    shown = f"{measured:.{digits}f} ({_interval(low, high, digits, noise)}) against the paper's {claimed:g}"
    if high >= claimed:
        return Part(name, Verdict.CONFIRMED, f"{shown}: reached")
    return Part(name, Verdict.CONTRADICTED, f"{shown}: below it beyond the noise")


def gain(name: str, diff: float, low: float, high: float, digits: int = 2, noise: str = NOISE) -> Part:
    """Whether a difference A - B (with its interval) shows A above B."""
    shown = f"difference {diff:+.{digits}f} ({_interval(low, high, digits, noise)})"
    if low > 0:
        return Part(name, Verdict.CONFIRMED, f"{shown}: above, beyond the noise")
    if high < 0:
        return Part(name, Verdict.CONTRADICTED, f"{shown}: below, beyond the noise")
    if diff > 0:
        return Part(name, Verdict.PARTLY, f"{shown}: the direction holds, within the noise")
    return Part(name, Verdict.CONTRADICTED, f"{shown}: no gain (within the noise)")


def not_below(name: str, diff: float, low: float, high: float, digits: int = 2, noise: str = NOISE) -> Part:
    """Whether A at least matches B, from the difference A - B and its interval."""
    shown = f"difference {diff:+.{digits}f} ({_interval(low, high, digits, noise)})"
    if high < 0:
        return Part(name, Verdict.CONTRADICTED, f"{shown}: below, beyond the noise")
    if math.isinf(high) and diff < 0:
        return Part(name, Verdict.PARTLY, f"{shown}: below, but the noise is unknown")
    return Part(name, Verdict.CONFIRMED, f"{shown}: not below")


def combine(parts: list[Part]) -> Verdict:
    """The claim's verdict from its parts (see the module's docstring)."""
    found = {p.verdict for p in parts}
    if not found:
        return Verdict.UNTESTED
    if len(found) == 1:
        return found.pop()
    if Verdict.CONTRADICTED in found:
        return Verdict.PARTLY if found & {Verdict.CONFIRMED, Verdict.PARTLY} else Verdict.CONTRADICTED
    if found & {Verdict.CONFIRMED, Verdict.PARTLY}:
        return Verdict.PARTLY
    return Verdict.UNTESTED


def binomial_interval(top1: float, images: int) -> tuple[float, float]:
    """95 % normal-approximation interval of a top-1 accuracy (percent) measured on ``images`` images."""
    from statistics import NormalDist

    p = top1 / 100
    half = 100 * NormalDist().inv_cdf(0.975) * math.sqrt(p * (1 - p) / images)
    return top1 - half, top1 + half


def mean_difference(a, b) -> tuple[float, float, float]:
    """mean(a) - mean(b) with Welch's 95 % interval; infinite bounds when either side has fewer than 2 runs."""
    import numpy as np
    from scipy import stats

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    diff = float(a.mean() - b.mean())
    if len(a) < 2 or len(b) < 2:
        return diff, -math.inf, math.inf
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return diff, diff, diff
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = float(stats.t.ppf(0.975, df)) * se
    return diff, diff - half, diff + half
