"""Command line: ``ecalib <command>`` or ``python -m ecalib <command>``."""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from pathlib import Path

from ecalib.cli_help import as_flags, finish
from ecalib.devices import DEVICES
from ecalib.errors import UsageError, UserError
from ecalib.paths import DEFAULT_RESULTS_DIR, writable_folder
from ecalib.paths import plain_name as check_name


class _Parser(argparse.ArgumentParser):
    """A bad option is one line (what is wrong, where to look), and exit code 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _checked_int(what: str, ok):
    """An argparse type: an integer for which ``ok(value)`` holds, else one line naming ``what`` and the value."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"must be {what}, got {value}")
        return value

    parse.__name__ = what  # argparse names the type in some messages
    return parse


def _int_at_least(minimum: int, what: str):
    return _checked_int(what, lambda value: value >= minimum)


def _int_in(allowed: range, what: str):
    return _checked_int(f"{what} from {allowed.start} to {allowed.stop - 1}", lambda value: value in allowed)


positive_int = _int_at_least(1, "a positive integer")
non_negative_int = _int_at_least(0, "an integer >= 0")


def _checked_text(check, name: str):
    """An argparse type running ``check(text)`` (a check of :mod:`ecalib.paths`): its UsageError becomes the
    option's one-line error."""

    def parse(text: str) -> str:
        try:
            check(text)
        except UsageError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
        return text

    parse.__name__ = name
    return parse


# A folder that exists or can be created (no part of it a file): data folders; output folders must also be
# writable; names that become one folder (--run-name, --protocol) cannot contain separators or '..'.
folder = _checked_text(lambda text: writable_folder(text, "folder", writable=False), "folder")
output_folder = _checked_text(lambda text: writable_folder(text, "folder"), "output folder")
plain_name = _checked_text(lambda text: check_name(text, "name"), "name")


# What argparse and main() put in every namespace besides the command's options.
NOT_OPTIONS = frozenset({"func", "command", "coco_command", "dotted"})


def matching(func, args, used_here=(), **given) -> dict:
    """The command's parsed options as ``func``'s keyword arguments (option dests are the parameter names),
    then ``given``: how a command hands its options to the library without listing them again.

    Every option but those the command uses itself (``used_here``) must be a parameter of ``func``: renaming
    a parameter fails here, naming the option, instead of dropping the option silently.
    """
    import inspect

    names = inspect.signature(func).parameters
    options = {k: v for k, v in vars(args).items() if k not in NOT_OPTIONS and k not in used_here}
    if lost := sorted(set(options) - set(names)):
        raise TypeError(f"{func.__module__}.{func.__qualname__} has no parameter for the option(s) {lost}")
    return options | given


DEFAULT_COMPLEXITY_MODELS = [
    "eca_resnet18",
    "eca_resnet34",
    "eca_resnet50",
    "eca_resnet101",
    "eca_resnet152",
    "eca_mobilenet_v2",
]


def _cmd_models(args) -> int:
    from ecalib.models import list_models, model_info

    for name in list_models(args.pattern, source=None if args.all else "ecalib"):
        info = model_info(name)
        k = "".join(map(str, info.k_per_stage)) if info.k_per_stage else "-"
        print(f"{name:28s} {info.family:13s} attn={info.attention:8s} k={k:6s} {info.notes}")
    return 0


def _cmd_complexity(args) -> int:
    import pandas as pd

    from ecalib.complexity import complexity_table

    table = complexity_table(args.models or DEFAULT_COMPLEXITY_MODELS, input_size=args.input_size)
    if args.format == "csv":
        table.to_csv(sys.stdout, index=False)
    elif args.format == "json":
        print(table.to_json(orient="records", indent=2))
    else:
        with pd.option_context(
            "display.width", 200, "display.max_columns", 40, "display.float_format", "{:.4f}".format
        ):
            print(table.set_index("model").T.to_string())
    return 0


