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


PARAMETERS_CELL_HEADER = "# Parameters (papermill -p NAME VALUE)"  # first line of every notebook's parameters cell


def parameters_cell(namespace: dict) -> dict[str, str]:
    """The notebook's parameters, ``{name: type}`` in the order of its parameters cell.

    Read from the last run of that cell in IPython's input history (``In``), found by its first line
    (:data:`PARAMETERS_CELL_HEADER`; papermill's injected cell starts with ``# Parameters`` alone). Each line
    of the cell is ``name: type = default`` or ``name = default  # type: Optional[...] help`` (papermill's
    form for types it has no annotation syntax for).
    """
    import ast

    source = next((s for s in reversed(namespace.get("In", [])) if s.startswith(PARAMETERS_CELL_HEADER)), None)
    if source is None:
        raise UsageError("run the notebook's parameters cell before checking its parameters")
    cell = {}
    for node in ast.parse(source, type_comments=True).body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            cell[node.target.id] = ast.unparse(node.annotation)
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            cell[node.targets[0].id] = (node.type_comment or "").split(" ")[0]
        else:
            raise UsageError(f"the parameters cell may only assign parameters, not {ast.unparse(node)[:60]!r}")
    return cell


def check_parameters(namespace: dict, folders: Iterable[str] = ()) -> list[str]:
    """Refuse papermill parameters the notebook's parameters cell does not have (papermill only warns),
    turn the values of its ``bool`` parameters into real bools (or refuse them: papermill passes
    ``-p flag true`` as a string), and refuse ``folders`` (e.g. ``results_dir``) that cannot be written:
    the check of the CLI's ``--results-dir``. Returns the parameters' names.

    ``namespace`` is the notebook's ``globals()``; the parameters are read from its parameters cell
    (:func:`parameters_cell`), so the notebook does not list them again.
    """
    show_user_errors_in_one_line()
    cell = parameters_cell(namespace)
    unknown = [name for name in injected_parameters(namespace) if name not in cell]
    if unknown:
        raise UsageError(f"unknown parameter(s) {unknown}; this notebook's parameters are: {', '.join(cell)}")
    for name in (n for n, kind in cell.items() if kind == "bool"):
        namespace[name] = as_bool(name, namespace[name])
    for name in folders:
        from ecalib.paths import writable_folder

        writable_folder(namespace[name], f"parameter {name}")
    return list(cell)


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
