"""Hyper-parameter sweeps from a W&B sweep file, online through W&B or offline with local trials.

``configs/sweep.yaml`` is a W&B sweep definition (``wandb sweep configs/sweep.yaml`` then
``wandb agent <id>`` on as many machines as you like). :func:`run_sweep` reads the same file
and runs its search space here, without an account: ``grid`` (every combination), ``random``
or ``bayes`` (Optuna's TPE sampler), writing one normal result folder per trial and a
``sweep.csv`` summary. A trial's parameters are read as a W&B agent's ``${args}`` are by
``ecalib train`` (shorthands such as ``att`` and ``batch_size``, or schema keys such as
``optimizer.lr``) and resolved by :func:`ecalib.recipes.resolve`, so a trial's config and folder are
those of ``ecalib train`` with the same settings: sweeps, agents and single runs share finished
runs and never mix different ones.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path

from ecalib.atomic import atomic_write_text
from ecalib.errors import UsageError
from ecalib.limits import quoted
from ecalib.paths import DEFAULT_RESULTS_DIR
from ecalib.recipes.yamlfile import read_yaml_file

METHODS = ("grid", "random", "bayes")
GOALS = ("minimize", "maximize")
# W&B metric names (as logged by the engine) -> keys of a run's final.json
METRICS = {
    "loss": "test_loss",
    "Top-1 accuracy": "test_top1",
    "Top-5 accuracy": "test_top5",
    "train loss": "train_loss",
}


def load_sweep(path: str | Path) -> dict:
    """Read and check a W&B sweep file (method, metric, categorical/constant parameters)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"sweep file not found: {path}")
    spec = read_yaml_file(path)
    if not isinstance(spec, dict) or not isinstance(spec.get("parameters"), dict):
        raise UsageError(f"{path} is not a W&B sweep definition (no 'parameters' mapping)")
    if spec.get("method") not in METHODS:
        raise UsageError(f"{path}: method {quoted(spec.get('method'))} is not one of {', '.join(METHODS)}")
    metric = spec.get("metric", {})
    if not isinstance(metric, dict) or metric.get("name") not in METRICS or metric.get("goal") not in GOALS:
        raise UsageError(
            f"{path}: metric must name one of {list(METRICS)} with goal minimize/maximize, got {quoted(metric)}"
        )
    for name, values in spec["parameters"].items():
        if not isinstance(values, dict) or not ({"values"} <= set(values) or {"value"} <= set(values)):
            raise UsageError(f"{path}: parameter {quoted(name)} needs 'values' or 'value' (got {quoted(values)})")
        if "values" in values and not isinstance(values["values"], list):
            raise UsageError(f"{path}: parameter {quoted(name)} has values {quoted(values['values'])}, not a list")
    return spec


def search_space(spec: dict) -> dict[str, list]:
    return {name: list(p["values"]) if "values" in p else [p["value"]] for name, p in spec["parameters"].items()}


def sweep_recipe(spec: dict) -> str:
    """The recipe the sweep's ``command`` trains (the word after ``train``; default cifar10)."""
    command = [str(c) for c in spec.get("command", [])]
    after = command[command.index("train") + 1 :] if "train" in command else []
    return next((c for c in after if not c.startswith(("$", "-"))), "cifar10")


def trial_settings(params: dict) -> tuple[dict, list[tuple[str, object]], str | None]:
    """A trial's parameters as ``ecalib train`` reads them from a W&B agent: ``(shorthands, --set pairs,
    recipe name from 'protocol')``."""
    from ecalib.recipes.overrides import BY_NAME, parse_set

    shorthands, sets, protocol = {}, [], None
    for name, value in params.items():
        key = name.replace("-", "_")
        if key in ("protocol", "recipe"):
            protocol = value
        elif key in BY_NAME:
            shorthands[BY_NAME[key].name] = value
        else:
            sets.append(parse_set(f"{name}={value}"))
    return shorthands, sets, protocol


def grid_trials(space: dict[str, list]) -> list[dict]:
    names = list(space)
    return [dict(zip(names, combo)) for combo in itertools.product(*(space[n] for n in names))]


def run_sweep(
    path: str | Path,
    results_dir: str | Path = DEFAULT_RESULTS_DIR,
    method: str | None = None,
    n_trials: int | None = None,
    sampler_seed: int = 0,
    progress: bool = True,
    profile: str = "full",
    sets=(),
    ways_out: str = "python",
    **shorthands,
):
    """Run the sweep offline; returns a DataFrame with one row per trial (parameters + metric).

    ``profile``, ``sets`` and ``shorthands`` (``data``, ``data_dir``, ``device``, ``wandb_mode``...;
    None keeps the recipe's) apply to every trial, under the trial's own parameters. Trials whose
    result folder is complete are not re-run, so an interrupted sweep continues where it stopped.
    ``progress`` shows a bar over the trials; ``ways_out`` spells the fix for missing data for the
    front end (``cli``, ``papermill``, ``python``).
    """
    import pandas as pd
    from tqdm.auto import tqdm

    from ecalib.recipes import resolve
    from ecalib.recipes.resolve import as_pairs
    from ecalib.tasks import prepare_data, train

    spec = load_sweep(path)
    recipe = sweep_recipe(spec)
    common = as_pairs(sets)
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

    def trial(params: dict):
        own, own_sets, protocol = trial_settings(params)
        name = f"{recipe.split('/')[0]}/{protocol}" if protocol else recipe
        return resolve(name, profile, [*common, *own_sets], **{**shorthands, **own})

    prepare_data([trial(grid[0])], ways_out)  # real data there (or one line saying how) before any trial

    def evaluate(params: dict) -> float:
        run = trial(params)
        result = train(run, results_dir, verbose=False, progress=False, wandb_group=f"sweep-{sweep_name}")
        rows.append(
            {
                **params,
                metric: result.final[metric],
                "run": run.name,
                "run_dir": str(result.run_dir),
                "profile": run.config.profile,
                "data": run.config.data.source,
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
        rng = random.Random(sampler_seed)
        for params in rng.sample(grid, k=min(n_trials, len(grid))):
            evaluate(params)
    else:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(
            direction="minimize" if goal == "minimize" else "maximize",
            sampler=optuna.samplers.TPESampler(seed=sampler_seed),
        )
        study.optimize(
            lambda t: evaluate({n: t.suggest_categorical(n, v) for n, v in space.items()}), n_trials=n_trials
        )
    bar.close()
    return pd.DataFrame(rows)