def _cmd_classify(args) -> int:
    from ecalib.inference import predict
    from ecalib.models import create_model
    from ecalib.models.factory import load_official_checkpoint

    if args.model:
        model = create_model(args.model, pretrained=args.checkpoint, allow_pickle=args.allow_pickle)
    else:
        model = load_official_checkpoint(args.checkpoint, allow_pickle=args.allow_pickle)
    for image in args.images:
        preds = predict(model, image, topk=args.topk)
        if args.format == "json":
            print(json.dumps({"image": image, "top": [p.__dict__ for p in preds]}))
        else:
            print(image)
            for p in preds:
                print(f"  {p.probability:7.2%}  {p.label} ({p.index})")
    return 0


def _cmd_inspect(args) -> int:
    from ecalib.checkpoint import plain_values
    from ecalib.models.factory import checkpoint_problems
    from ecalib.models.official import read_official_checkpoint

    ckpt = read_official_checkpoint(args.checkpoint, allow_pickle=args.allow_pickle)
    problems = checkpoint_problems(ckpt)
    report = {
        "model": ckpt.model_name,
        "loads": not problems,
        "problems": problems,
        "k_per_stage": ckpt.k_per_stage,
        "eca_padding": ckpt.padding,
        "eca_padding_source": ckpt.padding_source,
        "num_classes": ckpt.num_classes,
        "tensors": len(ckpt.state_dict),
        "stored": plain_values(ckpt.meta),
        "notes": ckpt.notes,
    }
    print(json.dumps(report, indent=2, default=str))
    if problems:
        why = "; ".join(problems)
        print(f"ecalib inspect: {args.checkpoint} does not load as {ckpt.model_name}: {why}", file=sys.stderr)
    return 1 if problems else 0


def _cmd_export(args) -> int:
    from ecalib.export import check_export_output, export_onnx, export_timm, load_for_export

    check_export_output(args.output, args.format, args.source)  # before the model is loaded
    model = load_for_export(args.source, allow_pickle=args.allow_pickle)
    if args.format == "onnx":
        check = export_onnx(model, args.output, opset=args.opset)
        print(f"wrote {args.output} (dynamic batch); {check}")
    else:
        export_timm(model, args.output)
        print(
            f"wrote {args.output}/config.json and model.safetensors; load with "
            f"`import ecalib, timm; timm.create_model('local-dir:{args.output}', pretrained=True)`"
        )
    return 0


def _add_export_parser(sub) -> None:
    from ecalib.export import EXPORT_FORMATS, OPSETS

    p = sub.add_parser("export", help="ONNX (checked in onnxruntime) or timm's Hub folder of a checkpoint or model")
    p.add_argument("source", metavar="CHECKPOINT_OR_MODEL", help="official/ecalib checkpoint, or a model name")
    p.add_argument("--format", choices=EXPORT_FORMATS, required=True)
    p.add_argument("-o", "--output", required=True, help="model.onnx, or a folder for --format timm")
    p.add_argument(
        "--opset",
        type=_int_in(OPSETS, "an ONNX opset"),
        default=17,
        help=f"ONNX opset, {OPSETS.start} to {OPSETS.stop - 1} (the TorchScript exporter's range)",
    )
    p.add_argument("--allow-pickle", action="store_true")
    p.set_defaults(func=_cmd_export)


def _add_experiment_options(p: argparse.ArgumentParser) -> None:
    """The shorthands of the experiment schema (:data:`ecalib.recipes.SHORTHANDS`), ``--set`` and where
    the runs go: shared by `train`, `coco train`, `coco mmdet-train` and `sweep`. Left out, a value keeps
    the recipe's."""
    from ecalib.recipes.overrides import SHORTHANDS, SWITCHES

    p.add_argument(
        "--profile",
        default="full",
        help="an overlay of the recipe: full (as written) or smoke "
        "(a tiny synthetic run); files in configs/profiles/<task>/",
    )
    p.add_argument(
        "--set",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="override any recipe key, e.g. --set optimizer.lr=0.05 schedule.milestones=[30,60] "
        "(`--optimizer.lr=0.05` works too, as W&B agents pass sweep parameters)",
    )
    group = p.add_argument_group("shorthands for common keys (the same as --set KEY=VALUE)")
    for s in SHORTHANDS:
        kind = dict(action="store_true", default=None) if s.name in SWITCHES else dict(metavar="VALUE")
        if s.name == "data_dir":
            kind["type"] = folder
        group.add_argument(*s.flags, dest=s.name, help=f"{s.help} [{s.key}]", **kind)
    p.add_argument(
        "--results-dir", type=output_folder, default=DEFAULT_RESULTS_DIR, help="default: %(default)s/ (git-ignored)"
    )


