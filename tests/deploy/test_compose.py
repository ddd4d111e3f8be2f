"""docker-compose.yml and the services' Dockerfile agree with the code they run.

No Docker engine is needed: the files are read, and what they name (build
contexts, packages, settings, ports) is checked against the repository.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.deploy import (
    IMAGE_NON_SETTINGS,
    REPO,
    SERVICES_DIR,
    cmd_module,
    exec_form,
    read_toml,
    service_images,
    service_settings_env,
    unknown_env,
    workspace_closure,
    workspace_members,
    yaml_files,
)
from tests.support.services import require_service

COMPOSE = REPO / "docker-compose.yml"
PROMETHEUS_CONFIG = REPO / "deploy" / "observability" / "prometheus" / "prometheus.yml"
IMAGES = service_images()


@cache
def compose() -> dict[str, Any]:
    return yaml_files.load(COMPOSE)


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # the `- KEY=value` form
        env = dict(item.partition("=")[::2] for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def service_dir(name: str) -> str:
    """The `services/<dir>` a built compose service comes from."""
    build = services()[name]["build"]
    assert Path(build["dockerfile"]) == Path("services/Dockerfile"), build
    assert build.get("target") in IMAGES, f"{name}: target {build.get('target')} is no service's image"
    return str(build["target"])


def built() -> list[str]:
    return [name for name, svc in services().items() if "build" in svc]


def dist_name(svc_dir: str) -> str:
    return read_toml(SERVICES_DIR / svc_dir / "pyproject.toml")["project"]["name"]


def image_env(svc_dir: str) -> dict[str, str]:
    return IMAGES[svc_dir].runtime.env()


def listen_port(svc_dir: str, env: dict[str, str]) -> int:
    """The port the service listens on: its `*_PORT` setting from `env`, else the image's."""
    # The service's own port; METRICS_PORT is the scraper's (test_metrics_are_published_on_no_host_port).
    ports = [k for k in service_settings_env(svc_dir) if k.endswith("_PORT") and k != "METRICS_PORT"]
    assert len(ports) == 1, f"{svc_dir}: expected one *_PORT setting besides METRICS_PORT, found {ports}"
    value = env.get(ports[0], image_env(svc_dir).get(ports[0]))
    assert value, f"{svc_dir}: {ports[0]} is set neither in compose nor in the image"
    return int(value)


def probe_url(test: list[str]) -> str:
    urls = re.findall(r"https?://[^'\"\s]+", " ".join(test))
    assert len(urls) == 1, f"expected one URL in the healthcheck {test}"
    return urls[0]


# ---- the compose file ---------------------------------------------------------------


def test_compose_file_parses_with_services() -> None:
    assert isinstance(services(), dict) and services()


def test_every_service_with_a_dockerfile_is_in_compose() -> None:
    assert {service_dir(n) for n in built()} == set(IMAGES)


@pytest.mark.parametrize("name", built())
def test_build_context_and_dockerfile_exist(name: str) -> None:
    build = services()[name]["build"]
    context = (REPO / build["context"]).resolve()
    assert context == REPO, "the build context is the repository root (libs/common and uv.lock are needed)"
    assert (context / build["dockerfile"]).is_file()


@pytest.mark.parametrize("name", built())
def test_every_variable_is_a_setting_of_the_service(name: str) -> None:
    unknown = unknown_env(service_dir(name), environment(services()[name]))
    assert not unknown, f"{name}: {unknown} are not settings of this service (see docs/configuration.md)"


def test_a_bogus_variable_would_be_caught() -> None:
    # The check above is only worth something if it rejects a name no class reads.
    for name in built():
        assert unknown_env(service_dir(name), ["BUS_BOGUS", f"{service_dir(name).upper()}_BOGUS"])


@pytest.mark.parametrize("name", built())
def test_no_secret_is_written_into_the_environment(name: str) -> None:
    for key, value in environment(services()[name]).items():
        assert not re.search(r"API_KEY|PASSWORD|SECRET|TOKEN", key), f"{name}: {key} belongs in a secret file"
        if "://" in value:
            assert urlsplit(value).password is None, f"{name}: {key} carries a password"


@pytest.mark.parametrize("name", built())
def test_the_service_listens_on_all_interfaces(name: str) -> None:
    svc_dir = service_dir(name)
    hosts = [k for k in service_settings_env(svc_dir) if k.endswith("_HOST")]
    assert len(hosts) == 1, f"{svc_dir}: expected one *_HOST setting, found {hosts}"
    env = {**image_env(svc_dir), **environment(services()[name])}
    assert env.get(hosts[0]) == "0.0.0.0"


@pytest.mark.parametrize("name", list(services()))
def test_every_service_has_a_healthcheck(name: str) -> None:
    check = services()[name].get("healthcheck")
    assert check and check.get("test") and not check.get("disable"), f"{name} has no healthcheck"


