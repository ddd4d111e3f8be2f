"""A fuzz run of the gateway's OpenAPI schema with schemathesis, over real HTTP
to the embedded platform: valid and invalid bodies, paths and headers. No
answer may be a 5xx, and every answer must match the schema it claims
(status code, content type, body)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import AuthContext, Case
from schemathesis.config import SchemathesisConfig

from tests.e2e.conftest import GENEROUS_LIMITS
from tests.support.platform import create_api_key, embedded_platform


def _embedded_schema() -> dict[str, Any]:
    """The schema the embedded platform serves at /openapi.json (the same app object, not served yet).

    Built at collection, so on a scratch folder: every process collecting the suite (each xdist
    worker; a `make run` beside it) would otherwise open, and lock, the default `.data/` store."""
    from agent_cli.embedded import create_embedded_app

    with tempfile.TemporaryDirectory(prefix="fuzz-schema-") as scratch, pytest.MonkeyPatch.context() as env:
        env.setenv("RAG_STORE_PATH", str(Path(scratch) / "rag"))
        env.setenv("USAGE_LEDGER_PATH", str(Path(scratch) / "usage.sqlite3"))
        document: dict[str, Any] = create_embedded_app().openapi()
    return document


# Invalid input must be refused with one of these (413: the body or the message is too long,
# which is a refusal as right as a 422). A 5xx is never among them.
REFUSED = ["400", "401", "403", "404", "405", "413", "422", "429"]
# A valid message can still make a body over GATEWAY_MAX_BODY_BYTES once JSON-escaped (`\uXXXX`
# is 6 bytes a character): a byte limit JSON Schema cannot state, so 413 is a right answer there too.
# The fuzzer's key has no `reindex` scope, so `/api/reindex` answers it 403 whatever it sends.
ACCEPTED = ["2xx", "401", "403", "404", "413", "429"]
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "negative_data_rejection": {"expected-statuses": REFUSED},
            "positive_data_acceptance": {"expected-statuses": ACCEPTED},
        }
    }
)
schema = schemathesis.openapi.from_dict(_embedded_schema(), config=CONFIG)


@dataclass
class Target:
    base_url: str
    key: str = ""


TARGET = Target("")


@schema.auth()
class FuzzerKey:
    """The fuzzer's API key as the schema's `bearer` credential: schemathesis then knows the
    credential is real, and its `ignored_auth` check sends each operation again without it
    and with a wrong one, expecting 401."""

    def get(self, case: Case, ctx: AuthContext) -> str:
        return TARGET.key

    def set(self, case: Case, data: str, ctx: AuthContext) -> None:
        # Spelled as the scheme names it: schemathesis removes the header by that exact name.
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    keys_file = tmp_path_factory.mktemp("fuzz-keys") / "api-keys.json"
    TARGET.key = create_api_key({"AUTH_KEYS_FILE": str(keys_file)}, "fuzzer")
    with embedded_platform({**GENEROUS_LIMITS, "AUTH_KEYS_FILE": str(keys_file)}) as platform:
        TARGET.base_url = platform.base_url
        yield TARGET


@schema.parametrize()
# Derandomized: CI sees the same examples every run, so a failure is a regression, never a dice roll.
@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
def test_no_input_gets_a_5xx_or_an_answer_outside_the_schema(case: Case, target: Target) -> None:
    case.call_and_validate(base_url=target.base_url, timeout=30)
