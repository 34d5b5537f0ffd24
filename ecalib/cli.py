"""Command line: ``ecalib <command>`` or ``python -m ecalib <command>``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ecalib.cli_help import as_flags, finish
from ecalib.errors import UserError

DEFAULT_RESULTS_DIR = "runs"  # as ecalib.engine.results (not imported here: keeps start-up light)


class _Parser(argparse.ArgumentParser):
    """A bad option is one line (what is wrong, where to look), and exit code 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _int_at_least(minimum: int, what: str):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {what}, got {value}")
        return value

    parse.__name__ = what  # argparse names the type in some messages
    return parse


positive_int = _int_at_least(1, "a positive integer")
non_negative_int = _int_at_least(0, "an integer >= 0")


def folder(text: str) -> str:
    """A folder that exists or can be created: no part of the path may be a file."""
    for path in (Path(text), *Path(text).parents):
        if path.exists():
            if not path.is_dir():
                raise argparse.ArgumentTypeError(f"{path} is a file, not a folder")
            break
    return text


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
    from ecalib.checkpoint import load_official_checkpoint
    from ecalib.inference import predict
    from ecalib.models import create_model

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
    from ecalib.checkpoint import checkpoint_problems, plain_values, read_official_checkpoint

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
    from ecalib.export import export_onnx, export_timm, load_for_export

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
    from ecalib.export import EXPORT_FORMATS

    p = sub.add_parser("export", help="ONNX (checked in onnxruntime) or timm's Hub folder of a checkpoint or model")
    p.add_argument("source", metavar="CHECKPOINT_OR_MODEL", help="official/ecalib checkpoint, or a model name")
    p.add_argument("--format", choices=EXPORT_FORMATS, required=True)
    p.add_argument("-o", "--output", required=True, help="model.onnx, or a folder for --format timm")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument("--allow-pickle", action="store_true", help="full-pickle loading for trusted files only")
    p.set_defaults(func=_cmd_export)


def _add_run_options(p: argparse.ArgumentParser) -> None:
    """Options shared by `train cifar10` and `sweep` (values left as None keep the protocol's)."""
    p.add_argument("--profile", default="full", help="full | smoke (tiny synthetic run)")
    p.add_argument("--data", choices=("cifar10", "synthetic"), help="data set (default: cifar10; smoke: synthetic)")
    p.add_argument("--data-dir", type=folder, help="folder holding cifar-10-batches-py")
    p.add_argument("--download", action="store_true", help="download CIFAR-10 into --data-dir if missing")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"))
    p.add_argument("--amp", choices=("none", "bf16", "fp16"))
    p.add_argument("--channels-last", action="store_true", default=None)
    p.add_argument("--compile", action="store_true", default=None, help="torch.compile the model")
    p.add_argument(
        "--results-dir", type=folder, default=DEFAULT_RESULTS_DIR, help="default: %(default)s/ (git-ignored)"
    )
    p.add_argument("--wandb-mode", choices=("offline", "online", "disabled"))


def _cmd_train_cifar10(args) -> int:
    from ecalib.tasks import cifar10

    seeds = args.seeds if args.seeds is not None else ([args.seed] if args.seed is not None else None)
    seeds = seeds if seeds is not None else cifar10.protocol_seeds(args.protocol)[:1]
    runs = [  # every run checked before the first one trains
        cifar10.make_run(
            args.model,
            args.protocol,
            args.profile,
            seed=seed,
            data=args.data,
            data_dir=args.data_dir,
            download=args.download,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            optimizer=args.optimizer,
            device=args.device,
            amp=args.amp,
            channels_last=args.channels_last,
            compile=args.compile,
            checkpoint_every=args.checkpoint_every,
            wandb_mode=args.wandb_mode,
        )
        for seed in seeds
    ]
    if os.environ.get("RANK", "0") == "0":  # the other ranks wait for it in train()
        cifar10.prepare_data(runs, ways_out="cli")
    for run in runs:
        result = cifar10.train(
            run,
            args.results_dir,
            resume=not args.no_resume,
            progress=not args.no_progress,
            resume_from=args.resume_from,
        )
        if os.environ.get("RANK", "0") == "0":  # under torchrun, one summary
            print(json.dumps({"run_dir": str(result.run_dir), **result.final}))
    return 0


