"""The one reader of users' YAML (recipes, profiles, sweep files, ``--set`` values): bounded and strict.

Before anything is validated, the text is bounded (size, nesting, values after YAML aliases are
expanded: a 396-byte "billion laughs" file would otherwise expand to gigabytes), must be UTF-8, and
a key given twice in one mapping is refused (YAML would silently keep the last, replacing a whole
section). Every problem is one line naming the file.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from ecalib.errors import UsageError
from ecalib.limits import MAX_RECIPE_BYTES, MAX_RECIPE_DEPTH, MAX_RECIPE_VALUES


class _BoundedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses duplicate keys, deep nesting and alias expansion past the bounds."""

    def __init__(self, stream):
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent, index):
        self.depth += 1
        if self.depth > MAX_RECIPE_DEPTH:
            line = self.peek_event().start_mark.line + 1
            raise yaml.YAMLError(f"nested deeper than {MAX_RECIPE_DEPTH} levels (line {line})")
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def get_single_node(self):
        node = super().get_single_node()
        if node is not None:
            _expanded_size(node)
        return node

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                if isinstance(key, list | dict):
                    continue  # an unhashable key: yaml's own error follows
                if key in seen:
                    raise yaml.YAMLError(
                        f"key {key!r} is given twice in one mapping (line {key_node.start_mark.line + 1}); "
                        "give each key once"
                    )
                seen.add(key)
        return super().construct_mapping(node, deep)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _expanded_size(root: yaml.Node) -> int:
    """Values in the document with every alias expanded, each node counted once (no expansion is built)."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            open_nodes.discard(id(node))
            sizes[id(node)] = 1 + sum(sizes[id(c)] for c in _children(node))
            if sizes[id(node)] > MAX_RECIPE_VALUES:
                raise yaml.YAMLError(
                    f"it expands to more than {MAX_RECIPE_VALUES} values (YAML aliases repeat what they point to)"
                )
        elif id(node) not in sizes:
            if id(node) in open_nodes:
                raise yaml.YAMLError("an alias refers to a value that contains it")
            open_nodes.add(id(node))
            stack.append((node, True))
            stack.extend((c, False) for c in _children(node))
    return sizes[id(root)]


def _one_line(err: yaml.YAMLError) -> str:
    text = " ".join(line.strip() for line in str(err).splitlines() if line.strip() and "^" not in line)
    return text[:300]


def load_yaml(text: str, origin: str) -> object:
    """Parse ``text`` with the bounds and duplicate-key rule of this module; errors name ``origin``."""
    if len(text) > MAX_RECIPE_BYTES:
        raise UsageError(f"{origin} is {len(text)} characters; a recipe or sweep file is at most {MAX_RECIPE_BYTES}")
    try:
        return yaml.load(text, Loader=_BoundedLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as err:
        raise UsageError(f"{origin} is not valid YAML: {_one_line(err)}") from None


def read_yaml_file(path: str | Path, shown: str | None = None) -> object:
    """Read and parse a YAML file (see :func:`load_yaml`); ``shown`` is how messages name it."""
    path = Path(path)
    shown = shown or str(path)
    if not path.is_file():
        raise FileNotFoundError(f"file not found: {shown}")
    size = path.stat().st_size
    if size > MAX_RECIPE_BYTES:
        raise UsageError(f"{shown} is {size} bytes; a recipe or sweep file is at most {MAX_RECIPE_BYTES}")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise UsageError(f"{shown} is not a text file (not UTF-8 at byte {err.start})") from None
    return load_yaml(text, shown)
