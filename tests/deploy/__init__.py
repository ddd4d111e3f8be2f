"""Checks of the deployment files (services/Dockerfile, docker-compose.yml, deploy/k8s)
against the code they deploy.

The helpers here read what the code really accepts: a service's environment
variables come from its settings classes (`<package>.settings`), so a variable
no service reads fails the tests instead of being silently ignored in
production.
"""

from __future__ import annotations

import importlib
import json
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from pydantic import AliasChoices, AliasPath
from pydantic_settings import BaseSettings

REPO = Path(__file__).resolve().parents[2]
SERVICES_DIR = REPO / "services"


# ---- Dockerfiles ---------------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str  # upper-cased: FROM, RUN, COPY, ENV, CMD, ...
    args: str


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [i.args for i in self.instructions if i.keyword == keyword]

    def env(self) -> dict[str, str]:
        """`ENV` pairs of this stage (`KEY=value ...` form; the legacy `KEY value` form too)."""
        result: dict[str, str] = {}
        for args in self.all("ENV"):
            words = shlex.split(args, posix=True)
            if words and "=" not in words[0]:
                result[words[0]] = " ".join(words[1:])
                continue
            for word in words:
                key, _, value = word.partition("=")
                result[key] = value
        return result


def parse_dockerfile(path: Path) -> list[Stage]:
    """Stages of a Dockerfile, each with its instructions (continuations joined, comments dropped)."""
    logical: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, f"{path}: the last instruction ends with a line continuation"

    stages: list[Stage] = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        args = args.strip()
        if keyword == "FROM":
            words = args.split()
            words = [w for w in words if not w.startswith("--")]
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name))
        elif stages:
            stages[-1].instructions.append(Instruction(keyword, args))
        # instructions before the first FROM (ARG) belong to no stage
    return stages


def exec_form(args: str) -> list[str]:
    """The JSON (exec) form of CMD/ENTRYPOINT/HEALTHCHECK CMD; fails on the shell form."""
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


DOCKERFILE = SERVICES_DIR / "Dockerfile"


@dataclass
class Image:
    """One service's image in the shared Dockerfile: the stage that builds its
    virtualenv and the target it runs as, each with what it inherits from the
    stages it is built FROM."""

    target: str
    builder: Stage
    runtime: Stage


def _inherited(stage: Stage, by_name: dict[str, Stage]) -> Stage:
    """`stage` with the instructions of the stages it starts FROM before its own."""
    if stage.base not in by_name:
        return stage
    parent = _inherited(by_name[stage.base], by_name)
    return Stage(base=parent.base, name=stage.name, instructions=[*parent.instructions, *stage.instructions])


@cache
def service_images() -> dict[str, Image]:
    """Service directory name -> its image: the target of `services/Dockerfile`
    named after a `services/<dir>`, and the stage its virtualenv is copied from."""
    stages = parse_dockerfile(DOCKERFILE)
    by_name = {s.name: s for s in stages if s.name}
    images: dict[str, Image] = {}
    for stage in stages:
        if not stage.name or not (SERVICES_DIR / stage.name / "pyproject.toml").is_file():
            continue
        sources = [a.split()[0].removeprefix("--from=") for a in stage.all("COPY") if a.startswith("--from=")]
        assert len(sources) == 1 and sources[0] in by_name, f"{stage.name}: copies from {sources}, not one build stage"
        images[stage.name] = Image(
            target=stage.name,
            builder=_inherited(by_name[sources[0]], by_name),
            runtime=_inherited(stage, by_name),
        )
    return dict(sorted(images.items()))


def cmd_module(image: Image) -> str:
    """The package an image runs: its CMD must be `python -m <package>`."""
    cmds = image.runtime.all("CMD")
    assert cmds, f"{image.target}: no CMD in the runtime stage"
    cmd = exec_form(cmds[-1])
    assert cmd[:2] == ["python", "-m"] and len(cmd) == 3, f"{image.target}: CMD is {cmd}, not python -m <package>"
    return cmd[2]


# ---- workspace -------------------------------------------------------------------------


def read_toml(path: Path) -> dict:
    with path.open("rb") as f:
        return tomllib.load(f)


