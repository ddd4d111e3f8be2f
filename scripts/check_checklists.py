"""Fail when an operational checklist may be stale, or is malformed.

A checklist is stale when a file it watches (docs/checklists/watch.yaml)
changed in a commit after the last commit that touched the checklist, or is
changed in the working tree while the checklist is not. Commit order decides,
never dates or the clock, so the check gives the same answer on any clone.

    python scripts/check_checklists.py            # exit 1 when stale or malformed
    python scripts/check_checklists.py --explain  # what each checklist last reviewed
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import yaml

CHECKLISTS = Path("docs/checklists")
ITEM = re.compile(r"^- \[[ x]\] .+ \(last reviewed (\d{4}-\d{2}-\d{2})\)$")


@dataclass
class Finding:
    checklist: str
    problems: list[str] = field(default_factory=list)
    explanation: list[str] = field(default_factory=list)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def tracked_files(repo: Path) -> list[str]:
    return git(repo, "ls-files", "-z").split("\0")


def matches(path: str, pattern: str) -> bool:
    """Glob matching where `*` stays within one path segment and `**` spans any number."""
    regex = ""
    for part in re.split(r"(\*\*/?|\*|\?)", pattern):
        if part in ("**", "**/"):
            regex += ".*"
        elif part == "*":
            regex += "[^/]*"
        elif part == "?":
            regex += "[^/]"
        else:
            regex += re.escape(part)
    return re.fullmatch(regex, path) is not None


def check_format(text: str, reviewed_by: date | None) -> list[str]:
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.startswith("- "):
            continue
        found = ITEM.match(line)
        if found is None:
            problems.append(f"line {number}: an item without '(last reviewed YYYY-MM-DD)': {line[:70]}")
            continue
        try:
            reviewed = date.fromisoformat(found.group(1))
        except ValueError:
            problems.append(f"line {number}: {found.group(1)} is not a date")
            continue
        if reviewed_by is not None and reviewed > reviewed_by:
            problems.append(f"line {number}: reviewed {reviewed}, after the checklist's own commit ({reviewed_by})")
    return problems


def check(repo: Path) -> list[Finding]:
    watch: dict[str, list[str]] = yaml.safe_load((repo / CHECKLISTS / "watch.yaml").read_text())
    files = tracked_files(repo)
    dirty = set(git(repo, "diff", "--name-only", "HEAD").splitlines()) if files else set()
    findings = []
    for name, patterns in watch.items():
        finding = Finding(name)
        checklist = str(CHECKLISTS / name)
        if not (repo / checklist).exists():
            finding.problems.append(f"{checklist} does not exist")
            findings.append(finding)
            continue
        watched = sorted({f for f in files for p in patterns if matches(f, p)})
        for pattern in patterns:
            if not any(matches(f, pattern) for f in files):
                finding.problems.append(f"watch.yaml: {pattern!r} matches no file (renamed or removed?)")
        last = git(repo, "log", "-1", "--format=%H %cI", "--", checklist)
        reviewed_by = None
        if last:
            commit, when = last.split(" ", 1)
            reviewed_by = datetime.fromisoformat(when).date()
            changed = git(repo, "log", "--format=%h %s", f"{commit}..HEAD", "--", *watched) if watched else ""
            finding.explanation.append(f"last reviewed in {commit[:10]} ({when})")
            if changed:
                finding.problems.append(
                    f"{checklist} was not reviewed after these commits changed what it watches:\n    "
                    + "\n    ".join(changed.splitlines())
                )
        else:
            finding.problems.append(f"{checklist} is not committed")
        touched_now = sorted(set(watched) & dirty)
        if touched_now and checklist not in dirty:
            finding.problems.append(f"{', '.join(touched_now)} changed in the working tree but {checklist} did not")
        # An edited, uncommitted checklist has no commit date yet to compare its dates with.
        bound = None if checklist in dirty else reviewed_by
        finding.problems += [f"{checklist} {p}" for p in check_format((repo / checklist).read_text(), bound)]
        findings.append(finding)
    return findings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--explain", action="store_true", help="show each checklist's last review")
    args = parser.parse_args()
    findings = check(args.repo)
    for finding in findings:
        if args.explain:
            print(f"{finding.checklist}: " + "; ".join(finding.explanation or ["never reviewed"]))
        for problem in finding.problems:
            print(f"checklists: {problem}", file=sys.stderr)
    stale = [f.checklist for f in findings if f.problems]
    if stale:
        print(
            f"checklists: review {', '.join(stale)} against the change, update what is no longer true and the "
            "'last reviewed' dates, in the same commit (docs/checklists/README.md)",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
