"""Validation of notebook parameters (papermill passes them through unchecked)."""

from __future__ import annotations

from collections.abc import Iterable

from ecalib.errors import UsageError, UserError


def check_choice(name: str, value, allowed: Iterable) -> object:
    """``value`` if it is one of ``allowed``, else an error that lists them."""
    allowed = list(allowed)
    if value not in allowed:
        raise UsageError(f"{name}={value!r} is not allowed; choose one of: {', '.join(map(str, allowed))}")
    return value


def check_int(name: str, value, minimum: int | None = None, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"parameter {name} must be an integer, got {value!r}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise UsageError(f"parameter {name}={value} is out of range [{minimum}, {maximum}]")
    return value


def as_list(value) -> list:
    """Lists arrive from ``papermill -p`` as strings: accept ``'[a, b]'`` (YAML) or ``'a,b'``."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            from ecalib.recipes.yamlfile import load_yaml

            parsed = load_yaml(text, f"the list {text[:40]!r}")
            if not isinstance(parsed, list):
                raise UsageError(f"could not read a list from {value!r}")
            return parsed
        return [part for part in text.replace(",", " ").split() if part]
    return list(value)


def check_models(name: str, value, source: str | None = "ecalib") -> list[str]:
    """A list of registered model names (``'a,b'`` or ``'[a, b]'`` strings are accepted too)."""
    from ecalib.models import list_models

    names = as_list(value)
    known = list_models(source=source)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UsageError(f"parameter {name} has unknown model(s) {unknown}; allowed: {', '.join(known)}")
    if not names:
        raise UsageError(f"parameter {name} must name at least one model")
    return names


PAPERMILL_HEADER = "# Parameters"  # first line of the cell papermill injects after the parameters cell


def injected_parameters(namespace: dict) -> list[str]:
    """Names papermill assigned in this kernel: the targets of its injected cell (IPython's ``In``)."""
    import ast

    names = []
    for source in namespace.get("In", []):
        if source.splitlines()[:1] != [PAPERMILL_HEADER]:
            continue
        for node in ast.parse(source).body:
            targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
            names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


def as_bool(name: str, value) -> bool:
    """A boolean parameter: True/False, or the strings 'true'/'false' that ``papermill -p`` passes."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise UsageError(f"parameter {name} must be True or False, got {value!r}")


def check_parameters(
    namespace: dict, known: Iterable[str], booleans: Iterable[str] = (), folders: Iterable[str] = ()
) -> None:
    """Refuse papermill parameters the notebook does not have (papermill only warns), non-boolean
    values of its boolean parameters, which are set to real bools in ``namespace``, and ``folders``
    (e.g. ``results_dir``) that cannot be written: the check of the CLI's ``--results-dir``.

    ``known`` are the names of the notebook's parameters cell, ``namespace`` its ``globals()``.
    """
    show_user_errors_in_one_line()
    known = list(known)
    unknown = [name for name in injected_parameters(namespace) if name not in known]
    if unknown:
        raise UsageError(f"unknown parameter(s) {unknown}; this notebook's parameters are: {', '.join(known)}")
    for name in booleans:
        namespace[name] = as_bool(name, namespace[name])
    for name in folders:
        from ecalib.paths import writable_folder

        writable_folder(namespace[name], f"parameter {name}")


def _one_line(shell, etype, value, tb, tb_offset=None) -> list[str]:
    stb = [f"{etype.__name__}: {value}"]
    shell._showtraceback(etype, value, stb)  # the cell's error output (papermill reports it), one line
    return stb


def show_user_errors_in_one_line() -> None:
    """In an IPython kernel, show ecalib's ``UserError`` (a bad value, missing data)
    as one line, as the command line does, instead of a traceback through the library."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None:
        shell.set_custom_exc((UserError,), _one_line)