def _add_run_options(p: argparse.ArgumentParser) -> None:
    """How a training command treats its run folders."""
    p.add_argument("--seeds", nargs="+", help="several runs, one per seed (default: one run, --seed or the recipe's)")
    p.add_argument(
        "--run-name",
        type=plain_name,
        help="result folder name (default: <task>-[<profile>-]<recipe>-<model>-seed<k>-<run id>)",
    )
    p.add_argument("--no-resume", action="store_true", help="refuse to continue an existing run folder")
    p.add_argument(
        "--resume-from",
        "--resume",
        dest="resume_from",
        metavar="RUN_DIR",
        help="start from an earlier run's folder or checkpoint (e.g. one of the official main.py, or a run to "
        "extend with more --epochs); the new run gets its own folder ('auto': the default, continue this run)",
    )
    p.add_argument("--no-progress", action="store_true", help="no tqdm bars")


def plan_from_args(args, recipe: str | None = None) -> list:
    """The runs a parsed command line asks for (:func:`ecalib.recipes.plan`, as notebooks and sweeps use it)."""
    from ecalib.recipes import plan
    from ecalib.recipes.overrides import SHORTHANDS

    recipe = recipe or args.recipe
    if getattr(args, "protocol", None):  # W&B sweeps name the recipe of the task: --protocol=rc2020_sweep
        recipe = f"{str(recipe).split('/')[0]}/{args.protocol}"
    shorthands = {s.name: getattr(args, s.name) for s in SHORTHANDS}
    sets = [*args.set, *getattr(args, "dotted", [])]
    if getattr(args, "seeds", None) is not None:
        return plan(recipe, args.profile, sets, seeds=args.seeds, **shorthands)
    return plan(recipe, args.profile, sets, seeds=[args.seed] if args.seed is not None else [None], **shorthands)


def _cmd_train(args) -> int:
    runs = plan_from_args(args)  # every run checked before the first one trains
    if args.run_name and len(runs) > 1:
        raise UsageError(f"--run-name names one folder, but these settings make {len(runs)} runs")
    return _train_runs(runs, args)


def _train_runs(runs: list, args) -> int:
    from ecalib.tasks import prepare_data, train

    main_rank = os.environ.get("RANK", "0") == "0"
    if main_rank:  # the other ranks wait for it in train()
        prepare_data(runs, ways_out="cli")
    for run in runs:
        result = train(
            run,
            args.results_dir,
            resume=not args.no_resume,
            resume_from=None if args.resume_from in (None, "auto") else args.resume_from,
            progress=not args.no_progress,
            run_dir=Path(args.results_dir) / run.task / args.run_name if getattr(args, "run_name", None) else None,
        )
        if main_rank:  # under torchrun, one summary
            print(json.dumps({"run_dir": str(result.run_dir), "lr_rule": run.lr_rule, **result.final}))
    return 0


def _cmd_study(args) -> int:
    from ecalib.recipes.overrides import SHORTHANDS
    from ecalib.recipes.studies import study

    chosen = study(args.study)
    given = {s.name: getattr(args, s.name) for s in SHORTHANDS}
    for name in ("model", "k_size"):
        if given.pop(name) is not None:
            raise UsageError(f"--{name.replace('_', '-')}: the study {chosen.name} sets its own models and kernels")
    runs = chosen.runs(args.profile, args.set, seeds=args.seeds, **given)
    print(f"{chosen.name}: {chosen.reproduces}; {len(runs)} run(s) of {chosen.recipe}", file=sys.stderr)
    if args.dry_run:
        print("\n".join(run.name for run in runs))
        return 0
    args.run_name = None
    return _train_runs(runs, args)


def _cmd_evaluate(args) -> int:
    from ecalib.tasks import imagenet

    result = imagenet.evaluate_checkpoint(**matching(imagenet.evaluate_checkpoint, args, used_here=("format", "out")))
    print(json.dumps(result, default=str) if args.format == "json" else imagenet.format_evaluation(result))
    if args.out:
        print(f"result folder: {imagenet.write_evaluation(result, args.out)}", file=sys.stderr)
    return 0


