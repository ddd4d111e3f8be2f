"""The case file (`evals/prompts.yaml`): read, checked, and its placeholders filled in.

```yaml
cases:
  - id: en-page-allowlisted          # unique; letters, digits, - and _
    question: "What does {pages}/page say?"
    session: ["My name is Mina."]    # optional: earlier turns, sent first in the same session
    rules:
      - ends_done
      - calls_tool: {name: http_get, ok: true}
```

`{pages}` becomes the base URL of the runner's page server (on the allowlist),
`{offlist}` the same server under a host name that is not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from agent_cli.prompt_eval.rules import Rule, RuleError, parse_rule

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_CASE_KEYS = frozenset({"id", "question", "session", "rules", "note"})


class CaseFileError(ValueError):
    """The case file cannot be used; the message says where and why."""


@dataclass(frozen=True)
class Case:
    id: str
    question: str
    rules: tuple[Rule, ...]
    session: tuple[str, ...] = ()
    note: str = ""

    def filled(self, pages: str, offlist: str) -> tuple[str, tuple[str, ...]]:
        """The question and the session turns with `{pages}` and `{offlist}` replaced."""

        def fill(text: str) -> str:
            return text.replace("{pages}", pages).replace("{offlist}", offlist)

        return fill(self.question), tuple(fill(turn) for turn in self.session)


def _text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise CaseFileError(f"{where} must be a non-empty text")
    return value


def parse_case(entry: object, where: str) -> Case:
    if not isinstance(entry, dict):
        raise CaseFileError(f"{where}: a case is a mapping with id, question and rules")
    unknown = sorted(set(map(str, entry)) - _CASE_KEYS)
    if unknown:
        raise CaseFileError(f"{where}: unknown keys {unknown} (allowed: {sorted(_CASE_KEYS)})")
    case_id = _text(entry.get("id"), f"{where}: id")
    if not _ID.match(case_id):
        raise CaseFileError(f"{where}: id {case_id!r} may hold only letters, digits, - and _")
    where = f"case {case_id!r}"
    question = _text(entry.get("question"), f"{where}: question")
    session = entry.get("session") or []
    if not isinstance(session, list):
        raise CaseFileError(f"{where}: session must be a list of earlier messages")
    turns = tuple(_text(turn, f"{where}: session[{i}]") for i, turn in enumerate(session))
    raw_rules = entry.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise CaseFileError(f"{where}: rules must be a non-empty list")
    rules = []
    for i, raw in enumerate(raw_rules):
        try:
            rules.append(parse_rule(raw))
        except RuleError as exc:
            raise CaseFileError(f"{where}: rules[{i}]: {exc}") from None
    note = entry.get("note") or ""
    return Case(case_id, question, tuple(rules), turns, str(note))


def parse_cases(data: object, source: str = "the case file") -> list[Case]:
    if not isinstance(data, dict) or not isinstance(data.get("cases"), list):
        raise CaseFileError(f"{source}: expected a mapping with a `cases:` list")
    cases = [parse_case(entry, f"{source}: cases[{i}]") for i, entry in enumerate(data["cases"])]
    seen: set[str] = set()
    for case in cases:
        if case.id in seen:
            raise CaseFileError(f"{source}: the id {case.id!r} is used twice")
        seen.add(case.id)
    if not cases:
        raise CaseFileError(f"{source}: no cases")
    return cases


def load_cases(path: Path) -> list[Case]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CaseFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise CaseFileError(f"{path} is not valid YAML: {exc}") from None
    return parse_cases(data, str(path))