def _cmd_train_imagenet(args) -> int:
    from ecalib.tasks import imagenet

    run = imagenet.make_run(
        args.model,
        args.data_dir,
        args.profile,
        data=args.data,
        k_size=args.k_size,
        workers=args.workers,
        run_name=args.run_name,
        seed=args.seed,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        device=args.device,
        amp=args.amp,
        channels_last=args.channels_last,
        compile=args.compile,
        checkpoint_every=args.checkpoint_every,
        wandb_mode=args.wandb_mode,
    )
    resume_from = None if args.resume in (None, "auto") else args.resume
    result = imagenet.train(
        run, args.results_dir, resume=not args.no_resume, resume_from=resume_from, progress=not args.no_progress
    )
    if os.environ.get("RANK", "0") == "0":  # under torchrun, one summary
        print(json.dumps({"run_dir": str(result.run_dir), "lr_rule": run.lr_rule, **result.final}))
    return 0


def _cmd_evaluate(args) -> int:
    from ecalib.tasks import imagenet

    result = imagenet.evaluate_checkpoint(
        args.checkpoint, args.data, args.model, args.batch_size, args.workers, args.device, args.allow_pickle
    )
    print(json.dumps(result, default=str) if args.format == "json" else imagenet.format_evaluation(result))
    return 0


def _cmd_coco_convert(args) -> int:
    from ecalib.detection.convert import convert_backbone

    print(convert_backbone(args.checkpoint, args.to, args.output, allow_pickle=args.allow_pickle))
    return 0


def _cmd_coco_upgrade(args) -> int:
    from ecalib.detection.convert import upgrade_detector

    report = upgrade_detector(args.checkpoint, args.output, allow_pickle=args.allow_pickle)
    print(json.dumps(report, indent=2, default=str))
    return 0


def _cmd_coco_train(args) -> int:
    from ecalib.tasks import coco

    run = coco.make_run(
        args.data_dir,
        args.profile,
        args.backbone,
        data=args.data,
        k_size=args.k_size,
        backbone_weights=args.backbone_weights,
        workers=args.workers,
        run_name=args.run_name,
        seed=args.seed,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        device=args.device,
        amp=args.amp,
        wandb_mode=args.wandb_mode,
    )
    result = coco.train(run, args.results_dir, resume=not args.no_resume, progress=not args.no_progress)
    if os.environ.get("RANK", "0") == "0":
        print(json.dumps({"run_dir": str(result.run_dir), "lr_rule": run.lr_rule, **result.final}))
    return 0


def _cmd_coco_evaluate(args) -> int:
    from ecalib.detection.coco_eval import paper_layout
    from ecalib.tasks import coco

    metrics = coco.evaluate(args.checkpoint, args.data_dir, args.split, args.device, args.workers, args.allow_pickle)
    print(f"{metrics['images']} images, {metrics['detections']} detections ({metrics['data_source']['kind']})")
    print(paper_layout(metrics).round(1).to_string())
    return 0


def _cmd_coco_visualize(args) -> int:
    import torch
    from torchvision.io import decode_image

    from ecalib.detection.visualize import draw_predictions, save_image
    from ecalib.tasks import coco

    model, _ = coco.load_detector(args.checkpoint, args.allow_pickle)
    for image_path in args.images:
        image = decode_image(image_path).float() / 255
        with torch.no_grad():
            prediction = model([image[:3]])[0]
        out = Path(args.output_dir) / (Path(image_path).stem + "_detections.png")
        save_image(draw_predictions(image[:3], prediction, score_threshold=args.score_threshold), out)
        print(out)
    return 0


def _cmd_coco_mmdet_train(args) -> int:
    from ecalib.mmdet.train import DEFAULT_CONFIG, latest_log, train_with_mmdet
    from ecalib.reports.mmdet_logs import parse_mmdet_log
    from ecalib.tasks import coco

    run = coco.make_run(
        args.data_dir,
        args.profile,
        data=args.data,
        backbone_weights=args.backbone_weights,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        workers=args.workers,
        run_name=args.run_name,
    )
    work_dir = train_with_mmdet(run, args.results_dir, args.config or DEFAULT_CONFIG)
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


