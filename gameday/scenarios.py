"""The game day's scenarios, by name, each a `Fault` over the running platform:

- network: the broker, then Redis, unreachable (the fault proxy resets every connection), and
  then each slow (the proxy delivers every chunk late);
- Secret: the model key in the orchestrators' Secret rotated to a wrong value and rolled out
  (the provider, checking its key, answers 401), rolled back once detected;
- Pod: an orchestrator, then the tool runner, killed with SIGKILL and restarted once detected
  (a crash-looping pod's restart back-off);
- HPA: one orchestrator left, a spike saturates it, and a second replica is added when the
  metric the HorizontalPodAutoscaler reads (deploy/k8s/orchestrator.yaml) crosses its target;
- external API: the model answers 5xx (breaker, secondary model), a tool upstream hangs.

The bad release, judged by the rollout analysis, is `release.py`.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from gameday.durations import parse_duration, scale_windows
from gameday.faults import Detection, Fault, RunContext
from gameday.platform import MODEL_KEY
from gameday.policy import autoscaling_policy
from tests.support.fault_proxy import FaultProxy
from tests.support.platform import wait_ready

__all__ = ["NETWORK_ALERTS", "SCENARIOS", "SLOW_ALERTS", "hold_bound"]

ROOT = Path(__file__).resolve().parents[1]
SPIKE_CLIENTS = 40
# The spike's turns ask for long answers (the offline model streams a token a second, about 25 s
# an answer): on a shared 2-core machine the game day's own clients and the gateway, not the
# orchestrator, ran out of CPU first with short answers, and runs in flight per replica
# averaged half the HPA's target under 44 streams. Long answers load the replica's run slots
# the way a real spike of slow model answers does, and let runs queue in Kafka past its cap.
SPIKE_ASKS = "[[offline:slow]]"
HPA_TOLERANCE = 0.1  # the controller's default: a ratio within 10% of 1 changes nothing
QUEUE_DRAINED = 2  # requests waiting in chat.requests: a couple in the instant between publish and take


def hold_bound(ctx: RunContext, names: tuple[str, ...]) -> float:
    """How long a fault is held at most: each of its alerts given the time its quickest rule
    (warning or critical) needs to fire (`for:` and longest window, a few evaluations,
    Alertmanager's longest hold before notifying), and half again."""
    rules = [rule for group in ctx.day.monitoring.rules()["groups"] for rule in group["rules"]]
    quickest = []
    for name in names:
        waits = [
            parse_duration(rule.get("for", "0s")) + max((parse_duration(w) for w in _windows(rule["expr"])), default=0)
            for rule in rules
            if rule.get("alert") == name
        ]
        if not waits:
            raise ValueError(f"no alert rule named {name}")
        quickest.append(min(waits))
    return (max(quickest) + 4 * ctx.day.monitoring.scrape_s + ctx.day.monitoring.notify_wait_s) * 1.5


def _windows(expr: str) -> list[str]:
    return re.findall(r"\[(\d+[smhdw])(?::\w+)?\]", expr)


def _in_thread(action: Callable[[], Any]) -> Callable[[], Any]:
    async def run() -> None:
        await asyncio.to_thread(action)

    return run


NETWORK_ALERTS = ("InfraErrors", "GatewayServerErrors")
# A slow network shows first as latency, then (past the clients' and the bus's bounds) as errors.
SLOW_ALERTS = ("ChatLatencyHigh", *NETWORK_ALERTS)
# Added each way to every chunk: a congested or far-away link, not an outage. Kafka's requests
# are few and large (a produce, a fetch), Redis's many and small (a command per run event).
# 1 s on the broker: answers take four times as long, and the publishes that wait past the
# gateway's bound on the bus fail (a third of them, on this machine); 250 ms on Redis: ten times
# as long, none failing.
KAFKA_DELAY_MS = 1000
REDIS_DELAY_MS = 250


def _unreachable(ctx: RunContext, name: str, proxy: FaultProxy, what: str) -> Fault:
    return Fault(
        name,
        f"every connection to {what} reset (fault proxy)",
        NETWORK_ALERTS,
        _in_thread(proxy.cut),
        _in_thread(proxy.heal),
        hold_bound(ctx, NETWORK_ALERTS),
    )


def _slow(ctx: RunContext, name: str, proxy: FaultProxy, what: str, delay_ms: float) -> Fault:
    return Fault(
        name,
        f"every chunk to and from {what} delivered {delay_ms:g} ms late, each way (fault proxy)",
        SLOW_ALERTS,
        _in_thread(lambda: proxy.latency(delay_ms)),
        _in_thread(lambda: proxy.latency(0)),
        hold_bound(ctx, SLOW_ALERTS),
    )


def network_kafka(ctx: RunContext) -> Fault:
    return _unreachable(ctx, "network-kafka", ctx.day.kafka_proxy, "the Kafka broker")


def network_redis(ctx: RunContext) -> Fault:
    return _unreachable(ctx, "network-redis", ctx.day.redis_proxy, "Redis")


def network_kafka_slow(ctx: RunContext) -> Fault:
    return _slow(ctx, "network-kafka-slow", ctx.day.kafka_proxy, "the Kafka broker", KAFKA_DELAY_MS)


def network_redis_slow(ctx: RunContext) -> Fault:
    return _slow(ctx, "network-redis-slow", ctx.day.redis_proxy, "Redis", REDIS_DELAY_MS)


ROLLED_FIRST = ("orchestrator-1",)


def _roll_orchestrators(ctx: RunContext, key: str) -> Callable[[], Any]:
    """A rollout after the Secret changed, as far as its first replica: drained (SIGTERM) and
    started again with `key`. A rolling update replaces one pod at a time (maxSurge 1); the
    first one answering 401s is when the alert must fire and the rollout be undone."""

    def roll() -> None:
        for name in ROLLED_FIRST:
            process = ctx.day.platform.processes[name]
            process.terminate()
            process.proc.wait(60)
            process.respawn({"MODEL_API_KEY": key})
            wait_ready(ctx.day.platform.services[name], process)

    return _in_thread(roll)


def secret_rotated(ctx: RunContext) -> Fault:
    expects = ("ModelMisconfigured",)
    return Fault(
        "secret-rotated",
        "the model key in the orchestrators' Secret rotated to a wrong value and rolled out to the first"
        " replica (the provider answers it 401); rolled back to the right key once detected",
        expects,
        _roll_orchestrators(ctx, "rotated-" + MODEL_KEY),
        _roll_orchestrators(ctx, MODEL_KEY),
        hold_bound(ctx, expects),
    )


def _pod_killed(ctx: RunContext, name: str, scenario: str) -> Fault:
    expects = ("ServiceDown",)
    process = ctx.day.platform.processes[name]

    def restart() -> None:
        process.respawn()
        wait_ready(ctx.day.platform.services[name], process)

    return Fault(
        scenario,
        f"{name} killed with SIGKILL, restarted once detected",
        expects,
        _in_thread(process.kill),
        _in_thread(restart),
        hold_bound(ctx, expects),
    )


def pod_orchestrator(ctx: RunContext) -> Fault:
    return _pod_killed(ctx, "orchestrator-1", "pod-orchestrator")


def pod_tool_runner(ctx: RunContext) -> Fault:
    return _pod_killed(ctx, "tool-runner", "pod-tool-runner")


def hpa_spike(ctx: RunContext) -> Fault:
    """One orchestrator left (the other drained away); the spike; the HPA's arithmetic over each
    metric its policy reads (desired = ceil(current x value / target), the largest wins: runs in
    flight per replica, CPU utilisation) adds the second back when it says so."""
    day, monitoring = ctx.day, ctx.day.monitoring
    second = day.platform.processes["orchestrator-2"]
    policy = autoscaling_policy()
    window = scale_windows("[1m]", monitoring.time_scale, floor_s=4 * monitoring.scrape_s)
    replicas = 'count(up{job="agent-platform",service="orchestrator"} == 1)'
    metrics: dict[str, tuple[str, float]] = {}
    if policy.runs_target is not None:
        runs = f'sum(orchestrator_runs_in_flight{{job="agent-platform",service="orchestrator"}}) / {replicas}'
        metrics["runs in flight per replica"] = (runs, policy.runs_target)
    if policy.cpu_target_percent is not None:
        cpu = (
            f'sum(rate(process_cpu_seconds_total{{job="agent-platform",service="orchestrator"}}{window}))'
            f" / {replicas} / {policy.cpu_request_cores} * 100"
        )
        metrics["CPU utilisation %"] = (cpu, policy.cpu_target_percent)
    lag = 'sum(kafka_consumer_lag_messages{job="agent-platform",service="orchestrator",topic="chat.requests"})'
    state: dict[str, Any] = {"scaled_at": None, "readings": [], "after_scale_up": []}

    async def begin() -> None:
        # Out of discovery first, as a pod being deleted is, so its end is no `up == 0`.
        day.retired.add("orchestrator-2")
        day.publish_targets()
        await asyncio.sleep(3 * monitoring.scrape_s)
        second.terminate()  # a graceful drain, as a rolled pod's: its runs are handed over
        await asyncio.to_thread(second.proc.wait, 60)
        await ctx.traffic.spike(SPIKE_CLIENTS, asking=SPIKE_ASKS)

    async def detect(began: float) -> Detection | None:
        if state["scaled_at"] is not None:
            return Detection("HPA scale-up", "policy", state["scaled_at"])
        ratios: dict[str, float] = {}
        for name, (query, target) in metrics.items():
            vector = await asyncio.to_thread(monitoring.query, query)
            if vector and not math.isnan(value := float(vector[0]["value"][1])):
                ratios[name] = value / target
        if not ratios:
            return None
        state["readings"].append((round(time.time() - began, 1), {k: round(v, 2) for k, v in ratios.items()}))
        # Left alone while every ratio is within the controller's 10% tolerance of 1.
        if max(ratios.values()) <= 1 + HPA_TOLERANCE:
            return None
        scaled_at = state["scaled_at"] = time.time()
        second.respawn()
        await asyncio.to_thread(wait_ready, day.platform.services["orchestrator-2"], second)
        day.retired.discard("orchestrator-2")
        day.publish_targets()
        return Detection("HPA scale-up", "policy", scaled_at)

    async def absorbed() -> None:
        """Still under the spike, with the added replica: the runs per replica back within the
        target's tolerance and the queue of requests drained, or the scale-up did not do its job."""
        if state["scaled_at"] is None:
            return
        runs_query, runs_target = metrics.get("runs in flight per replica", (None, None))
        deadline = time.monotonic() + max(30.0, 300 / monitoring.time_scale)
        while True:
            reading: dict[str, float] = {}
            for name, query in (("queued requests", lag), ("runs in flight per replica", runs_query)):
                vector = await asyncio.to_thread(monitoring.query, query) if query else []
                if vector:
                    reading[name] = round(float(vector[0]["value"][1]), 1)
            state["after_scale_up"].append((round(time.time() - state["scaled_at"], 1), reading))
            # Within the controller's tolerance: it would add no third replica.
            limit = math.inf if runs_target is None else runs_target * (1 + HPA_TOLERANCE)
            under = reading.get("runs in flight per replica", 0.0 if runs_target is None else math.inf) <= limit
            if under and reading.get("queued requests", math.inf) <= QUEUE_DRAINED:
                return
            if time.monotonic() > deadline:
                fault.problems.append(f"the spike was not absorbed by the added replica: {reading}")
                return
            await asyncio.sleep(monitoring.scrape_s)

    async def end() -> None:
        await absorbed()
        await ctx.traffic.spike(0)
        if second.proc.poll() is not None:  # never scaled up: the day goes on with two
            second.respawn()
            await asyncio.to_thread(wait_ready, day.platform.services["orchestrator-2"], second)
            day.retired.discard("orchestrator-2")
            day.publish_targets()

    spike_s = max(20.0, 120 / monitoring.time_scale)
    fault = Fault(
        "hpa-spike",
        f"{SPIKE_CLIENTS} more clients asking for long answers on one orchestrator (its cap: {policy.max_runs} runs);"
        " the HPA's targets: " + ", ".join(f"{name} {target:g}" for name, (_, target) in metrics.items()),
        (),
        begin,
        end,
        max_hold_s=max(spike_s, 300 / monitoring.time_scale, 60),
        detect=detect,
        min_hold_s=spike_s,
        details={"hpa_ratios": state["readings"], "after_scale_up": state["after_scale_up"]},
    )
    return fault


def model_failing(ctx: RunContext) -> Fault:
    expects = ("CircuitBreakerOpen", "ModelCallsFailing")
    faults_url = f"{ctx.day.platform.services['offline-model']}/admin/faults"
    key = {"authorization": f"Bearer {MODEL_KEY}"}  # the provider's admin API wants its key too

    async def begin() -> None:
        async with httpx.AsyncClient(headers=key) as client:
            response = await client.post(faults_url, json={"kind": "server_error", "count": 10_000})
            response.raise_for_status()

    async def end() -> None:
        async with httpx.AsyncClient(headers=key) as client:
            (await client.delete(faults_url)).raise_for_status()

    return Fault(
        "model-5xx",
        "the model provider answers HTTP 500 to every call (the secondary is up)",
        expects,
        begin,
        end,
        hold_bound(ctx, expects),
    )


def tool_upstream_hangs(ctx: RunContext) -> Fault:
    expects = ("ToolTimeoutRateHigh", "ToolCallsFailing", "ToolHostBreakerOpen")
    upstream = ctx.day.upstream

    async def begin() -> None:
        upstream.hanging = True

    async def end() -> None:
        upstream.hanging = False

    return Fault(
        "tool-upstream-hangs",
        "the page the tool reads never answers (past the tool runner's timeout)",
        expects,
        begin,
        end,
        hold_bound(ctx, expects),
    )


# In this order, each network fault between two others: the alerts one leaves pending (the warning
# tiers' long windows) settle while the next runs, instead of holding up the one after it.
SCENARIOS: dict[str, Callable[[RunContext], Fault]] = {
    "network-kafka": network_kafka,
    "secret-rotated": secret_rotated,
    "network-redis": network_redis,
    "pod-orchestrator": pod_orchestrator,
    "network-kafka-slow": network_kafka_slow,
    "pod-tool-runner": pod_tool_runner,
    "hpa-spike": hpa_spike,
    "network-redis-slow": network_redis_slow,
    "model-5xx": model_failing,
    "tool-upstream-hangs": tool_upstream_hangs,
}
