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


def test_every_shared_help_text_is_used():
    from ecalib.cli_help import COMMON_HELP

    applied = {
        key
        for _, command in commands(build_parser())
        for action in command._actions
        for key in [next((o for o in action.option_strings if o.startswith("--")), action.dest)]
        if action.help == COMMON_HELP.get(key)
    }
    assert set(COMMON_HELP) - applied == set()


@pytest.mark.parametrize(
    ("argv", "module", "function"),
    [
        (["evaluate", "--checkpoint", "c.pth.tar", "--data", "val"], "ecalib.tasks.imagenet", "evaluate_checkpoint"),
        (["coco", "evaluate", "--checkpoint", "c.pth", "--data-dir", "coco"], "ecalib.tasks.coco", "evaluate"),
    ],
)
def test_every_option_of_a_command_reaches_the_library_function(monkeypatch, argv, module, function):
    # The commands hand their options on by parameter name: each option arrives, under a name the real
    # function's signature has (a renamed parameter fails loudly instead of dropping the option).
    import functools
    import importlib
    import inspect

    from ecalib import cli

    real = getattr(importlib.import_module(module), function)
    received = {}

    class Reached(Exception):
        pass

    @functools.wraps(real)
    def stand_in(**kwargs):
        received.update(kwargs)
        raise Reached

    monkeypatch.setattr(importlib.import_module(module), function, stand_in)
    args = build_parser().parse_args(argv)
    with pytest.raises(Reached):
        args.func(args)
    options = set(vars(args)) - cli.NOT_OPTIONS - {"format", "out"}
    assert set(received) == options
    assert set(received) <= set(inspect.signature(real).parameters)
    assert received["checkpoint"] == argv[argv.index("--checkpoint") + 1]

    def renamed(**kwargs):  # the same function with one parameter renamed: the command refuses to call it
        pass

    signature = inspect.signature(real)
    parameters = [p.replace(name="weights") if p.name == "checkpoint" else p for p in signature.parameters.values()]
    renamed.__signature__ = signature.replace(parameters=parameters)
    monkeypatch.setattr(importlib.import_module(module), function, renamed)
    with pytest.raises(TypeError, match=r"no parameter for the option\(s\) \['checkpoint'\]"):
        args.func(args)