def _cmd_coco_convert(args) -> int:
    from ecalib.detection.convert import convert_backbone
    from ecalib.paths import check_output

    check_output(args.output, "-o/--output", inputs=[args.checkpoint])
    print(convert_backbone(args.checkpoint, args.to, args.output, allow_pickle=args.allow_pickle))
    return 0


def _cmd_coco_upgrade(args) -> int:
    from ecalib.detection.convert import upgrade_detector
    from ecalib.paths import check_output

    check_output(args.output, "-o/--output", inputs=[args.checkpoint])
    report = upgrade_detector(args.checkpoint, args.output, allow_pickle=args.allow_pickle)
    print(json.dumps(report, indent=2, default=str))
    return 0


def _cmd_coco_evaluate(args) -> int:
    from ecalib.detection.coco_eval import paper_layout
    from ecalib.tasks import coco

    metrics = coco.evaluate(**matching(coco.evaluate, args))
    print(f"{metrics['images']} images, {metrics['detections']} detections ({metrics['data_source']['kind']})")
    print(paper_layout(metrics).round(1).to_string())
    return 0


def _cmd_coco_visualize(args) -> int:
    import torch

    from ecalib.data.images import read_image
    from ecalib.detection.visualize import draw_predictions, save_image
    from ecalib.tasks import coco

    model, _ = coco.load_detector(args.checkpoint, args.allow_pickle)
    for image_path in args.images:
        image = read_image(image_path).float() / 255
        with torch.no_grad():
            prediction = model([image[:3]])[0]
        out = Path(args.output_dir) / (Path(image_path).stem + "_detections.png")
        save_image(draw_predictions(image[:3], prediction, score_threshold=args.score_threshold), out)
        print(out)
    return 0


def _cmd_coco_mmdet_train(args) -> int:
    from ecalib.mmdet.train import latest_log, train_with_mmdet
    from ecalib.reports.mmdet_logs import parse_mmdet_log

    (run,) = plan_from_args(args, "coco/maskrcnn_1x_mmdet")
    work_dir = train_with_mmdet(run, args.results_dir)
    print(parse_mmdet_log(latest_log(work_dir)).per_epoch().round(4).to_string())
    print(f"work dir: {work_dir}")
    return 0


def _cmd_coco_parse_log(args) -> int:
    import pandas as pd

    from ecalib.reports.mmdet_logs import combine_runs, parse_mmdet_log

    logs = [parse_mmdet_log(p) for p in args.logs]
    log = combine_runs(logs) if len(logs) > 1 else logs[0]
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(log.per_epoch().round(4).to_string())
    bad = log.first_nonfinite
    if bad:
        print(f"first non-finite loss: epoch {bad['epoch']}, iteration {bad['iter']}, lr {bad['lr']}")
    return 0


# `ecalib bench` without --suite: these options make a one-part preset (see _bench_preset)
BENCH_DEFAULTS = {
    "backbones": ["resnet50"],
    "mechanisms": ["none", "se", "cbam", "eca"],
    "modes": ["train", "infer"],
    "precisions": ["fp32"],
    "compile_modes": ["eager"],
    "batch_size": None,
    "input_sizes": None,
    "eca_impls": ["auto"],
    "steps": 20,
    "warmup": 5,
    "repeats": 5,
    "channels_last": False,
}


def _bench_preset(args):
    """The preset a bench command line asks for: ``--suite`` (changed only through --profile, --set and
    --budget), or one part built from the other options."""
    from ecalib.recipes.bench import resolve_preset

    given = [k for k in BENCH_DEFAULTS if k in vars(args)]
    sets = [*args.set, *args.dotted] + ([f"budget={args.budget}"] if "budget" in vars(args) else [])
    if "suite" in vars(args):
        if given:
            flags = ", ".join("--" + k.replace("_", "-") for k in given)
            raise UsageError(f"{flags} cannot be combined with --suite: change the preset with --set KEY=VALUE")
        return resolve_preset(args.suite, args.profile, sets)
    o = BENCH_DEFAULTS | {k: getattr(args, k) for k in given}
    part = {k: o[k] for k in ("backbones", "mechanisms", "precisions", "compile_modes")}
    values = {
        "suite": "custom",
        "parts": {"custom": part},
        "rounds": {"min": o["repeats"], "max": o["repeats"]},
        "input_size": o["input_sizes"],
        **{k: o[k] for k in ("modes", "batch_size", "eca_impls", "steps", "warmup", "channels_last")},
    }
    flags = {f"parts.custom.{k}": "--" + k.replace("_", "-") for k in part}
    return resolve_preset("the bench options", args.profile, sets, values=values, flags=flags)


