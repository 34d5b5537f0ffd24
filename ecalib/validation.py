"""Pydantic validation errors as one line a user can act on: which key, what was given, what is allowed.

The experiment schema (:mod:`ecalib.recipes.schema`), bench presets and the engine's own record
(:class:`ecalib.engine.TrainConfig`) are pydantic models; :func:`validate` checks values against one and
turns every problem into a single :class:`~ecalib.errors.UsageError` naming where the values came from.
"""

from __future__ import annotations

from typing import get_args, get_origin

from pydantic import BaseModel, ValidationError

from ecalib.errors import UsageError
from ecalib.limits import quoted

MAX_PROBLEMS = 5  # listed in one error message; the rest are counted


def section_of(annotation) -> tuple[type[BaseModel] | None, bool]:
    """The section a field holds (None: a plain value), and whether it holds a mapping of such
    sections by name (e.g. a bench preset's ``parts``), whose entry names are free."""
    if get_origin(annotation) is dict:
        section, _ = section_of(get_args(annotation)[1])
        return section, section is not None
    inner = [a for a in (get_args(annotation) or (annotation,)) if isinstance(a, type)]
    sections = [a for a in inner if issubclass(a, BaseModel)]
    return (sections[0] if sections else None), False


def allowed_keys(model: type[BaseModel], path: tuple) -> list[str]:
    """The field names at ``path`` (a location in the schema) for error messages."""
    entry_name = False
    for part in path:
        if entry_name:  # the name of an entry of a mapping of sections: any name
            entry_name = False
            continue
        field = model.model_fields.get(part) if isinstance(part, str) else None
        if field is None:
            break
        section, entry_name = section_of(field.annotation)
        if section is None:
            break
        model = section
    return list(model.model_fields)


def _message(error: dict, flags: dict[str, str], schema: type[BaseModel], at: tuple = ()) -> str:
    loc = at + tuple(
        p for p in error["loc"] if not (isinstance(p, str) and p[:1].isupper() or p in ("function-after",))
    )
    key = ".".join(str(p) for p in loc)
    unindexed = ".".join(str(p) for p in loc if not isinstance(p, int))  # flags name lists, not their items
    flag = f" ({flags[unindexed]})" if unindexed in flags else ""
    if error["type"] == "extra_forbidden":
        where = ".".join(str(p) for p in loc[:-1]) or "the top level"
        return f"unknown key {key}; allowed at {where}: {', '.join(allowed_keys(schema, loc[:-1]))}"
    if error["type"] == "missing":
        return f"{key}{flag} is missing"
    text = error["msg"].removeprefix("Value error, ").replace("Input should be", "must be")[:300]
    if not key:
        return text
    if isinstance(error.get("input"), dict):  # a section's own check: its message says what is wrong
        return f"{key}{flag}: {text}"
    if error["type"] == "model_type":  # a value where a section of settings belongs
        keys = ", ".join(allowed_keys(schema, loc))
        return f"{key} is a section of settings ({keys}), not a value; {quoted(error.get('input'))} was given"
    return f"{key}{flag}={quoted(error.get('input'))} is not allowed: {text}"


def problems(
    err: ValidationError, origin: str, schema: type[BaseModel], flags: dict[str, str] | None = None, at: tuple = ()
) -> UsageError:
    """One UsageError naming ``origin`` and the problems of ``err`` (the first few; values quoted short,
    so a huge input never makes a huge message); ``at``: where in ``schema`` the failing part sits (an
    assignment to a section reports locations inside that section)."""
    found = list(dict.fromkeys(_message(e, flags or {}, schema, at) for e in err.errors(include_input=True)))
    more = f"; and {len(found) - MAX_PROBLEMS} more" if len(found) > MAX_PROBLEMS else ""
    return UsageError(f"{origin}: {'; '.join(found[:MAX_PROBLEMS])}{more}")


def validate(schema: type[BaseModel], values: dict, origin: str, flags: dict[str, str] | None = None):
    """``values`` as a ``schema``, or one UsageError (see :func:`problems`)."""
    try:
        return schema.model_validate(values)
    except ValidationError as err:
        raise problems(err, origin, schema, flags) from None
