"""Validation of notebook parameters (papermill passes them through unchecked)."""

from __future__ import annotations

from collections.abc import Iterable

from ecalib.errors import UsageError


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
            import yaml

            parsed = yaml.safe_load(text)
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
