"""The command line's conventions: help for every option, runnable examples, flags in messages."""

import argparse
import shlex

import pytest

import ecalib
from ecalib.cli import build_parser, main
from ecalib.cli_help import EXAMPLES, as_flags, commands


def test_every_option_has_help_and_every_command_examples():
    parser = build_parser()
    for path, command in commands(parser):
        missing = [a.dest for a in command._actions if not a.help]
        assert not missing, (path, missing)
        assert command.epilog and command.epilog.startswith("examples:"), path
        shown = [a for a in command._actions if a.default not in (None, False, argparse.SUPPRESS) and a.option_strings]
        text = " ".join(command.format_help().split())
        assert all(f"(default: {a.default}" in text or "%(default)" in a.help for a in shown), path


@pytest.mark.parametrize("path", sorted(EXAMPLES))
def test_every_example_parses(path):
    parser = build_parser()
    for line in EXAMPLES[path]:
        argv = shlex.split(line)
        assert argv[0] == "ecalib"
        args = parser.parse_args(argv[1:])
        assert callable(args.func), line


def test_version_and_the_experiments_are_listed(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"ecalib {ecalib.__version__}"
    from ecalib.recipes import list_recipes

    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    assert list_recipes() and all(f"{name:24s} configs/{name}.yaml" in out for name in list_recipes()), out
    assert "cifar10: full, smoke" in out and "--set KEY=VALUE" in out


def test_messages_name_flags_not_python_arguments(capsys):
    parser = build_parser()
    message = "device='cuda' was requested but no CUDA GPU is available; use device='cpu' or allow_pickle=True"
    assert as_flags(message, parser) == (
        "--device cuda was requested but no CUDA GPU is available; use --device cpu or --allow-pickle"
    )
    assert as_flags("pretrained=<path>, num_classes=10", parser) == "pretrained=<path>, num_classes=10"
    # End to end: a library error reaches the terminal in flag form.
    assert main(["train", "cifar10", "--profile", "smoke", "--amp", "fp16", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "--amp" in err and "amp='fp16'" not in err
