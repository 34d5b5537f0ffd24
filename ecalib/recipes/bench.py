"""Benchmark presets: a suite of speed measurements as a file, validated and overridden like a recipe.

``configs/bench/<suite>.yaml`` (e.g. ``table3``: what the paper's Table 3 compares) fills in
``BenchPreset``; a profile (``configs/profiles/bench/smoke.yaml``) overlays part of it, then
``--set key=value`` (and ``--budget``) change single values, with the same override syntax and the
same one-line errors as the training recipes (:mod:`ecalib.recipes.overrides`).

What is compared sits in ``parts``, a mapping in priority order: each part times some backbones with
some attention mechanisms under some precisions and compile modes. How it is timed (modes, batch,
resolution, ECA implementations, memory layout, steps, rounds, the time budget) is set once for all
parts. When a budget is set, the last parts are the first dropped (see :mod:`ecalib.bench_budget`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from ecalib.engine.config import NonNegativeInt, PositiveInt
from ecalib.errors import UsageError
from ecalib.recipes.overrides import apply_sets, describe, parse_set, parse_value
from ecalib.recipes.resolve import CONFIG_ROOT, deep_merge, read_recipe, read_yaml, shown
from ecalib.recipes.schema import Section
from ecalib.validation import validate

BENCH_ROOT = CONFIG_ROOT / "bench"
PROFILE_ROOT = CONFIG_ROOT / "profiles" / "bench"
_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?")


def parse_duration(value) -> float:
    """Seconds of ``'8m'``, ``'90s'``, ``'1h30m'``, ``'5m30s'`` or a number of seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        text = str(value).strip().lower().replace(" ", "")
        match = _DURATION.fullmatch(text)
        if not text or not match or not any(match.groups()):
            raise ValueError(f"a duration is like 8m, 90s, 1h30m or a number of seconds, got {value!r}")
        hours, minutes, secs = (float(g or 0) for g in match.groups())
        seconds = 3600 * hours + 60 * minutes + secs
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(f"a duration must be a positive, finite time, got {value!r}")
    return seconds


def _all_in(values: list, allowed, what: str) -> list:
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise ValueError(f"unknown {what} {unknown}; choose from: {', '.join(allowed)}")
    return values


class BenchPart(Section):
    """Networks compared with each other: every backbone with every mechanism it has, per setting."""

    backbones: Annotated[list[str], Field(min_length=1)]  # keys of ecalib.bench_suite.SUITE
    mechanisms: Annotated[list[Literal["none", "se", "cbam", "eca"]], Field(min_length=1)]
    precisions: Annotated[list[Literal["fp32", "bf16", "fp16"]], Field(min_length=1)] = ["fp32"]
    compile_modes: Annotated[list[Literal["eager", "compile"]], Field(min_length=1)] = ["eager"]

    @field_validator("backbones")
    @classmethod
    def _known(cls, value):
        from ecalib.bench_suite import SUITE

        return _all_in(value, SUITE, "backbones")


class RoundsSection(Section):
    min: PositiveInt = 3  # a budget never gives a measured group fewer rounds (it drops the group instead)
    max: PositiveInt = 8  # and never more; without a budget every group gets max

    @model_validator(mode="after")
    def _ordered(self):
        if self.min > self.max:
            raise ValueError(f"rounds.min ({self.min}) must not exceed rounds.max ({self.max})")
        return self