def _cmd_bench(args) -> int:
    from ecalib.bench_suite import run_preset
    from ecalib.devices import resolve_device

    preset, origin = _bench_preset(args)  # checked before the device is touched
    device = resolve_device(args.device)
    params = {k: v for k, v in vars(args).items() if k not in ("func", "dotted")}
    params |= {"origin": origin, "input": "synthetic tensors"}
    folder = run_preset(preset, device, args.out, params)
    print(f"wrote {folder}")
    return 0


def _cmd_sweep(args) -> int:
    from ecalib.recipes.overrides import SHORTHANDS
    from ecalib.sweep import run_sweep

    shorthands = {s.name: getattr(args, s.name) for s in SHORTHANDS}
    table = run_sweep(
        args.sweep,
        args.results_dir,
        method=args.method,
        n_trials=args.trials,
        sampler_seed=args.sampler_seed,
        profile=args.profile,
        sets=[*args.set, *args.dotted],
        ways_out="cli",
        **shorthands,
    )
    print(table.to_string(index=False))
    return 0


def _train_description() -> str:
    from ecalib.recipes import list_recipes
    from ecalib.recipes.resolve import list_profiles
    from ecalib.recipes.schema import TASKS

    lines = [
        "Train a recipe: one validated config (configs/<task>/<name>.yaml), a profile overlaid on it,",
        "then the shorthands and --set overrides, in that order. Shipped recipes:",
        "",
    ]
    lines += [f"  {name:24s} configs/{name}.yaml" for name in list_recipes()]
    lines += ["", "Profiles: " + "; ".join(f"{t}: {', '.join(list_profiles(t))}" for t in TASKS) + "."]
    return "\n".join(lines)


def _add_models_parser(sub) -> None:
    """`ecalib models`: the registered models."""
    p = sub.add_parser("models", help="list registered models")
    p.add_argument("pattern", nargs="?", default="*", help="glob, e.g. 'eca_*'")
    p.add_argument("--all", action="store_true", help="include timm's ECA models")
    p.set_defaults(func=_cmd_models)


def _add_complexity_parser(sub) -> None:
    """`ecalib complexity`: parameters and FLOPs."""
    p = sub.add_parser("complexity", help="params and FLOPs in the paper's units vs the official README")
    p.add_argument("models", nargs="*", help=f"model names (default: {' '.join(DEFAULT_COMPLEXITY_MODELS)})")
    p.add_argument("--input-size", type=positive_int, default=224)
    p.add_argument("--format", choices=("text", "csv", "json"), default="text")
    p.set_defaults(func=_cmd_complexity)


def _add_classify_parser(sub) -> None:
    """`ecalib classify`: top-k predictions of a checkpoint."""
    p = sub.add_parser("classify", help="top-k ImageNet predictions from an official checkpoint")
    p.add_argument("images", nargs="+")
    p.add_argument("--checkpoint", required=True, help="official .pth.tar")
    p.add_argument("--model", help="check the checkpoint against this variant (default: infer from weights)")
    p.add_argument("--topk", type=positive_int, default=5)
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--allow-pickle", action="store_true")
    p.set_defaults(func=_cmd_classify)


