"""Which folders a reindex command may name: one setting, checked at both ends.

The gateway checks each path as written (made absolute, `..` folded, no filesystem
access: the documents live on the indexer's disks, not the gateway's) and refuses the
command before it is published. The indexer checks again after resolving symlinks, so a
link inside a root that points outside it is refused too. Both refuse with
`RAG_PATH_NOT_ALLOWED`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode

from agent_common.errors import ErrorCode, PlatformError
from agent_common.settings import comma_separated, settings_config


class SourceRootsSettings(BaseSettings):
    """The folders reindex commands may read documents from (read by the gateway and the indexer)."""

    model_config = settings_config("RAG_INDEXER_")

    allowed_roots: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["."])
    """Folders reindex commands may name, comma-separated, as the indexer sees them (`.` is the
    working directory). Give the gateway and the indexer the same absolute paths: the gateway
    refuses a command naming anything else with 403 `RAG_PATH_NOT_ALLOWED`, and the indexer
    refuses a path that leaves them through a symlink."""

    _split = field_validator("allowed_roots", mode="before")(comma_separated)

    def as_written(self) -> list[Path]:
        return [as_written(root) for root in self.allowed_roots]

    def resolved(self) -> list[Path]:
        return [Path(root).expanduser().resolve() for root in self.allowed_roots]


def as_written(raw: str) -> Path:
    """`raw` made absolute and normalised lexically: `..` folded, symlinks left alone."""
    return Path(os.path.abspath(os.path.expanduser(raw)))


def within(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


def relative_name(path: Path, roots: Sequence[Path]) -> str:
    """`path` as answers may show it: relative to the deepest allowed root it lies under (a root
    itself by its own name), never the server's absolute path."""
    under = [root for root in roots if path == root or path.is_relative_to(root)]
    if not under:
        return path.name
    root = max(under, key=lambda r: len(r.parts))
    return path.name if path == root else path.relative_to(root).as_posix()


def path_not_allowed(path: str) -> PlatformError:
    return PlatformError(
        ErrorCode.RAG_PATH_NOT_ALLOWED,
        "The path is outside the folders reindex commands may name (RAG_INDEXER_ALLOWED_ROOTS).",
        path=path,
    )
