"""What the hub did and how it is, in Prometheus's text format (`GET /metrics`).

Counting costs an integer addition: commands, latencies and messages are plain counters here,
and everything else (adapters, MQTT, alerts, the outbox, history) is read from the state the
hub already keeps at scrape time. prometheus_client is imported at the first scrape, so a hub
nobody scrapes (or one with `[web] enabled = false`) never loads it. Each hub has its own
registry: two hubs in one process (tests) never mix their figures.
"""

from __future__ import annotations

import bisect
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import __version__
from .notify import rule_family
from .store import alerts as alert_rows, deliveries, history as history_rows

if TYPE_CHECKING:
    from .hub import Hub

OUTCOMES = ("ok", "refused", "error", "timeout", "unknown")   # `unknown`: no such command
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
HISTORY_RECOUNT = 60.0          # seconds a count of history rows is reused (a full scan on a Pi)


@dataclass(slots=True)
class Latency:
    """A histogram of one command's run times, in the buckets Prometheus expects."""

    counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    total: float = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.total += seconds

    def cumulative(self) -> list[tuple[str, int]]:
        running, result = 0, []
        for bound, count in zip((*map(str, LATENCY_BUCKETS), "+Inf"), self.counts):
            running += count
            result.append((bound, running))
        return result


class Metrics:
    """The counters of one hub and the collector that turns its state into metric families."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.commands: Counter[tuple[str, str]] = Counter()
        self.latency: dict[str, Latency] = {}
        self.received: Counter[str] = Counter()     # chat lines in, per adapter
        self.sent: Counter[str] = Counter()         # replies and deliveries out, per adapter
        self._registry: Any = None
        self._snapshot: dict[str, Any] = {}
        self._history: tuple[float, dict[str, int]] = (0.0, {})

    # ---- counting (hot paths: no allocation beyond a dict entry) --------------------------

    def observe_command(self, command: str, outcome: str, seconds: float) -> None:
        """One command line handled. Labels stay bounded: a name that is no command's is
        counted as `unknown`, an outcome outside OUTCOMES as `error`."""
        latency = self.latency.get(command)          # a name counted before is a command's own
        if latency is None:
            spec = self.hub.commands.find(command) if command != "unknown" else None
            command = spec.name if spec is not None else "unknown"
            latency = self.latency.get(command)
            if latency is None:
                latency = self.latency[command] = Latency()
        outcome = outcome if outcome in OUTCOMES else "error"
        self.commands[command, outcome] += 1
        latency.observe(seconds)

    def message_in(self, adapter: str) -> None:
        self.received[adapter] += 1

    def message_out(self, adapter: str) -> None:
        self.sent[adapter] += 1

    # ---- exposition ------------------------------------------------------------------------

    async def exposition(self) -> bytes:
        """The text a Prometheus scrape gets: figures from the database are read first (on the
        store's thread), then every family is built in one go on the loop."""
        self._snapshot = await self._database_figures()
        from prometheus_client import generate_latest
        return bytes(generate_latest(self.registry()))

    def registry(self) -> Any:
        """This hub's CollectorRegistry (made at the first scrape): our collector and the process's
        own figures (memory, CPU, open files)."""
        if self._registry is None:
            from prometheus_client import CollectorRegistry, ProcessCollector
            registry = CollectorRegistry(auto_describe=False)
            registry.register(_Collector(self))
            ProcessCollector(namespace="chatops", registry=registry)
            self._registry = registry
        return self._registry

    async def _database_figures(self) -> dict[str, Any]:
        store = self.hub.store
        now = time.monotonic()
        recount = now - self._history[0] > HISTORY_RECOUNT
        history = self.hub.history if self.hub.history.enabled else None

        def query() -> dict[str, Any]:
            db = store.db
            figures: dict[str, Any] = {"alerts": alert_rows.counts(db), "deliveries": deliveries.counts(db)}
            if recount and history is not None:
                figures["history"] = history_rows.counts(db)
            return figures

        try:
            figures = await store.call(query)
        except Exception as exc:        # a failing database is itself a figure: chatops_store_ok 0
            return {"error": f"{type(exc).__name__}: {exc}"}
        if "history" in figures:
            self._history = (now, figures["history"])
        figures["history"] = self._history[1]
        return figures

    def families(self) -> Iterator[Any]:
        """Every metric family of this hub, from its live state and the last database figures."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        hub = self.hub
        info = GaugeMetricFamily("chatops_info", "The hub: its name and version (always 1).",
                                 labels=["name", "version"])
        info.add_metric([hub.settings.hub.name, __version__], 1)
        yield info
        yield _gauge(GaugeMetricFamily, "chatops_ready", "1 once MQTT is up and every adapter started.",
                     int(hub.ready.is_set()))
        yield _gauge(GaugeMetricFamily, "chatops_uptime_seconds", "Seconds since the hub started.",
                     hub.uptime)

        commands = CounterMetricFamily("chatops_commands", "Command lines handled, by command and outcome.",
                                       labels=["command", "outcome"])
        for (name, outcome), count in sorted(self.commands.items()):
            commands.add_metric([name, outcome], count)
        yield commands
        latency = HistogramMetricFamily("chatops_command_duration_seconds",
                                        "Time from a command line to its last reply.", labels=["command"])
        for name, histogram in sorted(self.latency.items()):
            latency.add_metric([name], histogram.cumulative(), histogram.total)
        yield latency

        up = GaugeMetricFamily("chatops_adapter_up", "1 while the adapter is connected.", labels=["adapter"])
        reconnects = CounterMetricFamily("chatops_adapter_reconnects", "Times the adapter came back after "
                                         "being down.", labels=["adapter"])
        downs = CounterMetricFamily("chatops_adapter_disconnects", "Times the adapter went down.",
                                    labels=["adapter"])
        received = CounterMetricFamily("chatops_messages_received", "Chat lines received, per adapter.",
                                       labels=["adapter"])
        sent = CounterMetricFamily("chatops_messages_sent", "Replies, alerts and notices sent, per adapter.",
                                   labels=["adapter"])
        for name, adapter in sorted(hub.adapters.items()):
            health = adapter.health
            up.add_metric([name], int(health.connected))
            reconnects.add_metric([name], health.reconnects)
            downs.add_metric([name], health.downs)
        for name in sorted(set(hub.adapters) | set(self.received) | set(self.sent)):   # names from code only
            received.add_metric([name], self.received.get(name, 0))
            sent.add_metric([name], self.sent.get(name, 0))
        yield from (up, reconnects, downs, received, sent)

        mqtt = hub.mqtt
        yield _gauge(GaugeMetricFamily, "chatops_mqtt_connected", "1 while the broker connection is up.",
                     int(mqtt.health.connected))
        yield _gauge(CounterMetricFamily, "chatops_mqtt_reconnects", "Times the broker connection came back.",
                     mqtt.health.reconnects)
        yield _gauge(CounterMetricFamily, "chatops_mqtt_messages_received",
                     "MQTT messages received (rate() gives messages per second).", mqtt.received)
        yield _gauge(CounterMetricFamily, "chatops_mqtt_messages_published", "MQTT messages the broker took.",
                     mqtt.published)
        yield _gauge(CounterMetricFamily, "chatops_mqtt_payloads_dropped", "Payloads over [mqtt] max_payload.",
                     mqtt.dropped_payloads)
        yield _gauge(CounterMetricFamily, "chatops_bad_payloads", "Device payloads that held no reading.",
                     hub.home.bad_payloads)
        yield _gauge(GaugeMetricFamily, "chatops_devices", "Devices known (configured and discovered).",
                     len(hub.home.devices))

        yield from self._stored_families(CounterMetricFamily, GaugeMetricFamily)

    def _stored_families(self, counter: Any, gauge: Any) -> Iterator[Any]:
        figures = self._snapshot
        yield _gauge(gauge, "chatops_store_ok", "1 while the database takes writes.",
                     int(self.hub.store.health.connected and "error" not in figures))
        if "error" in figures:
            return
        raised = counter("chatops_alerts_raised", "Alerts raised, per rule (kept across restarts).", labels=["rule"])
        acked = counter("chatops_alerts_acknowledged", "Alerts acknowledged, per rule.", labels=["rule"])
        active = gauge("chatops_alerts_active", "Alerts raised and not cleared yet, per rule.", labels=["rule"])
        unacked = gauge("chatops_alerts_unacknowledged", "Active alerts nobody acknowledged, per rule.",
                        labels=["rule"])
        totals: dict[str, list[int]] = {rule: [0, 0, 0, 0] for rule in self.hub.alerts.rules}
        for rule, *figures_ in figures["alerts"]:
            total = totals.setdefault(rule_family(rule), [0, 0, 0, 0])
            for index, figure in enumerate(figures_):
                total[index] += figure or 0
        for alert in self.hub.alerts.unstored.alerts.values():     # sent from memory, the database refusing it
            total = totals.setdefault(rule_family(alert.rule), [0, 0, 0, 0])
            total[0], total[2], total[3] = total[0] + 1, total[2] + 1, total[3] + 1
        for rule in sorted(totals):
            count, acks, open_, unacked_ = totals[rule]
            raised.add_metric([rule], count)
            acked.add_metric([rule], acks)
            active.add_metric([rule], open_)
            unacked.add_metric([rule], unacked_)
        yield from (raised, acked, active, unacked)

        delivered = counter("chatops_alert_deliveries_delivered", "Alert messages delivered, per adapter.",
                            labels=["adapter"])
        pending = gauge("chatops_alert_deliveries_pending", "Alert messages waiting to be delivered, per adapter.",
                        labels=["adapter"])
        dropped = counter("chatops_alert_deliveries_given_up", "Alert messages given up or cancelled, per adapter.",
                          labels=["adapter"])
        depth = gauge("chatops_outbox_depth", "Messages of any kind waiting in the durable outbox, per adapter.",
                      labels=["adapter"])
        outbox: Counter[str] = Counter()
        for adapter, is_alert, done, waiting, gone in figures["deliveries"]:
            outbox[adapter] += waiting or 0
            if is_alert:
                delivered.add_metric([adapter], done or 0)
                pending.add_metric([adapter], waiting or 0)
                dropped.add_metric([adapter], gone or 0)
        for adapter in sorted(set(outbox) | set(self.hub.adapters)):
            depth.add_metric([adapter], outbox.get(adapter, 0))
        yield from (delivered, pending, dropped, depth)

        history = figures.get("history") or {}
        rows_family = gauge("chatops_history_rows", f"Readings kept, per table (counted at most every "
                            f"{HISTORY_RECOUNT:.0f} s).", labels=["table"])
        for table, count in sorted(history.items()):
            rows_family.add_metric([table], count)
        yield rows_family
        yield _gauge(counter, "chatops_history_written", "Readings written to history by this process.",
                     self.hub.history.written)


class _Collector:
    """The prometheus_client collector of one hub (a plain object with `collect`)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Any]:
        return self.metrics.families()


def _gauge(kind: Any, name: str, documentation: str, value: float) -> Any:
    return kind(name, documentation, value=value)