def _add_train_parser(sub) -> None:
    """`ecalib train`: a recipe, its profile, shorthands and --set."""
    p = sub.add_parser(
        "train",
        help="train a recipe: cifar10, imagenet, coco, a shipped recipe (cifar10/standard) or a YAML file",
        description=_train_description(),
    )
    p.add_argument(
        "recipe",
        metavar="RECIPE",
        help="a task (its default recipe: cifar10/rc2020, imagenet/resnet or imagenet/mobilenet_v2 by --model, "
        "coco/maskrcnn_1x), a shipped recipe (see above) or a recipe file (configs/<task>/<name>.yaml)",
    )
    p.add_argument(
        "--protocol", "--recipe", dest="protocol", type=plain_name, help="a recipe of the task by name (rc2020_sweep)"
    )
    _add_experiment_options(p)
    _add_run_options(p)
    p.set_defaults(func=_cmd_train)


def _add_study_parser(sub) -> None:
    """`ecalib study`: every run of one of the paper's ablations."""
    p = sub.add_parser(
        "study", help="train every run of one of the paper's ablations (table2-imagenet, fig4-cifar10...)"
    )
    p.add_argument("study", metavar="STUDY", help="table2-imagenet, fig4-imagenet, table2-cifar10 or fig4-cifar10")
    p.add_argument("--dry-run", action="store_true", help="list the runs (checked) without training them")
    _add_experiment_options(p)
    _add_run_options(p)
    p.set_defaults(func=_cmd_study)


def _add_evaluate_parser(sub) -> None:
    """`ecalib evaluate`: an official checkpoint on an ImageNet val folder."""
    from ecalib.data.images import BAD_IMAGE_POLICIES

    p = sub.add_parser("evaluate", help="top-1/top-5 of an official checkpoint on an ImageNet val folder")
    p.add_argument("--checkpoint", required=True, help="e.g. eca_resnet50_k3557.pth.tar")
    p.add_argument("--data", required=True, help="<imagenet>/val (or the folder holding val/)")
    p.add_argument("--model", help="check the checkpoint against this variant (default: infer from weights)")
    p.add_argument("--batch-size", type=positive_int, default=100)
    p.add_argument("--workers", type=non_negative_int, help="loader processes (default: up to 8)")
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.add_argument("--allow-pickle", action="store_true")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument(
        "--bad-images",
        choices=BAD_IMAGE_POLICIES,
        default="refuse",
        help="unreadable image files: stop naming the first, or leave them out (counted in the result)",
    )
    p.add_argument(
        "--out",
        type=output_folder,
        help="also keep the result as a folder here (commit results/imagenet-eval for the book)",
    )
    p.set_defaults(func=_cmd_evaluate)


def _add_bench_parser(sub) -> None:
    """`ecalib bench`: a preset suite (--suite) or one part made from the other options."""
    p = sub.add_parser(
        "bench",
        help="training/inference images/s and peak memory per attention mechanism (--suite table3: Table 3)",
    )
    p.add_argument(
        "--suite",
        default=argparse.SUPPRESS,
        help="a preset of configs/bench/ (table3: what the paper's Table 3 compares) or a preset file, changed "
        "with --profile, --set and --budget; without it, --backbones and the options below make a one-part suite",
    )
    p.add_argument("--profile", default="full", help="an overlay of the preset: full (as written) or smoke (CPU check)")
    p.add_argument(
        "--set",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="override a preset key, e.g. --set steps=5 rounds.max=4 parts.resnet101_compile=null",
    )
    p.add_argument(
        "--budget",
        default=argparse.SUPPRESS,
        help="wall-clock limit, e.g. 8m, 90s or 1h: rounds sized to fit; groups that would not fit are dropped, "
        "last parts first, and listed in the folder's dropped.csv (default: the preset's; none: no limit)",
    )
    adhoc = functools.partial(p.add_argument, default=argparse.SUPPRESS)  # absent unless given
    adhoc(
        "--backbones", nargs="+", help="resnet50 resnet101 resnet152 mobilenet_v2 resnet18_cifar (default: resnet50)"
    )
    adhoc("--mechanisms", nargs="+", help="attention mechanisms: none se cbam eca (default: all four)")
    adhoc("--modes", nargs="+", choices=("train", "infer"), help="train and/or infer (default: both)")
    precisions = ("fp32", "bf16", "fp16")
    adhoc("--precision", dest="precisions", nargs="+", choices=precisions, help="precisions to time (default: fp32)")
    adhoc(
        "--compile-modes", nargs="+", choices=("eager", "compile"), help="eager and/or compile (default: eager)"
    )
    adhoc(
        "--batch-size",
        type=positive_int,
        nargs="+",
        help="one or more (default: the paper's: 256 for ResNets, 96 for MobileNetV2)",
    )
    adhoc(
        "--input-size",
        dest="input_sizes",
        type=positive_int,
        nargs="+",
        help="one or more resolutions (default: the paper's)",
    )
    adhoc(
        "--eca-impl",
        dest="eca_impls",
        nargs="+",
        help="ECA implementations to time: auto (Triton kernels on CUDA, fused PyTorch elsewhere), "
        "reference (the official module's operations), torch, triton (default: auto)",
    )
    d = BENCH_DEFAULTS
    adhoc("--steps", type=positive_int, help=f"timed steps per model and round (default: {d['steps']})")
    adhoc("--warmup", type=non_negative_int, help=f"untimed steps after a model's first call (default: {d['warmup']})")
    adhoc("--repeats", type=positive_int, help=f"interleaved rounds, each timing every model (default: {d['repeats']})")
    adhoc("--channels-last", action="store_true", help="NHWC memory layout (default: off)")
    p.add_argument("--device", default="auto", choices=DEVICES)
    p.add_argument("--out", type=output_folder, default=f"{DEFAULT_RESULTS_DIR}/benchmarks/speed")
    p.set_defaults(func=_cmd_bench)


