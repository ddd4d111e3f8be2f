"""Generate docs/configuration.md from the settings classes, or check it is current.

python scripts/config_docs.py          # rewrite the page
python scripts/config_docs.py --check  # exit 1 when the page is stale
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings

PAGE = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"

# service name -> module whose SETTINGS_CLASSES lists every settings class the service reads
SERVICES = {
    "gateway": "agent_gateway.settings",
    "orchestrator": "agent_orchestrator.settings",
    "tool-runner": "agent_tool_runner.settings",
    "offline-model": "agent_offline_model.settings",
    "rag-indexer": "agent_rag_indexer.settings",
}

HEADER = """# Configuration reference

Every setting is an environment variable. This page is generated from the
settings classes by `python scripts/config_docs.py`; a test fails when the two
disagree, so it is always complete.

Secrets (`MODEL_API_KEY`, `REDIS_URL` with a password, ...) are held as secret
values that never appear in logs or reprs. They are read from the environment,
or from a file per setting in `PLATFORM_SECRETS_DIR` (a mounted Kubernetes
Secret), or from `.env`, which `PLATFORM_PROFILE=production` refuses for them
([security.md](security.md)).

The embedded default (`make run`) reads the gateway's, orchestrator's, tool
runner's and RAG indexer's settings in one process; `HOST` and `PORT` there stand for
`GATEWAY_HOST` and `GATEWAY_PORT`, and `MODEL_BASE_URL` unset means the built-in
offline model served on the same port.
"""


def env_name(cls: type[BaseSettings], field: str) -> str:
    prefix = str(cls.model_config.get("env_prefix", ""))
    return f"{prefix}{field}".upper()


def _default(cls: type[BaseSettings], field: str) -> str:
    info = cls.model_fields[field]
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
    else:
        value = info.default
    if isinstance(value, SecretStr):
        return "(secret)"
    if value is None:
        return "unset"
    if isinstance(value, list):
        return ",".join(str(item) for item in value) or "empty"
    if isinstance(value, bool):
        return str(value).lower()
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def settings_users() -> dict[type[BaseSettings], list[str]]:
    users: dict[type[BaseSettings], list[str]] = {}
    for service, module in SERVICES.items():
        for cls in importlib.import_module(module).SETTINGS_CLASSES:
            users.setdefault(cls, []).append(service)
    return users


def render() -> str:
    lines = [HEADER]
    for cls, services in sorted(settings_users().items(), key=lambda kv: env_name(kv[0], "")):
        prefix = env_name(cls, "")
        lines += [f"## `{prefix}*`: {(cls.__doc__ or '').strip().splitlines()[0]}", ""]
        lines += [f"Read by: {', '.join(services)}.", ""]
        lines += ["| variable | default | meaning |", "|---|---|---|"]
        for field, info in cls.model_fields.items():
            meaning = " ".join((info.description or "").split())
            lines.append(f"| `{env_name(cls, field)}` | `{_default(cls, field)}` | {meaning} |")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when docs/configuration.md is stale")
    args = parser.parse_args()
    page = render()
    if args.check:
        if not PAGE.exists() or PAGE.read_text() != page:
            print("docs/configuration.md is stale: run python scripts/config_docs.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