@pytest.mark.parametrize("name", built())
def test_service_healthchecks_probe_their_own_port(name: str) -> None:
    svc_dir = service_dir(name)
    url = urlsplit(probe_url(services()[name]["healthcheck"]["test"]))
    assert url.hostname in {"127.0.0.1", "localhost"}
    assert url.path in {"/health", "/ready"}
    assert url.port == listen_port(svc_dir, environment(services()[name]))


def test_dependencies_wait_for_health() -> None:
    for name, svc in services().items():
        depends = svc.get("depends_on") or {}
        assert isinstance(depends, dict), f"{name}: depends_on needs conditions"
        for dep, spec in depends.items():
            assert dep in services(), f"{name} depends on unknown {dep}"
            assert spec.get("condition") == "service_healthy", f"{name} -> {dep}"
            assert services()[dep].get("healthcheck"), f"{dep} has no healthcheck to wait for"


def test_addresses_name_compose_services_on_their_ports() -> None:
    for name, svc in services().items():
        env = environment(svc)
        for key in ("BUS_KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL", "MODEL_BASE_URL", "RAG_STORE_URL"):
            if key not in env:
                continue
            for address in env[key].split(","):
                url = urlsplit(address if "://" in address else f"//{address}")
                assert url.hostname in services(), f"{name}: {key} names {url.hostname}, not a compose service"
                target = services()[url.hostname]
                if "build" in target:
                    assert url.port == listen_port(service_dir(url.hostname), environment(target)), f"{name}: {key}"


def test_the_gateway_is_published_on_port_8000() -> None:
    assert "8000:8000" in [str(p) for p in services()["gateway"].get("ports", [])]


def metrics_port(name: str) -> int | None:
    """The port a compose service serves /metrics on (METRICS_PORT; unset: its port + 1000), if it has one."""
    if "METRICS_PORT" not in service_settings_env(service_dir(name)):
        return None
    env = environment(services()[name])
    return int(env.get("METRICS_PORT") or listen_port(service_dir(name), env) + 1000)


@pytest.mark.parametrize("name", built())
def test_metrics_are_published_on_no_host_port(name: str) -> None:
    """Metrics name tenants: Prometheus reaches the metrics port on the compose network, nobody else."""
    port = metrics_port(name)
    if port is None:
        return
    assert port != listen_port(service_dir(name), environment(services()[name]))
    published = [str(p).rsplit(":", 1)[-1].split("/")[0] for p in services()[name].get("ports", [])]
    assert str(port) not in published, f"{name}: the metrics port {port} is published"


def test_the_orchestrator_runs_as_two_replicas_each_with_its_own_name() -> None:
    """One definition, two services: each its own member name in the consumer groups (a crashed
    one restarted waits for its old member instead of stopping the other) and its own scrape target."""
    replicas = [name for name in built() if service_dir(name) == "orchestrator"]
    assert len(replicas) >= 2, replicas
    definitions = [{k: v for k, v in services()[name].items() if k != "environment"} for name in replicas]
    assert all(definition == definitions[0] for definition in definitions)
    envs = [environment(services()[name]) for name in replicas]
    assert [env.pop("BUS_KAFKA_MEMBER_NAME", None) for env in envs] == replicas
    assert all(env == envs[0] for env in envs)


def test_every_replica_serving_metrics_is_a_scrape_target_of_its_own() -> None:
    """A name resolving to several replicas (`deploy.replicas`) would be one target, scraped from
    whichever replica it reached: the others' metrics never seen, or all of them under one series."""
    [job] = [j for j in yaml_files.load(PROMETHEUS_CONFIG)["scrape_configs"] if j["job_name"] == "agent-platform"]
    scraped = {target: group["labels"]["service"] for group in job["static_configs"] for target in group["targets"]}
    for name in built():
        port = metrics_port(name)
        if port is None:
            continue
        assert (services()[name].get("deploy") or {}).get("replicas", 1) == 1, f"{name}: its replicas share a name"
        service = service_dir(name)
        assert scraped.get(f"{name}:{port}") == service, f"{name}:{port} is not scraped as {service}"
    assert {target.rsplit(":", 1)[0] for target in scraped} <= set(services()), scraped


def test_replicated_services_publish_no_host_port() -> None:
    for name, svc in services().items():
        if (svc.get("deploy") or {}).get("replicas", 1) > 1:
            assert not svc.get("ports") and not svc.get("container_name"), f"{name}: replicas would collide"


def test_kafka_runs_kraft_advertised_on_its_service_name() -> None:
    env = environment(services()["kafka"])
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS"] == "0"


# ---- the Dockerfiles -------------------------------------------------------------------


@pytest.mark.parametrize("svc_dir", list(IMAGES))
def test_cmd_runs_an_importable_package_with_a_main(svc_dir: str) -> None:
    module = cmd_module(IMAGES[svc_dir])
    assert importlib.util.find_spec(module) is not None, f"{module} is not importable"
    assert importlib.util.find_spec(f"{module}.__main__") is not None, f"{module} has no __main__"