@cache
def workspace_members() -> dict[str, Path]:
    """Distribution name -> member directory (relative to the repository root)."""
    root = read_toml(REPO / "pyproject.toml")
    members: dict[str, Path] = {}
    for pattern in root["tool"]["uv"]["workspace"]["members"]:
        for directory in sorted(REPO.glob(pattern)):
            if (directory / "pyproject.toml").is_file():
                name = read_toml(directory / "pyproject.toml")["project"]["name"]
                members[name] = directory.relative_to(REPO)
    return members


def _requirement_name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;@]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def workspace_closure(dist: str) -> set[str]:
    """`dist` and every workspace member it depends on, directly or not."""
    members = workspace_members()
    seen: set[str] = set()
    todo = [dist]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        project = read_toml(REPO / members[name] / "pyproject.toml")["project"]
        todo += [dep for dep in map(_requirement_name, project.get("dependencies", [])) if dep in members]
    return seen


# ---- settings ----------------------------------------------------------------------------


def settings_classes(package: str) -> tuple[type[BaseSettings], ...]:
    """Every settings class a service reads: its `SETTINGS_CLASSES`, or else every
    BaseSettings subclass its settings module defines or imports."""
    module = importlib.import_module(f"{package}.settings")
    declared = getattr(module, "SETTINGS_CLASSES", None)
    if declared is not None:
        return tuple(declared)
    found = {
        value
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, BaseSettings) and value is not BaseSettings
    }
    assert found, f"{package}.settings defines no settings class"
    return tuple(sorted(found, key=lambda c: c.__qualname__))


def _alias_names(alias: object) -> list[str]:
    if isinstance(alias, str):
        return [alias]
    if isinstance(alias, AliasChoices):
        return [n for choice in alias.choices for n in _alias_names(choice)]
    if isinstance(alias, AliasPath):
        return [str(alias.path[0])]
    return []


def class_env_names(cls: type[BaseSettings]) -> set[str]:
    """Environment variables a settings class reads: prefix + field name, or the field's
    alias / validation_alias (which pydantic-settings reads without the prefix)."""
    prefix = str(cls.model_config.get("env_prefix", ""))
    names: set[str] = set()
    for name, info in cls.model_fields.items():
        aliases = _alias_names(info.validation_alias) or _alias_names(info.alias)
        if aliases:
            names.update(a.upper() for a in aliases)
        else:
            names.add(f"{prefix}{name}".upper())
    return names


@cache
def service_settings_env(service_dir: str) -> frozenset[str]:
    """Every environment variable the service in `services/<service_dir>` reads."""
    package = cmd_module(service_images()[service_dir])
    return frozenset(n for cls in settings_classes(package) for n in class_env_names(cls))


@cache
def service_secret_env(service_dir: str) -> frozenset[str]:
    """The variables of the service whose settings are secrets (`SecretStr`)."""
    from pydantic import SecretStr

    package = cmd_module(service_images()[service_dir])
    names: set[str] = set()
    for cls in settings_classes(package):
        prefix = str(cls.model_config.get("env_prefix", ""))
        for name, info in cls.model_fields.items():
            if info.annotation is SecretStr or info.annotation == (SecretStr | None):
                names.add(f"{prefix}{name}".upper())
    return frozenset(names)


# Variables set on a service that are not its settings, each with the reason.
# Keep this empty unless there is a reason a reviewer would accept.
NON_SETTINGS: dict[str, str] = {}

# The same for a runtime image's ENV: what the interpreter itself reads.
IMAGE_NON_SETTINGS: dict[str, str] = {
    "PATH": "puts the virtualenv's python first",
    "PYTHONUNBUFFERED": "log lines reach the container runtime at once",
    "PYTHONDONTWRITEBYTECODE": "the root filesystem is read-only; bytecode is compiled at build time",
}


def unknown_env(service_dir: str, names: object, *, allowed: dict[str, str] = NON_SETTINGS) -> list[str]:
    """The names among `names` that the service does not read (sorted)."""
    known = service_settings_env(service_dir)
    return sorted(str(n) for n in names if str(n).upper() not in known and n not in allowed)  # type: ignore[attr-defined]
