"""Safe YAML reading that remembers where every key and item stood.

PyYAML's ``safe_load`` forgets line numbers, reads ``yes``/``no`` as booleans and lets
duplicate keys through. Here a document is *composed* (no object is constructed from a
tag), then walked: mappings become :class:`Node` dicts whose ``lines`` say where each
key stood and whose ``raw`` keeps each scalar's text, tags other than YAML's plain
types are refused, and alias expansion is bounded so a "billion laughs" file is an
error, not a hang.
"""

from __future__ import annotations

import re
import sys
from types import FrameType
from typing import Any

import yaml

from .errors import Problems

__all__ = ["Node", "Seq", "load_located"]

MAX_NODES = 100_000
MAX_DEPTH = 900  # frames: YAML nested deeper than about 100 levels is refused

_PLAIN_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
}


class Node(dict):
    """A mapping read from YAML; ``line``, ``lines[key]`` and ``raw[key]`` locate it."""

    line: int
    lines: dict[str, int]
    raw: dict[str, str]


class Seq(list):
    """A sequence read from YAML; ``line``, ``lines[i]`` and ``raw[i]`` locate it."""

    line: int
    lines: list[int]
    raw: list[str]


_SURROGATE = re.compile("[\ud800-\udfff]")


class _Walker:
    def __init__(self, found: Problems):
        self.found = found
        self.count = 0
        self.constructor = yaml.constructor.SafeConstructor()

    def walk(self, node: yaml.Node) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise _TooLarge(node.start_mark.line + 1)
        if node.tag not in _PLAIN_TAGS:
            self.found.add(
                node.start_mark.line + 1, "yaml", f"tag {node.tag!r} is not allowed (plain YAML only)"
            )
            return None
        if isinstance(node, yaml.MappingNode):
            out = Node()
            out.line, out.lines, out.raw = node.start_mark.line + 1, {}, {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    self.found.add(key_node.start_mark.line + 1, "yaml", "merge keys (<<) are not supported")
                    continue
                if not isinstance(key_node, yaml.ScalarNode):
                    self.found.add(key_node.start_mark.line + 1, "yaml", "keys must be plain text")
                    continue
                key = str(key_node.value)
                line = key_node.start_mark.line + 1
                if _SURROGATE.search(key):
                    self.found.add(line, "yaml", "a key is not valid text (an escaped lone surrogate such as \\ud800)")
                    continue
                if key in out.lines:
                    self.found.add(line, key, f"duplicate key (first given on line {out.lines[key]})")
                    continue
                out.lines[key] = line
                if isinstance(value_node, yaml.ScalarNode):
                    out.raw[key] = str(value_node.value)
                out[key] = self.walk(value_node)
            return out
        if isinstance(node, yaml.SequenceNode):
            seq = Seq()
            seq.line, seq.lines, seq.raw = node.start_mark.line + 1, [], []
            for item in node.value:
                seq.lines.append(item.start_mark.line + 1)
                seq.raw.append(str(item.value) if isinstance(item, yaml.ScalarNode) else "")
                seq.append(self.walk(item))
            return seq
        if isinstance(node.value, str) and _SURROGATE.search(node.value):
            # "\ud800" in a double-quoted scalar: no UTF-8 file, CSV or report can hold it
            self.found.add(node.start_mark.line + 1, "yaml", "not valid text (an escaped lone surrogate such as \\ud800)")
            return ""
        try:
            return self.constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError) as exc:
            if node.tag == "tag:yaml.org,2002:timestamp" and node.style is None:
                # an unquoted date-like text that is no date (2025-13-01): keep the text, so
                # a date field says "not a date" under its own name and free text stays text
                return str(node.value)
            self.found.add(node.start_mark.line + 1, "yaml", f"cannot read value {node.value!r}: {exc}")
            return node.value


class _TooLarge(Exception):
    def __init__(self, line: int):
        self.line = line


def load_located(text: str, found: Problems) -> Any:
    """Compose and walk one YAML document; problems go to ``found``.

    Returns ``None`` when the text is not valid YAML (the problem is recorded). Nesting
    is bounded by a recursion limit of its own (``MAX_DEPTH`` frames above the caller),
    whatever limit the process runs with (PyMC raises it to 10,000).
    """
    frame: FrameType | None = sys._getframe()
    depth = 0
    while frame is not None:
        frame, depth = frame.f_back, depth + 1
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(depth + MAX_DEPTH)
    try:
        return _load_located(text, found)
    finally:
        sys.setrecursionlimit(previous)


def _load_located(text: str, found: Problems) -> Any:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        found.add(line, "yaml", f"not valid YAML: {exc.problem or exc.context}")
        return None
    except yaml.reader.ReaderError as exc:  # a control character such as NUL
        line = text[: exc.position].count("\n") + 1
        code = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "\0")
        found.add(line, "yaml", f"not valid YAML: character U+{code:04X} is not allowed")
        return None
    except yaml.YAMLError as exc:
        found.add(1, "yaml", f"not valid YAML: {exc}")
        return None
    except RecursionError:
        found.add(1, "yaml", "document is nested too deeply")
        return None
    if root is None:
        return None
    try:
        return _Walker(found).walk(root)
    except _TooLarge as exc:
        found.add(exc.line, "yaml", f"document expands to more than {MAX_NODES} nodes (aliases?)")
        return None
    except RecursionError:
        found.add(1, "yaml", "document is nested too deeply (recursive alias?)")
        return None
