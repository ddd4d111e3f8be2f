"""deploy/k8s's monthly cost report: a CronJob on the 1st that runs the report module in
the orchestrator's image, with the settings, price file, ledger secret and volume it reads
and writes, and a NetworkPolicy that lets it reach the ledger's database and nothing else;
and the component that sends the reports to S3-compatible storage instead."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any

from agent_common.usage import load_prices
from agent_common.usage.report import add_arguments
from tests.deploy import service_secret_env, unknown_env, yaml_files
from tests.deploy.k8s import K8S, LABEL, config_maps, container, kustomization, of_kind
from tests.support.services import require_service

CRONJOB = "cost-report"


def job_pod() -> dict[str, Any]:
    return dict(of_kind("CronJob")[CRONJOB]["spec"]["jobTemplate"]["spec"]["template"]["spec"])


def job_container() -> dict[str, Any]:
    (only,) = job_pod()["containers"]
    return dict(only)


def job_env() -> dict[str, str | None]:
    env: dict[str, str | None] = {}
    for source in job_container().get("envFrom") or []:
        env.update(config_maps()[source["configMapRef"]["name"]])
    for item in job_container().get("env") or []:
        env[item["name"]] = item.get("value")
    return env


def mounts(pod: dict[str, Any], spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Mount path -> the volume mounted there."""
    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    return {m["mountPath"]: {**volumes[m["name"]], "readOnly": m.get("readOnly", False)} for m in spec["volumeMounts"]}


def test_it_runs_on_the_first_of_every_month_once_at_a_time() -> None:
    cron = of_kind("CronJob")[CRONJOB]["spec"]
    minute, hour, day, month, weekday = cron["schedule"].split()
    assert (day, month, weekday) == ("1", "*", "*") and minute.isdigit() and hour.isdigit()
    assert cron["timeZone"] == "Etc/UTC"  # the ledger's months are UTC months
    assert cron["concurrencyPolicy"] == "Forbid"
    assert job_pod()["restartPolicy"] == "Never"


def test_it_runs_the_report_module_in_the_orchestrator_s_image_with_arguments_it_accepts() -> None:
    orchestrator = container("orchestrator")
    assert job_container()["image"] == orchestrator["image"]
    python, flag, module, *args = job_container()["command"]
    assert (python, flag, module) == ("python", "-m", "agent_common.usage.report")
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    parsed = parser.parse_args(args)
    assert parsed.month is None  # the previous month, on the 1st
    out = mounts(job_pod(), job_container())[parsed.out]
    claims = of_kind("PersistentVolumeClaim")
    assert out["persistentVolumeClaim"]["claimName"] in claims and not out["readOnly"]


def test_every_variable_is_a_setting_the_report_reads() -> None:
    assert not unknown_env("orchestrator", job_env()), "not settings of the orchestrator's image"
    assert job_env()["PLATFORM_PROFILE"] == "production"


def test_the_price_file_is_mounted_where_the_setting_says_for_the_report_and_the_orchestrators() -> None:
    (generator,) = [g for g in kustomization()["configMapGenerator"] if g["name"] == "usage-prices"]
    (file_name,) = generator["files"]
    book = load_prices(K8S / file_name)
    assert book.version and book.currency
    for pod, spec, env in (
        (job_pod(), job_container(), job_env()),
        (of_kind("Deployment")["orchestrator"]["spec"]["template"]["spec"], container("orchestrator"), None),
    ):
        path = PurePosixPath(str((env or config_maps()["usage-settings"])["USAGE_PRICES_FILE"]))
        volume = mounts(pod, spec)[str(path.parent)]
        assert volume["configMap"]["name"] == "usage-prices" and volume["readOnly"]
        assert path.name == file_name


