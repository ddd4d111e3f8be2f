"""Reading the YAML files the project ships, strictly.

PyYAML keeps the last of two equal keys in a mapping without a word, while
Docker Compose, kubectl and Prometheus refuse the file: a test that read it
with `yaml.safe_load` would pass on a file the real tool rejects. Every deploy
test reads YAML through `load` / `load_all` here, which refuse a duplicate key
with its line.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node

from tests.deploy import REPO

__all__ = ["DuplicateKeyError", "load", "load_all", "shipped_yaml_files"]


class DuplicateKeyError(ConstructorError):
    """A mapping names the same key twice."""


class StrictLoader(yaml.SafeLoader):
    """`SafeLoader` that refuses a key defined twice in one mapping (merge keys `<<` excepted)."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
            if key in seen:
                raise DuplicateKeyError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r} (first defined on line {seen[key].start_mark.line + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def load(source: Path | str) -> Any:
    """One YAML document, from a path or from text."""
    text = source.read_text(encoding="utf-8") if isinstance(source, Path) else source
    return yaml.load(text, Loader=StrictLoader)


def load_all(source: Path | str) -> list[Any]:
    """Every non-empty document of a multi-document YAML stream."""
    text = source.read_text(encoding="utf-8") if isinstance(source, Path) else source
    return [d for d in yaml.load_all(text, Loader=StrictLoader) if d is not None]


def shipped_yaml_files() -> list[Path]:
    """Every YAML file the repository holds (tracked, or new and not ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.yml", "*.yaml"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return sorted(REPO / name for name in listed if (REPO / name).is_file())