def _cmd_bench(args) -> int:
    from ecalib.benchmark import run_suite, write_result_folder
    from ecalib.engine.trainer import resolve_device
    from ecalib.provenance import environment

    device = resolve_device(args.device)
    table = run_suite(
        args.backbones,
        args.mechanisms,
        device,
        args.modes,
        args.precision,
        args.compile_modes,
        args.batch_size,
        args.steps,
        args.warmup,
        args.repeats,
        args.channels_last,
        input_sizes=args.input_size,
        eca_impls=args.eca_impl,
    )
    env = environment(device)
    params = {k: v for k, v in vars(args).items() if k != "func"} | {"input": "synthetic tensors"}
    folder = write_result_folder(args.out, params, env, table.assign(device=env["device"]))
    print(f"wrote {folder}")
    return 0


def _cmd_sweep(args) -> int:
    from ecalib.sweep import run_sweep

    table = run_sweep(
        args.sweep,
        args.results_dir,
        method=args.method,
        n_trials=args.trials,
        seed=args.seed,
        profile=args.profile,
        data=args.data,
        data_dir=args.data_dir,
        download=args.download,
        device=args.device,
        amp=args.amp,
        channels_last=args.channels_last,
        compile=args.compile,
        wandb_mode=args.wandb_mode,
    )
    print(table.to_string(index=False))
    return 0


def _add_recipe_options(p: argparse.ArgumentParser, run_name: str) -> None:
    """Options of the recipe-driven trainers (ImageNet, COCO); None keeps the recipe's value."""
    p.add_argument("--epochs", type=positive_int)
    p.add_argument("--batch-size", type=positive_int, help="global batch over all processes (the lr scales linearly)")
    p.add_argument("--lr", type=float, help="default: the recipe's, scaled linearly with the batch")
    p.add_argument("--workers", type=non_negative_int, help="data loader processes per training process")
    p.add_argument("--seed", type=int)
    p.add_argument("--device", choices=("auto", "cpu", "cuda"))
    p.add_argument("--amp", choices=("none", "bf16", "fp16"))
    p.add_argument("--run-name", help=f"result folder name (default: {run_name})")
    p.add_argument(
        "--results-dir", type=folder, default=DEFAULT_RESULTS_DIR, help="default: %(default)s/ (git-ignored)"
    )
    p.add_argument("--wandb-mode", choices=("offline", "online", "disabled"))
    p.add_argument("--no-resume", action="store_true", help="refuse to continue an existing run folder")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bars")


