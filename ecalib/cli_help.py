"""The command line's help: a text for every option (defaults shown) and examples for every command.

Kept apart from the parser definitions in :mod:`ecalib.cli` so each option is described once; a
test parses every example, so the examples stay runnable.
"""

from __future__ import annotations

import argparse
import re

# Options shared by several commands, described once: an option added without help= gets its text here (a
# command's own help= says what differs there). A test checks that every entry is used.
CHECKPOINT = "an official .pth.tar (or a file ecalib wrote, or .safetensors)"
COMMON_HELP = {
    "--device": "where to run: auto (CUDA when available), cpu or cuda",
    "--batch-size": "images per batch",
    "--workers": "data loader processes",
    "--allow-pickle": "load the file with full pickle, which can execute code: trusted files only",
    "--format": "output format",
    "--input-size": "input resolution in pixels",
    "--topk": "how many classes to show",
    "--checkpoint": CHECKPOINT,
    "checkpoint": CHECKPOINT,
    "images": "image files",
    "--output": "file to write",
    "--out": "folder for the result folders",
    "--to": "detector framework whose key layout to write",
    "--split": "data split: train or val",
    "--data-dir": "data folder",
    "--output-dir": "folder for the drawn images",
    "--score-threshold": "draw detections scoring at least this",
    "logs": "MMDetection text logs (*.log) of one run, in order",
}

EXAMPLES = {
    "": ["ecalib models 'eca_*'", "ecalib train cifar10 --profile smoke", "ecalib inspect eca_resnet50_k3557.pth.tar"],
    "models": ["ecalib models 'eca_resnet*'", "ecalib models --all '*mobilenet*'"],
    "complexity": ["ecalib complexity", "ecalib complexity eca_resnet50 resnet50 --format csv"],
    "classify": ["ecalib classify --checkpoint eca_resnet50_k3557.pth.tar cat.jpg dog.jpg --topk 3"],
    "train": [
        "ecalib train cifar10 --model eca --profile smoke",
        "ecalib train configs/cifar10/rc2020.yaml --set model.name=eca optimizer.lr=0.05",
        "ecalib train cifar10/standard --model cbam --seeds 0 1 2 --download",
        "ecalib train imagenet --model eca_resnet50 --data-dir /data/imagenet --amp bf16",
        "ecalib train coco --profile smoke",
    ],
    "study": [
        "ecalib study table2-cifar10 --dry-run",
        "ecalib study fig4-cifar10 --seeds 0 1 --download",
        "ecalib study table2-imagenet --data-dir /data/imagenet --amp bf16",
    ],
    "evaluate": [
        "ecalib evaluate --checkpoint eca_resnet50_k3557.pth.tar --data /data/imagenet/val",
        "ecalib evaluate --checkpoint eca_resnet50_k3557.pth.tar --data /data/imagenet/val --out results/imagenet-eval",
    ],
    "bench": [
        "ecalib bench --suite table3 --budget 8m",
        "ecalib bench --suite table3 --profile smoke --device cpu",
        "ecalib bench --suite table3 --set parts.resnet101_compile=null rounds.max=5",
        "ecalib bench --backbones resnet50 --mechanisms none eca --precision bf16 --compile-modes eager compile",
        "ecalib bench --backbones resnet50 --mechanisms none eca --eca-impl reference torch --device cpu "
        "--batch-size 8 --input-size 160 --steps 3",
    ],
    "sweep": [
        "ecalib sweep configs/sweep.yaml --method random --trials 4 --profile smoke",
        "ecalib sweep configs/sweep.yaml --method grid --set schedule.epochs=5",
    ],
    "coco": ["ecalib coco train --profile smoke", "ecalib coco parse-log work_dir/20200101_000000.log"],
    "coco convert-backbone": ["ecalib coco convert-backbone eca_resnet50_k3377.pth.tar --to mmdet -o r50_mmdet.pth"],
    "coco upgrade-detector": ["ecalib coco upgrade-detector mask_rcnn_ecanet50_k3377.pth -o mask_rcnn_mmdet3.pth"],
    "coco train": [
        "ecalib coco train --data-dir /data/coco --backbone-weights eca_resnet50_k3377.pth.tar",
        "ecalib coco train --profile smoke",
    ],
    "coco evaluate": ["ecalib coco evaluate --checkpoint runs/coco/RUN/checkpoint.pth.tar --data-dir /data/coco"],
    "coco visualize": ["ecalib coco visualize --checkpoint runs/coco/RUN/checkpoint.pth.tar street.jpg"],
    "coco mmdet-train": [
        "ecalib coco mmdet-train --data-dir /data/coco --backbone-weights eca_resnet50_k3377.pth.tar",
        "ecalib coco mmdet-train --profile smoke",
    ],
    "coco parse-log": ["ecalib coco parse-log runs/coco-mmdet/RUN/20200101_000000/20200101_000000.log"],
    "inspect": ["ecalib inspect eca_resnet50_k3557.pth.tar", "ecalib inspect model.safetensors"],
    "export": [
        "ecalib export eca_resnet50_k3557.pth.tar --format onnx -o eca_resnet50.onnx",
        "ecalib export eca_resnet50_k3557.pth.tar --format timm -o eca_resnet50-timm",
    ],
}


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown after each option's help; the examples epilog kept as written."""


def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """``(path, parser)`` of the parser and every (nested) subcommand."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, (*path, name))


def finish(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Fill in the shared help texts and the examples of every command of ``parser``."""
    for path, command in commands(parser):
        command.formatter_class = HelpFormatter
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction) and action.help is None:
                action.help = "the command to run (each has its own --help)"
            elif action.help is None:
                key = next((o for o in action.option_strings if o.startswith("--")), action.dest)
                action.help = COMMON_HELP.get(key)
        examples = EXAMPLES.get(" ".join(path))
        if examples:
            command.epilog = "examples:\n" + "\n".join(f"  {line}" for line in examples)
    return parser


def as_flags(message: str, parser: argparse.ArgumentParser) -> str:
    """``device='cpu'`` in a library message becomes ``--device cpu`` (``x=True``: ``--x``), for the
    names that are options of ``parser``: on the command line the user sets flags, not arguments."""
    options = {
        action.dest
        for _, command in commands(parser)
        for action in command._actions
        if any(o.startswith("--") for o in action.option_strings)
    }

    def flag(match: re.Match) -> str:
        name, value = match.group(1), match.group(3)
        if name not in options:
            return match.group(0)
        option = "--" + name.replace("_", "-")
        return option if value == "True" else f"{option} {value}"

    return re.sub(r"(?<![\w.-])([a-z][a-z0-9_]*)=(['\"]?)([^'\"\s,;)]+)\2", flag, message)
