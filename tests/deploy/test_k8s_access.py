"""deploy/k8s and who may reach what: secrets only from Secret objects made by
External Secrets (AWS Secrets Manager through IRSA), read as files; and the tool
runner's egress limited as `http_get` limits it."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.deploy import (
    service_secret_env,
    service_settings_env,
)
from tests.deploy.k8s import (
    DEPLOYMENTS,
    LABEL,
    config_maps,
    container,
    container_env,
    of_kind,
    pod_spec,
    service_dir,
)


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_secrets_come_from_secret_refs_only(name: str) -> None:
    secrets = service_secret_env(service_dir(name))
    for key, value in container_env(name).items():
        if key in secrets or any(word in key for word in ("API_KEY", "PASSWORD", "TOKEN")):
            # A URL setting is held as a secret for the password it may carry; without one it may be plain.
            without_password = value is not None and "://" in value and urlsplit(value).password is None
            assert value is None or without_password, f"{name}: {key} is written in plain text"


# ---- secrets as mounted files, from AWS Secrets Manager ------------------------------------------


def secret_volumes(name: str) -> dict[str, list[tuple[str, list[str]]]]:
    """Mount path -> [(Secret name, file names)] for each Secret volume the container mounts
    (a `secret` volume, or a `projected` one of several Secrets)."""
    volumes: dict[str, list[dict[str, Any]]] = {}
    for volume in pod_spec(name).get("volumes") or []:
        if "secret" in volume:
            volumes[volume["name"]] = [{**volume["secret"], "name": volume["secret"]["secretName"]}]
        elif "projected" in volume:
            sources = volume["projected"]["sources"]
            assert all(set(s) == {"secret"} for s in sources), f"{name}: {volume['name']} projects more than Secrets"
            volumes[volume["name"]] = [s["secret"] for s in sources]
    mounted: dict[str, list[tuple[str, list[str]]]] = {}
    for mount in container(name).get("volumeMounts") or []:
        if mount["name"] in volumes:
            assert mount.get("readOnly") is True, f"{name}: secret volume {mount['name']} is writable"
            mounted[mount["mountPath"]] = []
            for secret in volumes[mount["name"]]:
                assert secret.get("items"), f"{name}: list the Secret's keys (items), so no stray key becomes a file"
                mounted[mount["mountPath"]].append((secret["name"], [i["path"] for i in secret["items"]]))
    return mounted


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_mounted_secret_files_are_secret_settings_read_from_the_secrets_dir(name: str) -> None:
    mounted = secret_volumes(name)
    if not mounted:
        return
    assert len(mounted) == 1, f"{name}: one secrets folder (PLATFORM_SECRETS_DIR)"
    ((path, secrets_mounted),) = mounted.items()
    files = [f for _, fs in secrets_mounted for f in fs]
    assert container_env(name).get("PLATFORM_SECRETS_DIR") == path
    secrets = service_secret_env(service_dir(name))
    assert files and set(files) <= secrets, f"{name}: {sorted(set(files) - secrets)} are not secret settings"


def test_the_model_key_reaches_the_orchestrator_as_a_file() -> None:
    files = [f for mounted in secret_volumes("orchestrator").values() for _, fs in mounted for f in fs]
    assert "MODEL_API_KEY" in files
    assert "MODEL_API_KEY" not in container_env("orchestrator")


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_services_holding_secrets_run_the_production_profile(name: str) -> None:
    if "PLATFORM_PROFILE" not in service_settings_env(service_dir(name)):
        return  # the service has no profile: it holds no secret (tool runner, offline model)
    assert container_env(name).get("PLATFORM_PROFILE") == "production"


def test_every_mounted_secret_is_made_by_an_external_secret_with_its_keys() -> None:
    external = of_kind("ExternalSecret")
    for name in DEPLOYMENTS:
        for secret_name, files in (s for mounted in secret_volumes(name).values() for s in mounted):
            makers = [e for e in external.values() if e["spec"]["target"]["name"] == secret_name]
            assert len(makers) == 1, f"{name}: Secret {secret_name} is made by {len(makers)} ExternalSecrets"
            keys = {d["secretKey"] for d in makers[0]["spec"]["data"]}
            assert set(files) <= keys, f"{secret_name}: {sorted(set(files) - keys)} not provided"


def test_external_secrets_read_aws_secrets_manager_through_an_irsa_service_account() -> None:
    stores = of_kind("SecretStore")
    accounts = of_kind("ServiceAccount")
    assert of_kind("ExternalSecret"), "the model key comes from AWS Secrets Manager"
    for name, external in of_kind("ExternalSecret").items():
        ref = external["spec"]["secretStoreRef"]
        assert ref["kind"] == "SecretStore" and ref["name"] in stores, f"{name}: store {ref}"
        aws = stores[ref["name"]]["spec"]["provider"]["aws"]
        assert aws["service"] == "SecretsManager" and aws["region"]
        account = aws["auth"]["jwt"]["serviceAccountRef"]["name"]
        assert account in accounts, f"SecretStore {ref['name']} authenticates as {account}, which is not defined"
        role = accounts[account]["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
        assert role.startswith("arn:aws:iam::") and ":role/" in role


def test_the_tool_runners_network_policy_denies_what_http_get_denies() -> None:
    """The NetworkPolicy is a second wall: every private and metadata range the code
    refuses (IPv4 and IPv6) is excluded from the public egress rule."""
    import ipaddress

    from agent_tool_runner.web.ssrf_guard import METADATA_NETWORKS, PRIVATE_NETWORKS

    policy = of_kind("NetworkPolicy")["tool-runner"]
    assert policy["spec"]["podSelector"]["matchLabels"] == {LABEL: "tool-runner"}
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    public_rules = [r for r in policy["spec"]["egress"] if any("ipBlock" in t for t in r["to"])]
    assert len(public_rules) == 1
    (rule,) = public_rules
    assert {p["port"] for p in rule["ports"]} == {80, 443}  # TOOL_HTTP_ALLOWED_PORTS' default
    excluded = [ipaddress.ip_network(cidr) for block in rule["to"] for cidr in block["ipBlock"]["except"]]
    for network in (*PRIVATE_NETWORKS, *METADATA_NETWORKS):
        assert any(
            network.version == e.version and network.subnet_of(e)  # type: ignore[arg-type]
            for e in excluded
        ), f"{network} is reachable through the tool runner's egress policy"
    kafka = urlsplit("//" + config_maps()["bus-settings"]["BUS_KAFKA_BOOTSTRAP_SERVERS"].split(",")[0])
    namespace = (kafka.hostname or "").split(".")[1]
    kafka_rules = [
        r for r in policy["spec"]["egress"]
        if any(t.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name") == namespace
               for t in r["to"])
    ]  # fmt: skip
    assert kafka_rules and {p["port"] for p in kafka_rules[0]["ports"]} == {kafka.port}


# ---- nothing secret in a ConfigMap ---------------------------------------------------------------

SECRET_WORDS = ("API_KEY", "PASSWORD", "TOKEN", "SECRET", "CREDENTIAL")


def secret_looking(key: str, value: str) -> bool:
    """A setting that is, or may carry, a secret: a `SecretStr` setting of any service (REDIS_URL
    may hold a password even where today's value has none), a secret-sounding name, or a URL with
    a password in it."""
    secret_settings = {n for d in DEPLOYMENTS for n in service_secret_env(service_dir(d))}
    has_password = re.search(r"://[^/@\s:]*:[^/@\s]+@", value) is not None
    return key in secret_settings or any(w in key for w in SECRET_WORDS) or has_password


def test_no_config_map_holds_a_secret_looking_setting() -> None:
    found = [f"{m}: {k}" for m, data in config_maps().items() for k, v in data.items() if secret_looking(k, v)]
    assert not found, f"secret settings belong in a Secret mounted as files (deploy/README.md): {found}"


def test_a_secret_in_a_config_map_would_be_caught() -> None:
    assert secret_looking("REDIS_URL", "redis://redis.redis.svc.cluster.local:6379/0")
    assert secret_looking("OTEL_EXPORTER_OTLP_HEADERS", "x=https://u:pw@example.com")
    assert secret_looking("SOME_TOKEN", "x")
    assert not secret_looking("LOG_LEVEL", "INFO")


@pytest.mark.parametrize("name", ["gateway", "orchestrator"])
def test_redis_url_reaches_its_services_as_a_file(name: str) -> None:
    files = [f for mounted in secret_volumes(name).values() for _, fs in mounted for f in fs]
    assert "REDIS_URL" in files
    assert "REDIS_URL" not in container_env(name)
