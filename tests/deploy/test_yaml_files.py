"""Every YAML file the project ships loads the way its real tool loads it:
no key defined twice in one mapping, and docker-compose.yml valid against the
Compose specification's JSON schema (the copy `check-jsonschema` ships,
vendor/compose-spec.json, Apache-2.0, from github.com/compose-spec/compose-spec)."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.deploy import REPO
from tests.deploy.yaml_files import DuplicateKeyError, load, load_all, shipped_yaml_files


@cache
def compose_schema() -> dict[str, Any]:
    schema = files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json").read_text()
    return dict(json.loads(schema))


def compose_errors(document: Any) -> list[str]:
    schema = compose_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)  # the draft the schema declares (2020-12)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def test_the_shipped_files_are_found() -> None:
    names = {p.relative_to(REPO).as_posix() for p in shipped_yaml_files()}
    assert {
        "docker-compose.yml",
        "deploy/k8s/kustomization.yaml",
        "deploy/observability/prometheus/prometheus.yml",
        "deploy/observability/alertmanager/alertmanager.yml",
        "evals/prompts.yaml",
    } <= names


@pytest.mark.parametrize("path", shipped_yaml_files(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_shipped_yaml_file_has_no_duplicate_key(path: Path) -> None:
    assert load_all(path) is not None


@pytest.mark.parametrize(
    "text",
    [
        "services:\n  redis:\n    volumes: [a]\n    image: r\n    volumes: [b]\n",
        "a: 1\nb: 2\na: 3\n",
        "- x: 1\n  x: 1\n",
    ],
)
def test_a_key_defined_twice_is_refused_where_pyyaml_would_keep_the_last(text: str) -> None:
    with pytest.raises(DuplicateKeyError, match="duplicate key"):
        load(text)


def test_a_merge_key_is_not_a_duplicate() -> None:
    assert load("base: &b {x: 1}\nuse:\n  <<: *b\n  y: 2\n")["use"] == {"x": 1, "y": 2}


def test_docker_compose_yml_is_valid_against_the_compose_specification() -> None:
    assert compose_errors(load(REPO / "docker-compose.yml")) == []


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda c: c["services"]["redis"].update(volumes="not-a-list"), "services/redis/volumes"),
        (lambda c: c["services"]["gateway"].update(bogus_key=1), "services/gateway"),
        (lambda c: c["services"]["gateway"]["depends_on"]["kafka"].update(condition="whenever"), "depends_on"),
    ],
)
def test_the_schema_check_catches_a_broken_compose_file(change: Any, where: str) -> None:
    compose = load(REPO / "docker-compose.yml")
    change(compose)
    errors = compose_errors(compose)
    assert any(where in e for e in errors), errors
