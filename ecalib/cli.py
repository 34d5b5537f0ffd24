"""Command line: ``ecalib <command>`` or ``python -m ecalib <command>``."""

from __future__ import annotations

import argparse
import json
import sys

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
    from ecalib.checkpoint import read_official_checkpoint

    ckpt = read_official_checkpoint(args.checkpoint, allow_pickle=args.allow_pickle)
    meta = {k: (v.item() if hasattr(v, "item") else v) for k, v in ckpt.meta.items()}
    print(
        json.dumps(
            {
                "model": ckpt.model_name,
                "k_per_stage": ckpt.k_per_stage,
                "num_classes": ckpt.num_classes,
                "tensors": len(ckpt.state_dict),
                "stored": meta,
            },
            indent=2,
            default=str,
        )
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ecalib", description="ECA-Net models, checkpoints and paper checks.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("models", help="list registered models")
    p.add_argument("pattern", nargs="?", default="*", help="glob, e.g. 'eca_*'")
    p.add_argument("--all", action="store_true", help="include timm's ECA models")
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser("complexity", help="params and FLOPs in the paper's units vs the official README")
    p.add_argument("models", nargs="*", help=f"model names (default: {' '.join(DEFAULT_COMPLEXITY_MODELS)})")
    p.add_argument("--input-size", type=int, default=224)
    p.add_argument("--format", choices=("text", "csv", "json"), default="text")
    p.set_defaults(func=_cmd_complexity)

    p = sub.add_parser("classify", help="top-k ImageNet predictions from an official checkpoint")
    p.add_argument("images", nargs="+")
    p.add_argument("--checkpoint", required=True, help="official .pth.tar")
    p.add_argument("--model", help="check the checkpoint against this variant (default: infer from weights)")
    p.add_argument("--topk", type=int, default=5)
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--allow-pickle", action="store_true", help="full-pickle loading for trusted files only")
    p.set_defaults(func=_cmd_classify)

    p = sub.add_parser("inspect", help="what an official checkpoint holds (architecture, k per stage)")
    p.add_argument("checkpoint")
    p.add_argument("--allow-pickle", action="store_true", help="full-pickle loading for trusted files only")
    p.set_defaults(func=_cmd_inspect)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, KeyError) as err:  # user errors: one line, no traceback
        print(f"ecalib {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
