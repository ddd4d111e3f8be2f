"""The checklist check: a change to what a checklist watches, without a review of
the checklist, fails; so does a malformed item or a watch that matches nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "check_checklists.py"
ITEM = "- [ ] Redis has maxmemory set (last reviewed 2026-01-02)\n"


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def commit(repo: Path, message: str, when: str = "2026-01-02T10:00:00+00:00") -> None:
    git(repo, "add", "-A")
    env_date = {"GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
    subprocess.run(
        ["git", "commit", "-qm", message], cwd=repo, check=True, capture_output=True, env={**_base_env(), **env_date}
    )


def _base_env() -> dict[str, str]:
    import os

    return {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }


def run_check(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), "--repo", str(repo)], capture_output=True, text=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q")
    (tmp_path / "docs" / "checklists").mkdir(parents=True)
    (tmp_path / "deploy").mkdir()
    (tmp_path / "docs" / "checklists" / "watch.yaml").write_text("env.md:\n  - deploy/**\n")
    (tmp_path / "docs" / "checklists" / "env.md").write_text("# Environment\n\n" + ITEM)
    (tmp_path / "deploy" / "redis.yaml").write_text("maxmemory: 256mb\n")
    commit(tmp_path, "start")
    return tmp_path


def test_a_reviewed_checklist_passes(repo: Path) -> None:
    result = run_check(repo)
    assert result.returncode == 0, result.stderr


def test_a_commit_changing_a_watched_file_without_the_checklist_fails(repo: Path) -> None:
    (repo / "deploy" / "redis.yaml").write_text("maxmemory: 1gb\n")
    commit(repo, "grow redis")
    result = run_check(repo)
    assert result.returncode == 1
    assert "docs/checklists/env.md was not reviewed" in result.stderr and "grow redis" in result.stderr


def test_a_commit_changing_both_counts_as_reviewed(repo: Path) -> None:
    (repo / "deploy" / "redis.yaml").write_text("maxmemory: 1gb\n")
    (repo / "docs" / "checklists" / "env.md").write_text("# Environment\n\n" + ITEM.replace("01-02", "01-03"))
    commit(repo, "grow redis, reviewed", when="2026-01-03T10:00:00+00:00")
    assert run_check(repo).returncode == 0


def test_a_later_review_clears_an_earlier_unreviewed_change(repo: Path) -> None:
    (repo / "deploy" / "redis.yaml").write_text("maxmemory: 1gb\n")
    commit(repo, "grow redis")
    (repo / "docs" / "checklists" / "env.md").write_text("# Environment\n\n" + ITEM.replace("01-02", "01-04"))
    commit(repo, "review", when="2026-01-04T10:00:00+00:00")
    assert run_check(repo).returncode == 0


def test_a_working_tree_change_to_a_watched_file_fails(repo: Path) -> None:
    (repo / "deploy" / "redis.yaml").write_text("maxmemory: 2gb\n")
    result = run_check(repo)
    assert result.returncode == 1
    assert "deploy/redis.yaml changed in the working tree" in result.stderr


def test_an_item_without_a_review_date_fails(repo: Path) -> None:
    (repo / "docs" / "checklists" / "env.md").write_text("# Environment\n\n" + ITEM + "- [ ] Kafka is reachable\n")
    commit(repo, "new item")
    result = run_check(repo)
    assert result.returncode == 1 and "without '(last reviewed YYYY-MM-DD)'" in result.stderr


def test_a_review_date_after_the_commit_fails(repo: Path) -> None:
    (repo / "docs" / "checklists" / "env.md").write_text("# Environment\n\n" + ITEM.replace("2026-01-02", "2027-01-01"))
    commit(repo, "dated ahead")
    result = run_check(repo)
    assert result.returncode == 1 and "after the checklist's own commit" in result.stderr


def test_a_watch_that_matches_no_file_fails(repo: Path) -> None:
    (repo / "docs" / "checklists" / "watch.yaml").write_text("env.md:\n  - deploy/**\n  - services/*/Dockerfile\n")
    commit(repo, "watch more")
    result = run_check(repo)
    assert result.returncode == 1 and "'services/*/Dockerfile' matches no file" in result.stderr


def test_the_repository_checklists_are_current() -> None:
    result = subprocess.run([sys.executable, str(SCRIPT), "--explain"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert {"environment.md", "deployment.md", "incident-response.md"} <= {
        line.split(":")[0] for line in result.stdout.splitlines()
    }