class BenchPreset(Section):
    """One suite of speed measurements, fully described: what a preset file holds after its profile
    and overrides."""

    suite: str  # the preset's name (its file stem), recorded with every result
    profile: str = "full"  # the overlay applied (full: none)
    budget: str | float | int | None = None  # wall-clock limit, e.g. 8m; None: rounds.max rounds, nothing dropped
    steps: PositiveInt = 10  # timed steps per model per round
    warmup: NonNegativeInt = 3  # untimed steps per model after its first (compiling, autotuning) call
    rounds: RoundsSection = RoundsSection()  # interleaved rounds: each times every model of a group once
    seed: NonNegativeInt = 0  # the order of the models within each round
    modes: Annotated[list[Literal["train", "infer"]], Field(min_length=1)] = ["train", "infer"]
    batch_size: list[PositiveInt] | None = None  # None: the paper's (256 for ResNets, 96 for MobileNetV2)
    input_size: list[PositiveInt] | None = None  # None: the network's own (224 on ImageNet)
    eca_impls: Annotated[list[str], Field(min_length=1)] = ["auto"]  # ECA networks once per implementation
    channels_last: bool = False  # NHWC memory layout for model and input
    cudnn_benchmark: bool = True  # let cuDNN pick its fastest kernels (CUDA; the official main.py does)
    cpu_threads: PositiveInt | None = None  # CPU: torch's threads (None: torch's default); recorded in env.json
    compile_seconds_prior: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 60.0  # assumed torch.compile
    # seconds per network until the first compiled group is measured (budget planning only)
    parts: dict[str, BenchPart | None]  # priority order; an entry set to null is left out

    @field_validator("budget", mode="before")
    @classmethod
    def _duration(cls, value):
        if isinstance(value, str) and value.strip().lower() in ("none", "null", ""):
            return None  # --budget none: no limit
        if value is not None:
            parse_duration(value)
        return value

    @field_validator("eca_impls")
    @classmethod
    def _impls(cls, value):
        from ecalib.layers.eca import ECA_IMPLS

        return _all_in(value, ECA_IMPLS, "ECA implementations")

    @model_validator(mode="after")
    def _some_part(self):
        if not any(self.parts.values()):
            raise ValueError("parts must keep at least one part")
        return self

    @property
    def budget_seconds(self) -> float | None:
        return None if self.budget is None else parse_duration(self.budget)


def list_suites() -> list[str]:
    return sorted(p.stem for p in BENCH_ROOT.glob("*.yaml"))


def list_bench_profiles() -> list[str]:
    return ["full", *sorted(p.stem for p in PROFILE_ROOT.glob("*.yaml"))]


def preset_file(suite: str | Path) -> Path:
    """A preset by file path or shipped name (``table3``)."""
    text = str(suite)
    if text.endswith((".yaml", ".yml")):
        return Path(text)
    path = BENCH_ROOT / f"{text}.yaml"
    if not path.is_file():
        raise UsageError(f"unknown suite {suite!r}; give a YAML file or one of: {', '.join(list_suites())}")
    return path


def resolve_preset(
    suite: str | Path, profile: str = "full", sets=(), values: dict | None = None, flags: dict[str, str] | None = None
):
    """The validated preset ``suite`` (shipped name or file; or ``values`` given directly, e.g. built
    from command-line options) with ``profile`` overlaid and ``sets`` (``'steps=5'`` strings or
    ``(key, value)`` pairs) applied in order; ``flags`` names the options that set keys, for messages.
    Returns ``(preset, origin)``."""
    pairs = [s if isinstance(s, tuple) else parse_set(s, BenchPreset) for s in sets or ()]
    if values is None:
        path = preset_file(suite)
        values, origin = read_recipe(path, name_key="suite"), shown(path)
        values.setdefault("suite", path.stem)
    else:
        origin = str(suite)
    profile = str(parse_value(profile) or "full")
    if profile != "full":
        profiles = list_bench_profiles()
        if profile not in profiles:
            raise UsageError(f"profile={profile!r} is not allowed for bench; choose one of: {', '.join(profiles)}")
        values = deep_merge(values, read_yaml(PROFILE_ROOT / f"{profile}.yaml"))
        origin += f" + profile {profile}"
    if pairs:
        origin += f" + {describe(pairs)}"
    return validate(BenchPreset, apply_sets(values, pairs), origin, {"budget": "--budget", **(flags or {})}), origin
