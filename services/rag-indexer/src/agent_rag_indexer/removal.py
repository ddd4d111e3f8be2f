"""A `remove` command: which indexed documents it names, and taking them out of the live index.

No file is read: a document is named by the path it was indexed from (its `doc_id`), so a
file already deleted from disk can still be removed, and a folder names everything indexed
from under it, whichever source indexed it. A command naming no path removes its whole
source (the way to remove inline documents). A named path that is outside the allowed
roots, or from which nothing is indexed, is a failure of the command, reported with why.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from agent_common.errors import ErrorCode, ErrorInfo
from agent_common.messages import ReindexFailure, ReindexSource
from agent_common.rag.roots import path_not_allowed, within
from agent_common.security_events import SecurityEvent, SecurityReason, record_security_event

# (source, doc_id) as the store lists them.
Indexed = tuple[str, str]


def under(doc_id: str, path: str) -> bool:
    """Whether `doc_id` was indexed from `path`: that file, or a file below that folder."""
    return doc_id == path or doc_id.startswith(path.rstrip(os.sep) + os.sep)


def named_documents(
    source: ReindexSource, indexed: Sequence[Indexed], allowed_roots: Sequence[Path]
) -> tuple[list[Indexed], list[ReindexFailure]]:
    """The documents of `indexed` a `remove` command names, and the named paths that name none."""
    if not source.paths:
        return [doc for doc in indexed if doc[0] == source.name], []
    chosen: dict[Indexed, None] = {}
    failures: list[ReindexFailure] = []
    for raw in source.paths:
        # Resolved as the indexer resolved it when indexing (doc ids are resolved paths);
        # a file gone from disk resolves all the same.
        path = Path(raw).expanduser().resolve()
        if not within(path, allowed_roots):
            record_security_event(SecurityEvent.ACCESS_DENIED, SecurityReason.PATH_NOT_ALLOWED)
            failures.append(ReindexFailure(document=raw, error=path_not_allowed(raw).info))
            continue
        matched = [doc for doc in indexed if under(doc[1], str(path))]
        if not matched:
            nothing = ErrorInfo.of(ErrorCode.NOT_FOUND, "Nothing indexed comes from this path.", reason="not_indexed")
            failures.append(ReindexFailure(document=str(path), error=nothing))
        chosen.update(dict.fromkeys(matched))
    return list(chosen), failures
