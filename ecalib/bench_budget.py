"""Fitting a benchmark suite into a wall-clock budget: which groups to time, and how many rounds each.

A suite is a list of groups in priority order (:func:`ecalib.bench_suite.preset_groups`); each group
is a few networks timed interleaved. Its cost is the set-up of each network (building it, its first
call: cuDNN autotuning, ``torch.compile``), its warm-up steps and its timed rounds. Nothing is
known of a device before it is measured, so the costs are learned as the suite runs:

- seconds per unit of work (images x multiply-adds) for each backbone, mode, precision and compile
  mode, falling back to the same mode, precision and compile mode on other backbones, then to fewer
  of these; before any group is measured there is no estimate and the first group always runs;
- set-up seconds per network, for eager and for compiled networks, with ``compile_prior`` assumed
  for compiled ones until the first compiled group is measured.

Before each group, :meth:`Budget.admit` drops it (with the reason) if its estimated cost at the
fewest rounds would not fit in what is left. After its warm-up, :meth:`Budget.rounds_for` gives it
as many rounds as fit (at most ``max``) while keeping the fewest rounds' worth of time for the later
groups that would fit too. So higher-priority groups get more rounds, and the lowest are dropped.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class GroupCost:
    """What the planner knows of a group before timing it."""

    label: str  # for messages
    backbone: str
    mode: str
    precision: str
    compiled: bool
    networks: int
    work: float  # one step of every network of the group: images x multiply-adds (any consistent unit)
    fresh: int = 0  # networks not built by the group before (built anew: their weights initialised)


@dataclass
class CostModel:
    """Step and set-up seconds of groups not measured yet, from those measured so far."""

    compile_prior: float = 60.0  # seconds per compiled network, until one is measured
    seconds_per_work: dict = field(default_factory=dict)  # (backbone, mode, precision, compiled) -> [s/work]
    setup: dict = field(default_factory=dict)  # compiled -> [seconds per network]
    build: dict = field(default_factory=dict)  # backbone -> [seconds to initialise one network]

    def learn(self, cost: GroupCost, step_seconds: float, setup_seconds: float, build_seconds: float | None) -> None:
        """``step_seconds``: one step of every network of the group; ``setup_seconds``: per network
        (first call, copy); ``build_seconds``: per network built anew (None: none was)."""
        key = (cost.backbone, cost.mode, cost.precision, cost.compiled)
        self.seconds_per_work.setdefault(key, []).append(step_seconds / cost.work)
        self.setup.setdefault(cost.compiled, []).append(setup_seconds)
        if build_seconds is not None:
            self.build.setdefault(cost.backbone, []).append(build_seconds)

    def refine(self, cost: GroupCost, step_seconds: float) -> None:
        """Replace the step time last learned for this kind of group (from its warm-up) by its timed rounds'."""
        key = (cost.backbone, cost.mode, cost.precision, cost.compiled)
        self.seconds_per_work[key][-1] = step_seconds / cost.work

    def step_seconds(self, cost: GroupCost) -> float | None:
        """One step of every network of the group, or None when nothing comparable was measured."""
        wanted = (cost.backbone, cost.mode, cost.precision, cost.compiled)
        alike = (  # the same key; then other backbones, same settings; then fewer settings alike
            lambda key: key == wanted,
            lambda key: key[1:] == wanted[1:],
            lambda key: key[1:3] == wanted[1:3],
            lambda key: key[1] == wanted[1],
            lambda key: True,
        )
        for same in alike:
            rates = [rate for key, values in self.seconds_per_work.items() if same(key) for rate in values]
            if rates:
                return statistics.median(rates) * cost.work
        return None

    def setup_seconds(self, cost: GroupCost) -> float:
        """Set-up of every network of the group, and the building of those not built before."""
        measured = self.setup.get(cost.compiled)
        per_network = statistics.median(measured) if measured else (self.compile_prior if cost.compiled else 0.0)
        builds = self.build.get(cost.backbone) or [b for values in self.build.values() for b in values]
        return per_network * cost.networks + (statistics.median(builds) if builds else 0.0) * cost.fresh

    def seconds(self, cost: GroupCost, steps: int, warmup: int, rounds: int) -> float:
        """The whole group: set-up, warm-up and ``rounds`` rounds (step time 0 while unknown)."""
        step = self.step_seconds(cost) or 0.0
        return self.setup_seconds(cost) + step * (warmup + rounds * steps)


class Budget:
    """A wall-clock limit for a suite (``seconds=None``: no limit, every group gets ``max_rounds``)."""

    def __init__(
        self,
        seconds: float | None,
        costs: CostModel,
        steps: int,
        warmup: int,
        min_rounds: int,
        max_rounds: int,
        clock=time.monotonic,
    ):
        self.seconds, self.costs, self.clock = seconds, costs, clock
        self.steps, self.warmup, self.min_rounds, self.max_rounds = steps, warmup, min_rounds, max_rounds
        self.start = clock()

    def elapsed(self) -> float:
        return self.clock() - self.start

    def left(self) -> float:
        return math.inf if self.seconds is None else self.seconds - self.elapsed()

    def minimum(self, cost: GroupCost) -> float:
        return self.costs.seconds(cost, self.steps, self.warmup, self.min_rounds)

    def admit(self, cost: GroupCost) -> str | None:
        """None if the group fits in what is left at the fewest rounds, else why it is dropped. Until a
        group has been measured, every group is admitted: a suite always measures something."""
        if self.seconds is None or not self.costs.seconds_per_work:
            return None
        need, left = self.minimum(cost), self.left()
        if need <= left:
            return None
        return f"over budget: needs about {need:.0f} s at {self.min_rounds} rounds, {max(left, 0):.0f} s left"

    def out_of_time(self) -> bool:
        """Whether a group being set up should be given up (never the first: see :meth:`admit`)."""
        return self.left() <= 0 and bool(self.costs.seconds_per_work)

    def rounds_for(self, round_seconds: float, later: list[GroupCost]) -> int:
        """Rounds for a group whose round takes ``round_seconds``, keeping time for the ``later`` groups
        that would fit at their fewest rounds."""
        if self.seconds is None:
            return self.max_rounds
        room = self.left() - self.min_rounds * round_seconds
        kept = 0.0
        for cost in later:
            need = self.minimum(cost)
            if kept + need <= room:
                kept += need
        fit = math.floor((self.left() - kept) / max(round_seconds, 1e-9))
        return max(self.min_rounds, min(self.max_rounds, fit))