def test_the_ledger_url_is_a_secret_file_made_by_an_external_secret() -> None:
    secrets_dir = mounts(job_pod(), job_container())[str(job_env()["PLATFORM_SECRETS_DIR"])]
    assert secrets_dir["readOnly"]
    files = {i["path"] for s in secrets_dir["projected"]["sources"] for i in s["secret"]["items"]}
    assert files == {"USAGE_LEDGER_URL"} <= service_secret_env("orchestrator")
    makers = [e for e in of_kind("ExternalSecret").values() if e["spec"]["target"]["name"] == "usage-ledger-url"]
    assert len(makers) == 1 and {d["secretKey"] for d in makers[0]["spec"]["data"]} == {"USAGE_LEDGER_URL"}


def test_it_runs_unprivileged_on_a_read_only_root_within_limits() -> None:
    pod, spec = job_pod(), job_container()
    assert pod["securityContext"]["runAsNonRoot"] and pod["automountServiceAccountToken"] is False
    assert spec["securityContext"]["readOnlyRootFilesystem"] and not spec["securityContext"]["allowPrivilegeEscalation"]
    assert spec["resources"]["requests"] and spec["resources"]["limits"]


def test_its_network_policy_reaches_the_ledger_s_database_only() -> None:
    labels = of_kind("CronJob")[CRONJOB]["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    own = [
        p
        for p in of_kind("NetworkPolicy").values()
        if p["spec"]["podSelector"] and p["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
    ]
    assert len(own) == 1 and labels[LABEL] == CRONJOB
    spec = own[0]["spec"]
    assert set(spec["policyTypes"]) == {"Ingress", "Egress"} and not spec.get("ingress")
    (rule,) = spec["egress"]
    assert rule["to"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "postgres"}}}]
    assert [p["port"] for p in rule["ports"]] == [5432]


# ---- the object-storage variant (deploy/k8s-components/cost-report-to-s3) -----------------


def render_with_s3(tmp_path: Path) -> list[dict[str, Any]]:
    """The base with the component, as an overlay would build it (`kubectl kustomize`)."""
    if shutil.which("kubectl") is None:
        require_service("kubectl", "kubectl is not installed")
    component = K8S.parent / "k8s-components" / "cost-report-to-s3"
    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources: [{os.path.relpath(K8S, tmp_path)}]\ncomponents: [{os.path.relpath(component, tmp_path)}]\n"
    )
    done = subprocess.run(["kubectl", "kustomize", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml_files.load_all(done.stdout) if d]


def test_the_s3_component_uploads_the_report_written_by_the_same_command(tmp_path: Path) -> None:
    docs = render_with_s3(tmp_path)
    kinds = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    assert ("PersistentVolumeClaim", "cost-reports") not in kinds
    pod = kinds[("CronJob", CRONJOB)]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (report,) = pod["initContainers"]
    assert report["command"] == job_container()["command"]  # the base's command, unchanged
    (upload,) = pod["containers"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    out = report["command"][report["command"].index("--out") + 1]
    (written,) = [m for m in report["volumeMounts"] if m["mountPath"] == out]
    (read,) = [m for m in upload["volumeMounts"] if m["name"] == written["name"]]
    assert "emptyDir" in volumes[written["name"]] and read["readOnly"]
    assert upload["command"] == ["aws", "s3", "cp", "--recursive", read["mountPath"], "$(COST_REPORT_S3_URL)"]
    (settings,) = [s["configMapRef"]["name"] for s in upload["envFrom"]]
    assert kinds[("ConfigMap", settings)]["data"]["COST_REPORT_S3_URL"].startswith("s3://")
    # Credentials: the ServiceAccount's IAM role, or a mounted file; never a variable.
    account = kinds[("ServiceAccount", pod["serviceAccountName"])]
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")
    assert not [e for e in upload.get("env", []) if "SECRET" in e["name"] or "KEY" in e["name"]]
    assert upload["securityContext"]["readOnlyRootFilesystem"] and upload["resources"]["limits"]
    assert "@sha256:" in upload["image"]
    egress = kinds[("NetworkPolicy", CRONJOB)]["spec"]["egress"]
    assert [p["port"] for rule in egress for p in rule["ports"]] == [5432, 443]