@pytest.mark.parametrize("svc_dir", list(IMAGES))
def test_the_builder_syncs_this_package_from_the_lock(svc_dir: str) -> None:
    builder = IMAGES[svc_dir].builder
    runs = " ".join(builder.all("RUN"))
    assert re.search(r"pip install [^&]*\buv==\d+\.\d+\.\d+", runs), "uv is pinned"
    syncs = [r for r in builder.all("RUN") if "uv sync" in r]
    assert syncs, "no uv sync"
    for sync in syncs:
        # --locked: a stale lock fails the build (--frozen would install it as is)
        assert "--locked" in sync and "--no-dev" in sync, sync
        assert f"--package {dist_name(svc_dir)}" in sync, sync


@pytest.mark.parametrize("svc_dir", list(IMAGES))
def test_the_builder_copies_what_uv_needs(svc_dir: str) -> None:
    builder = IMAGES[svc_dir].builder
    copied = {s for args in builder.all("COPY") for s in args.split()[:-1] if not s.startswith("--")}
    # every member's pyproject.toml (uv resolves the whole workspace) and the lock
    expected = {"pyproject.toml", "uv.lock"} | {f"{path}/pyproject.toml" for path in workspace_members().values()}
    assert expected <= copied, f"missing: {sorted(expected - copied)}"
    # the source of the service and of every workspace member it depends on
    members = workspace_members()
    needed = {f"{members[d]}/src" for d in workspace_closure(dist_name(svc_dir))}
    assert needed <= copied, f"missing: {sorted(needed - copied)}"
    for path in copied:
        assert (REPO / path).exists(), f"COPY {path}: no such path"


@pytest.mark.parametrize("svc_dir", list(IMAGES))
def test_the_runtime_stage_is_slim_and_unprivileged(svc_dir: str) -> None:
    runtime = IMAGES[svc_dir].runtime
    users = runtime.all("USER")
    assert users and users[-1].split(":")[0] not in {"root", "0"}, "runs as a non-root user"
    assert re.fullmatch(r"\d+(:\d+)?", users[-1]), "a numeric user, so runAsNonRoot can check it"
    env = runtime.env()
    assert env.get("PYTHONUNBUFFERED") == "1"
    assert not any("uv sync" in r for r in runtime.all("RUN")), "no build tools in the runtime stage"


@pytest.mark.parametrize("svc_dir", list(IMAGES))
def test_the_image_exposes_and_probes_its_port(svc_dir: str) -> None:
    runtime = IMAGES[svc_dir].runtime
    port = listen_port(svc_dir, {})
    assert [str(port)] == [p.split("/")[0] for p in runtime.all("EXPOSE")]
    checks = runtime.all("HEALTHCHECK")
    assert checks, "no HEALTHCHECK"
    command = exec_form(checks[-1].split(" CMD ", 1)[1])
    assert command[0] == "python", "slim images have no curl"
    assert "/health" in command[-1] and str(port) in command[-1]


@pytest.mark.parametrize("svc_dir", list(IMAGES))
def test_image_variables_are_settings_or_interpreter_variables(svc_dir: str) -> None:
    unknown = unknown_env(svc_dir, image_env(svc_dir), allowed=IMAGE_NON_SETTINGS)
    assert not unknown, f"the {svc_dir} image sets {unknown}, which nothing reads"


def uv_binary() -> str | None:
    return shutil.which("uv") or next((str(p) for p in [REPO / ".tools" / "bin" / "uv"] if p.is_file()), None)


def test_the_lock_agrees_with_every_pyproject() -> None:
    # The images are built with `uv sync --locked`: a stale uv.lock fails every build.
    uv = uv_binary()
    if uv is None:
        require_service("uv", "uv is not installed (make install puts it in .tools/)")
    done = subprocess.run([str(uv), "lock", "--check"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"uv.lock is stale: run `uv lock`\n{done.stderr[-1000:]}"


def test_dockerignore_keeps_local_state_and_secrets_out_of_the_context() -> None:
    patterns = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()}
    assert {".git", ".venv", ".env", "secrets"} <= patterns
    # and nothing a Dockerfile copies is ignored
    for image in IMAGES.values():
        for args in image.builder.all("COPY"):
            for source in args.split()[:-1]:
                assert source.split("/")[0] not in patterns, f"{image.target}: {source} is ignored"


def test_redis_runs_the_documented_config_evicting_only_expiring_keys_and_keeping_api_keys() -> None:
    redis = compose()["services"]["redis"]
    assert redis["command"] == ["redis-server", "/usr/local/etc/redis/redis.conf"]
    assert "./deploy/redis/redis.conf:/usr/local/etc/redis/redis.conf:ro" in redis["volumes"]
    conf = dict(
        line.split(None, 1)
        for line in (REPO / "deploy" / "redis" / "redis.conf").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    assert conf["maxmemory-policy"] == "volatile-lru"  # never evicts a key without a TTL (the API keys)
    assert conf["appendonly"] == "yes"