def build_parser() -> argparse.ArgumentParser:
    from ecalib import __version__

    parser = _Parser(prog="ecalib", description="ECA-Net models, checkpoints and paper checks.")
    parser.add_argument("--version", action="version", version=f"ecalib {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("models", help="list registered models")
    p.add_argument("pattern", nargs="?", default="*", help="glob, e.g. 'eca_*'")
    p.add_argument("--all", action="store_true", help="include timm's ECA models")
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser("complexity", help="params and FLOPs in the paper's units vs the official README")
    p.add_argument("models", nargs="*", help=f"model names (default: {' '.join(DEFAULT_COMPLEXITY_MODELS)})")
    p.add_argument("--input-size", type=positive_int, default=224)
    p.add_argument("--format", choices=("text", "csv", "json"), default="text")
    p.set_defaults(func=_cmd_complexity)

    p = sub.add_parser("classify", help="top-k ImageNet predictions from an official checkpoint")
    p.add_argument("images", nargs="+")
    p.add_argument("--checkpoint", required=True, help="official .pth.tar")
    p.add_argument("--model", help="check the checkpoint against this variant (default: infer from weights)")
    p.add_argument("--topk", type=positive_int, default=5)
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--allow-pickle", action="store_true", help="full-pickle loading for trusted files only")
    p.set_defaults(func=_cmd_classify)

    experiments = "cifar10 (the attention study), imagenet (the official recipes); COCO: `ecalib coco train`"
    p = sub.add_parser("train", help=f"train: {experiments}", description=f"Experiments: {experiments}.")
    tasks = p.add_subparsers(dest="task", required=True)
    t = tasks.add_parser("cifar10", help="the CIFAR-10 attention study (RC2020 protocol and others)")
    t.add_argument(
        "--model",
        "--att",
        dest="model",
        default="eca",
        type=str.lower,
        help="attention: none | se | cbam | triplet | eca (W&B sweeps pass --att=ECA)",
    )
    t.add_argument("--protocol", default="rc2020", help="rc2020 | standard | rc2020_sweep")
    t.add_argument("--seed", type=int)
    t.add_argument("--seeds", type=int, nargs="+", help="several runs, one per seed")
    t.add_argument("--epochs", type=positive_int)
    t.add_argument("--batch-size", "--batch_size", dest="batch_size", type=positive_int)
    t.add_argument("--lr", type=float)
    t.add_argument("--optimizer", type=str.lower, help="sgd | adam")
    t.add_argument("--checkpoint-every", type=positive_int)
    t.add_argument("--no-resume", action="store_true", help="refuse to continue an existing run folder")
    t.add_argument(
        "--resume-from",
        metavar="RUN_DIR",
        help="start from an earlier run's folder (or checkpoint) with changed settings, e.g. more --epochs; "
        "the new run gets its own folder",
    )
    t.add_argument("--no-progress", action="store_true", help="no tqdm bars")
    _add_run_options(t)
    t.set_defaults(func=_cmd_train_cifar10)

    t = tasks.add_parser("imagenet", help="ImageNet with the official recipes (torchrun for many GPUs/nodes)")
    t.add_argument("--model", default="eca_resnet50", help="ImageNet model: eca_resnet50, eca_mobilenet_v2, ...")
    t.add_argument("--k-size", help="ECA kernels per stage, e.g. 3557 (default: the variant's)")
    t.add_argument("--data-dir", type=folder, help="ImageNet folder with train/ and val/ (smoke profile: generated)")
    t.add_argument("--data", choices=("imagenet", "synthetic"))
    t.add_argument("--profile", default="full", help="full | smoke")
    _add_recipe_options(t, "imagenet-[<profile>-]<model>-seed<k>-<run id>")
    t.add_argument("--channels-last", action="store_true", default=None)
    t.add_argument("--compile", action="store_true", default=None)
    t.add_argument("--checkpoint-every", type=positive_int)
    t.add_argument(
        "--resume",
        help="'auto' (default: continue the run folder) or an earlier run's folder or checkpoint to start from "
        "(e.g. one written by the official main.py, or a run to extend with more --epochs)",
    )
    t.set_defaults(func=_cmd_train_imagenet)

    p = sub.add_parser("evaluate", help="top-1/top-5 of an official checkpoint on an ImageNet val folder")
    p.add_argument("--checkpoint", required=True, help="e.g. eca_resnet50_k3557.pth.tar")
    p.add_argument("--data", required=True, help="<imagenet>/val (or the folder holding val/)")
    p.add_argument("--model", help="check the checkpoint against this variant (default: infer from weights)")
    p.add_argument("--batch-size", type=positive_int, default=100)
    p.add_argument("--workers", type=non_negative_int, help="loader processes (default: up to 8)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--allow-pickle", action="store_true", help="full-pickle loading for trusted files only")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("bench", help="training/inference images/s and peak memory per attention mechanism")
    p.add_argument(
        "--backbones", nargs="+", default=["resnet50"], help="resnet50 resnet101 resnet152 mobilenet_v2 resnet18_cifar"
    )
    p.add_argument("--mechanisms", nargs="+", default=["none", "se", "cbam", "eca"])
    p.add_argument("--modes", nargs="+", default=["train", "infer"], choices=("train", "infer"))
    p.add_argument("--precision", nargs="+", default=["fp32"], choices=("fp32", "bf16", "fp16"))
    p.add_argument("--compile-modes", nargs="+", default=["eager"], choices=("eager", "compile"))
    p.add_argument(
        "--batch-size",
        type=positive_int,
        nargs="+",
        help="one or more (default: the paper's: 256 for ResNets, 96 for MobileNetV2)",
    )
    p.add_argument("--input-size", type=positive_int, nargs="+", help="one or more resolutions (default: the paper's)")
    p.add_argument(
        "--eca-impl",
        nargs="+",
        default=["auto"],
        help="ECA implementations to time: auto (Triton kernels on CUDA, fused PyTorch elsewhere), "
        "reference (the official module's operations), torch, triton",
    )
    p.add_argument("--steps", type=positive_int, default=20)
    p.add_argument("--warmup", type=non_negative_int, default=5)
    p.add_argument("--repeats", type=positive_int, default=5)
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--out", type=folder, default=f"{DEFAULT_RESULTS_DIR}/benchmarks/speed")
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser("sweep", help="run a W&B sweep file offline (grid, random or Bayesian via Optuna)")
    p.add_argument("sweep", help="e.g. configs/sweep.yaml")
    p.add_argument("--method", choices=("grid", "random", "bayes"), help="default: the file's method")
    p.add_argument("--trials", type=positive_int, help="number of trials (default: the whole grid)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of the random/Bayesian sampler")
    _add_run_options(p)
    p.set_defaults(func=_cmd_sweep)

    p = sub.add_parser("coco", help="COCO Mask R-CNN: weight conversion, training, evaluation, logs")
    coco_cmds = p.add_subparsers(dest="coco_command", required=True)
    c = coco_cmds.add_parser("convert-backbone", help="official ImageNet checkpoint -> detector backbone weights")
    c.add_argument("checkpoint")
    c.add_argument("--to", required=True, choices=("torchvision", "mmdet"))
    c.add_argument("-o", "--output", required=True)
    c.add_argument("--allow-pickle", action="store_true", help="full-pickle loading for trusted files only")
    c.set_defaults(func=_cmd_coco_convert)
    c = coco_cmds.add_parser("upgrade-detector", help="the authors' MMDetection-1.x ECA detectors -> 2.x/3.x layout")
    c.add_argument("checkpoint")
    c.add_argument("-o", "--output", required=True)
    c.add_argument("--allow-pickle", action="store_true", help="full-pickle loading for trusted files only")
    c.set_defaults(func=_cmd_coco_upgrade)
    c = coco_cmds.add_parser("train", help="Mask R-CNN with an ECA-ResNet-50-FPN on torchvision")
    c.add_argument("--data-dir", type=folder, help="COCO folder (train2017/, val2017/, annotations/)")
    c.add_argument("--data", choices=("coco", "synthetic"))
    c.add_argument("--profile", default="full", help="full | smoke")
    c.add_argument("--backbone", default="eca_resnet50")
    c.add_argument("--k-size", help="ECA kernels per stage when no weights say so (default 3377)")
    c.add_argument("--backbone-weights", help="official ImageNet .pth.tar or a converted backbone file")
    _add_recipe_options(c, "coco-[<profile>-]maskrcnn-<backbone>-seed<k>-<run id>")
    c.set_defaults(func=_cmd_coco_train)
    c = coco_cmds.add_parser("evaluate", help="bbox/segm AP of a trained detector (pycocotools)")
    c.add_argument("--checkpoint", required=True)
    c.add_argument("--data-dir", required=True)
    c.add_argument("--split", default="val")
    c.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    c.add_argument("--workers", type=non_negative_int, default=0)
    c.add_argument("--allow-pickle", action="store_true")
    c.set_defaults(func=_cmd_coco_evaluate)
    c = coco_cmds.add_parser("visualize", help="draw a trained detector's boxes and masks on images")
    c.add_argument("images", nargs="+")
    c.add_argument("--checkpoint", required=True)
    c.add_argument("--output-dir", default=".")
    c.add_argument("--score-threshold", type=float, default=0.5)
    c.add_argument("--allow-pickle", action="store_true")
    c.set_defaults(func=_cmd_coco_visualize)
    c = coco_cmds.add_parser("mmdet-train", help="train with MMDetection's Runner (needs `make mmdet`)")
    c.add_argument("--config", help="default: configs/mmdet/mask-rcnn_eca-r50_fpn_1x_coco.py")
    c.add_argument("--data-dir", help="COCO folder (train2017/, val2017/, annotations/)")
    c.add_argument("--data", choices=("coco", "synthetic"))
    c.add_argument("--profile", default="full", help="full | smoke")
    c.add_argument("--backbone-weights", help="official ImageNet .pth.tar (converted for MMDetection on the fly)")
    c.add_argument("--epochs", type=int)
    c.add_argument("--batch-size", type=int, help="images per iteration (default lr: 0.02 x batch/16)")
    c.add_argument("--lr", type=float, help="learning rate at --batch-size (default: 0.02 x batch/16)")
    c.add_argument("--workers", type=int)
    c.add_argument("--run-name")
    c.add_argument("--results-dir", type=folder, default=DEFAULT_RESULTS_DIR)
    c.set_defaults(func=_cmd_coco_mmdet_train)
    c = coco_cmds.add_parser("parse-log", help="per-epoch table of MMDetection text logs (resumed runs stitched)")
    c.add_argument("logs", nargs="+")
    c.set_defaults(func=_cmd_coco_parse_log)

    p = sub.add_parser("inspect", help="what an official checkpoint holds (architecture, k per stage)")
    p.add_argument("checkpoint")
    p.add_argument("--allow-pickle", action="store_true", help="full-pickle loading for trusted files only")
    p.set_defaults(func=_cmd_inspect)
    _add_export_parser(sub)
    return finish(parser)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
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