def _add_sweep_parser(sub) -> None:
    """`ecalib sweep`: a W&B sweep file, run offline."""
    p = sub.add_parser("sweep", help="run a W&B sweep file offline (grid, random or Bayesian via Optuna)")
    p.add_argument("sweep", help="e.g. configs/sweep.yaml")
    p.add_argument("--method", choices=("grid", "random", "bayes"), help="default: the file's method")
    p.add_argument("--trials", type=positive_int, help="number of trials (default: the whole grid)")
    p.add_argument("--sampler-seed", type=non_negative_int, default=0, help="seed of the random/Bayesian sampler")
    _add_experiment_options(p)
    p.set_defaults(func=_cmd_sweep)


def _add_coco_convert_parser(coco_cmds) -> None:
    """`ecalib coco convert-backbone`."""
    from ecalib.detection.convert import TARGETS

    c = coco_cmds.add_parser("convert-backbone", help="official ImageNet checkpoint -> detector backbone weights")
    c.add_argument("checkpoint")
    c.add_argument("--to", required=True, choices=TARGETS)
    c.add_argument("-o", "--output", required=True)
    c.add_argument("--allow-pickle", action="store_true")
    c.set_defaults(func=_cmd_coco_convert)


def _add_coco_upgrade_parser(coco_cmds) -> None:
    """`ecalib coco upgrade-detector`."""
    c = coco_cmds.add_parser("upgrade-detector", help="the authors' MMDetection-1.x ECA detectors -> 2.x/3.x layout")
    c.add_argument("checkpoint")
    c.add_argument("-o", "--output", required=True)
    c.add_argument("--allow-pickle", action="store_true")
    c.set_defaults(func=_cmd_coco_upgrade)


def _add_coco_train_parser(coco_cmds) -> None:
    """`ecalib coco train` (= `ecalib train coco`)."""
    c = coco_cmds.add_parser("train", help="Mask R-CNN with an ECA-ResNet-50-FPN on torchvision (= ecalib train coco)")
    _add_experiment_options(c)
    _add_run_options(c)
    c.set_defaults(func=_cmd_train, recipe="coco")


def _add_coco_evaluate_parser(coco_cmds) -> None:
    """`ecalib coco evaluate`."""
    c = coco_cmds.add_parser("evaluate", help="bbox/segm AP of a trained detector (pycocotools)")
    c.add_argument("--checkpoint", required=True)
    c.add_argument("--data-dir", required=True)
    c.add_argument("--split", default="val")
    c.add_argument("--device", default="auto", choices=DEVICES)
    c.add_argument("--workers", type=non_negative_int, default=0)
    c.add_argument("--allow-pickle", action="store_true")
    c.set_defaults(func=_cmd_coco_evaluate)


