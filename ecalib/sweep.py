"""Hyper-parameter sweeps from a W&B sweep file, online through W&B or offline with local trials.

``configs/sweep.yaml`` is a W&B sweep definition (``wandb sweep configs/sweep.yaml`` then
``wandb agent <id>`` on as many machines as you like). :func:`run_sweep` reads the same file
and runs its search space here, without an account: ``grid`` (every combination), ``random``
or ``bayes`` (Optuna's TPE sampler), writing one normal result folder per trial and a
``sweep.csv`` summary. A trial's folder is the one ``ecalib train cifar10`` uses for the same
settings (``<results>/cifar10/<name with the run id>``, see :mod:`ecalib.engine.identity`), so
sweeps, agents and single runs share finished runs and never mix different ones.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import yaml

from ecalib.engine.results import DEFAULT_RESULTS_DIR, atomic_write_text
from ecalib.errors import UsageError

METHODS = ("grid", "random", "bayes")
# W&B metric names (as logged by the engine) -> keys of a run's final.json
METRICS = {
    "loss": "test_loss",
    "Top-1 accuracy": "test_top1",
    "Top-5 accuracy": "test_top5",
    "train loss": "train_loss",
}
# sweep parameter names -> ecalib.tasks.cifar10.make_run arguments
ALIASES = {"att": "attention", "model": "attention", "batch-size": "batch_size"}


def load_sweep(path: str | Path) -> dict:
    """Read and check a W&B sweep file (method, metric, categorical/constant parameters)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"sweep file not found: {path}")
    spec = yaml.safe_load(path.read_text())
    if not isinstance(spec, dict) or "parameters" not in spec:
        raise UsageError(f"{path} is not a W&B sweep definition (no 'parameters')")
    if spec.get("method") not in METHODS:
        raise UsageError(f"{path}: method {spec.get('method')!r} is not one of {', '.join(METHODS)}")
    metric = spec.get("metric", {})
    if metric.get("name") not in METRICS or metric.get("goal") not in ("minimize", "maximize"):
        raise UsageError(f"{path}: metric must name one of {list(METRICS)} with goal minimize/maximize, got {metric}")
    for name, values in spec["parameters"].items():
        if not ({"values"} <= set(values) or {"value"} <= set(values)):
            raise UsageError(f"{path}: parameter {name!r} needs 'values' or 'value' (got {values})")
    return spec


def search_space(spec: dict) -> dict[str, list]:
    return {name: list(p["values"]) if "values" in p else [p["value"]] for name, p in spec["parameters"].items()}


def normalise_params(params: dict) -> dict:
    """Sweep names and values -> make_run keyword arguments (``att: ECA`` -> ``attention: 'eca'``)."""
    out = {}
    for name, value in params.items():
        key = ALIASES.get(name, name)
        out[key] = value.lower() if key in ("attention", "optimizer") and isinstance(value, str) else value
    return out


def grid_trials(space: dict[str, list]) -> list[dict]:
    names = list(space)
    return [dict(zip(names, combo)) for combo in itertools.product(*(space[n] for n in names))]


def run_sweep(
    path: str | Path,
    results_dir: str | Path = DEFAULT_RESULTS_DIR,
    method: str | None = None,
    n_trials: int | None = None,
    seed: int = 0,
    progress: bool = True,
    **run_kwargs,
):
    """Run the sweep offline; returns a DataFrame with one row per trial (parameters + metric).

    ``run_kwargs`` go to every trial's ``make_run`` (``profile``, ``data``, ``data_dir``,
    ``device``, ``wandb_mode``...). Trials whose result folder is complete are not re-run, so
    an interrupted sweep continues where it stopped. ``progress`` shows a bar over the trials.
    """
    import pandas as pd
    from tqdm.auto import tqdm

    from ecalib.tasks import cifar10

    spec = load_sweep(path)
    method = method or spec["method"]
    if method not in METHODS:
        raise UsageError(f"method {method!r} is not one of {', '.join(METHODS)}")
    space = search_space(spec)
    metric, goal = METRICS[spec["metric"]["name"]], spec["metric"]["goal"]
    grid = grid_trials(space)
    n_trials = n_trials or len(grid)
    sweep_name = spec.get("name") or Path(path).stem
    out_dir = Path(results_dir) / "cifar10-sweeps" / sweep_name
    rows: list[dict] = []
    bar = tqdm(total=n_trials, desc=f"sweep {sweep_name}", unit="trial", disable=not progress)

    def evaluate(params: dict) -> float:
        kwargs = {**run_kwargs, **normalise_params(params)}
        attention = kwargs.pop("attention")
        run = cifar10.make_run(attention, **kwargs)
        result = cifar10.train(run, results_dir, verbose=False, progress=False, wandb_group=f"sweep-{sweep_name}")
        rows.append(
            {
                **params,
                metric: result.final[metric],
                "run": run.name,
                "run_dir": str(result.run_dir),
                "profile": run.profile,
                "data": run.data,
            }
        )
        atomic_write_text(out_dir / "sweep.csv", pd.DataFrame(rows).to_csv(index=False))
        bar.update()
        bar.set_postfix({metric: f"{result.final[metric]:.4g}", "last": run.name})
        return result.final[metric]

    if method == "grid":
        for params in grid[:n_trials]:
            evaluate(params)
    elif method == "random":
        rng = random.Random(seed)
        for params in rng.sample(grid, k=min(n_trials, len(grid))):
            evaluate(params)
    else:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(
            direction="minimize" if goal == "minimize" else "maximize", sampler=optuna.samplers.TPESampler(seed=seed)
        )
        study.optimize(
            lambda t: evaluate({n: t.suggest_categorical(n, v) for n, v in space.items()}), n_trials=n_trials
        )
    bar.close()
    return pd.DataFrame(rows)
