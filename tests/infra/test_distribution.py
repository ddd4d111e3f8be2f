"""The suite's split over xdist's workers (tests/support/distribution.py): the files of a tier that
use what it starts once for itself run on one worker, so it starts once; other files are units of
their own.
If the grouping silently stopped (as xdist's own `loadgroup` did under pytest 9.2), the tiers'
platforms would start once per worker and their tests could interleave."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.distribution import reaching_shared, repeated_ids, shares_fixtures, unit_of, uses_shared
from tests.support.pytest_runs import run_pytest
from tests.support.web import free_tcp_port, port_block


def test_a_tier_sharing_fixtures_is_one_unit_and_any_other_file_its_own() -> None:
    assert shares_fixtures("e2e") and shares_fixtures("chaos") and not shares_fixtures("gateway")
    assert unit_of("tests/e2e/test_a.py::test_x[embedded]") == unit_of("tests/e2e/test_b.py::test_y") == "tests/e2e"
    assert unit_of("tests/gateway/test_a.py::test_x") != unit_of("tests/gateway/test_b.py::test_x")
    assert unit_of("tests/gateway/test_a.py::test_x") == unit_of("tests/gateway/test_a.py::test_y[1]")


CONFTEST = """
import pytest

@pytest.fixture(scope="session")
def platform(pages): ...

@pytest.fixture
def client(platform): ...

@pytest.fixture(scope="session", params=["embedded", "distributed"])
def mode(request): return request.getfixturevalue(request.param)

@pytest.fixture
def pages(): ...
"""


def test_what_a_tier_shares_is_its_wide_fixtures_and_every_fixture_that_asks_for_one() -> None:
    reach, autouse = reaching_shared(CONFTEST)
    assert reach == {"platform", "client", "mode"} and not autouse
    assert reaching_shared(CONFTEST + "\n@pytest.fixture(autouse=True)\ndef log(client): ...\n")[1]


@pytest.mark.parametrize(
    ("source", "uses"),
    [
        ("def test_x(client): ...", True),
        ("async def test_x(tmp_path, platform): ...", True),
        ("class TestX:\n    def test_x(self, mode): ...", True),
        ("def test_x(request):\n    request.getfixturevalue('platform')", True),
        ("import pytest\npytestmark = pytest.mark.usefixtures('client')\ndef test_x(): ...", True),
        ("import pytest\n@pytest.fixture(scope='module')\ndef mine(client): ...\ndef test_x(mine): ...", True),
        ("import pytest\n@pytest.fixture(autouse=True)\ndef mine(platform): ...\ndef test_x(): ...", True),
        # Only what it asks for counts: a helper's parameter, or a platform of its own by that name.
        ("def test_x(pages, tmp_path): ...", False),
        ("def helper(platform): ...\ndef test_x(tmp_path): ...", False),
        (
            "import pytest\n@pytest.fixture(scope='module')\ndef platform(tmp_path_factory): ...\n"
            "def test_x(platform): ...",
            False,
        ),
    ],
)
def test_a_file_uses_the_tiers_shared_fixtures_only_by_asking_for_one(source: str, uses: bool) -> None:
    reach, _ = reaching_shared(CONFTEST)
    assert uses_shared(source, reach) is uses


def test_a_file_of_a_sharing_tier_with_a_platform_of_its_own_is_a_unit_of_its_own() -> None:
    assert unit_of("tests/e2e/test_auth.py::test_x[distributed]") == "tests/e2e"
    assert unit_of("tests/e2e/test_distributed_faults.py::test_x") == "tests/e2e/test_distributed_faults.py"
    assert unit_of("tests/e2e/test_jwt.py::test_x") == "tests/e2e/test_jwt.py"  # its own `platform`


def test_two_files_of_a_tier_sharing_fixtures_run_on_one_worker() -> None:
    files = ["tests/tool_runner/test_http_get.py", "tests/tool_runner/test_ssrf_guard.py"]
    assert unit_of(files[0]) == unit_of(files[1]) == "tests/tool_runner"
    result = run_pytest(*files, "-n", "2", "-v", "-k", "json or special")
    assert result.returncode == 0, result.stdout
    ran = re.findall(r"^\[(gw\d)\] .*PASSED (tests/tool_runner/\S+?)::", result.stdout, re.MULTILINE)
    assert {path for _, path in ran} == set(files), result.stdout
    assert len({worker for worker, _ in ran}) == 1, result.stdout


def test_each_worker_hands_out_ports_of_its_own_that_the_kernel_never_assigns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two workers picking ports at once must never pick the same one (a service then fails to
    start: `Address already in use`), nor one the kernel gives a connection meanwhile."""
    blocks = []
    for worker in ["", "gw0", "gw1", "gw2"]:
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
        blocks.append(set(port_block()))
    assert all(not (a & b) for i, a in enumerate(blocks) for b in blocks[i + 1 :])
    ephemeral_low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    assert max(max(block) for block in blocks) < ephemeral_low
    monkeypatch.delenv("PYTEST_XDIST_WORKER")
    handed = [free_tcp_port() for _ in range(200)]
    assert len(set(handed)) == len(handed)


def test_every_api_operation_the_fuzz_test_makes_has_an_id_of_its_own() -> None:
    """xdist hands out work by id: twelve operations under one id ran as one (2102 collected, 2091 passed)."""
    result = run_pytest("tests/e2e/test_openapi_fuzz.py", "--collect-only", "-q")
    assert result.returncode == 0, result.stdout + result.stderr
    ids = [line for line in result.stdout.splitlines() if "::" in line]
    assert len(ids) >= 12 and len(set(ids)) == len(ids), result.stdout
    assert {"[POST /v1/chat/completions]", "[POST /api/chat]"} <= {i[i.index("[") :] for i in ids}


def test_ids_collected_twice_are_named() -> None:
    class Item:
        def __init__(self, nodeid: str) -> None:
            self.nodeid = nodeid

    items = [Item("tests/a.py::t"), Item("tests/a.py::t[1]"), Item("tests/a.py::t"), Item("tests/b.py::t")]
    assert repeated_ids(items) == ["tests/a.py::t"]  # type: ignore[arg-type]