def _add_coco_visualize_parser(coco_cmds) -> None:
    """`ecalib coco visualize`."""
    c = coco_cmds.add_parser("visualize", help="draw a trained detector's boxes and masks on images")
    c.add_argument("images", nargs="+")
    c.add_argument("--checkpoint", required=True)
    c.add_argument("--output-dir", type=output_folder, default=".")
    c.add_argument("--score-threshold", type=float, default=0.5)
    c.add_argument("--allow-pickle", action="store_true")
    c.set_defaults(func=_cmd_coco_visualize)


def _add_coco_mmdet_train_parser(coco_cmds) -> None:
    """`ecalib coco mmdet-train`."""
    c = coco_cmds.add_parser(
        "mmdet-train", help="train configs/coco/maskrcnn_1x_mmdet.yaml with MMDetection's Runner (needs `make mmdet`)"
    )
    _add_experiment_options(c)
    c.set_defaults(func=_cmd_coco_mmdet_train)


def _add_coco_parse_log_parser(coco_cmds) -> None:
    """`ecalib coco parse-log`."""
    c = coco_cmds.add_parser("parse-log", help="per-epoch table of MMDetection text logs (resumed runs stitched)")
    c.add_argument("logs", nargs="+")
    c.set_defaults(func=_cmd_coco_parse_log)


def _add_coco_parser(sub) -> None:
    """`ecalib coco`: the detection commands, one subcommand each."""
    p = sub.add_parser("coco", help="COCO Mask R-CNN: weight conversion, training, evaluation, logs")
    coco_cmds = p.add_subparsers(dest="coco_command", required=True)
    for add in (
        _add_coco_convert_parser,
        _add_coco_upgrade_parser,
        _add_coco_train_parser,
        _add_coco_evaluate_parser,
        _add_coco_visualize_parser,
        _add_coco_mmdet_train_parser,
        _add_coco_parse_log_parser,
    ):
        add(coco_cmds)


def _add_inspect_parser(sub) -> None:
    """`ecalib inspect`: what an official checkpoint holds."""
    p = sub.add_parser("inspect", help="what an official checkpoint holds (architecture, k per stage)")
    p.add_argument("checkpoint")
    p.add_argument("--allow-pickle", action="store_true")
    p.set_defaults(func=_cmd_inspect)


# One function per command, in the order `ecalib --help` lists them.
COMMAND_PARSERS = (
    _add_models_parser,
    _add_complexity_parser,
    _add_classify_parser,
    _add_train_parser,
    _add_study_parser,
    _add_evaluate_parser,
    _add_bench_parser,
    _add_sweep_parser,
    _add_coco_parser,
    _add_inspect_parser,
    _add_export_parser,
)


def build_parser() -> argparse.ArgumentParser:
    from ecalib import __version__

    parser = _Parser(prog="ecalib", description="ECA-Net models, checkpoints and paper checks.")
    parser.add_argument("--version", action="version", version=f"ecalib {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in COMMAND_PARSERS:
        add(sub)
    return finish(parser)


def _dotted_sets(parser: argparse.ArgumentParser, args, extra: list[str]) -> list[str]:
    """``--optimizer.lr=0.05`` (or ``--optimizer.lr 0.05``) as ``--set optimizer.lr=0.05``, for the commands
    that take --set: W&B agents pass a sweep's parameters that way. Anything else left over is an error."""
    if extra and not hasattr(args, "set"):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    sets, tokens = [], list(extra)
    while tokens:
        token = tokens.pop(0)
        key, eq, value = token.removeprefix("--").partition("=")
        if not token.startswith("--") or "." not in key:
            parser.error(f"unrecognized arguments: {token}")
        if not eq:
            if not tokens:
                parser.error(f"{token} needs a value")
            value = tokens.pop(0)
        sets.append(f"{key}={value}")
    return sets


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        args.dotted = _dotted_sets(parser, args, extra)
    except SystemExit as stop:  # a bad option (exit 2, one line on stderr) or --help (exit 0)
        return stop.code if isinstance(stop.code, int) else 0
    try:
        return args.func(args)
    # What the user asked for or gave: one line, no traceback. Anything else is a bug and keeps its traceback.
    except (UserError, FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError) as err:
        print(f"ecalib {args.command}: error: {as_flags(str(err), parser)}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
