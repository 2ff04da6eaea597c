"""Alerts the database refused (a full SD card, a read-only file system): sent from memory now,
and the readings behind them kept in order until the database takes them.

An alert is written before it is sent, and that rule stays. But when the write fails, the
alarm must not wait for the disk: it goes at once to every recipient whose network is up,
marked as not stored, and the admins are told that storage is failing. The alert engine keeps
trying to record it; once it is, the recipients already told are recorded as told and not
sent it again. Until then `alerts` and `status` show it from here.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .backoff import Backoff
from .i18n import _, speaking
from .log_fold import FoldedLog
from .message import Reply
from .outbox import STORE_RETRY_CAP
from .recipients import admin_names, headed
from .reminders import shown_rule
from .store import alerts as alert_rows, deliveries

if TYPE_CHECKING:
    from .alerts import AlertEngine, Event
    from .message import Address
    from .recipients import Recipient
    from .health import Health
    from .hub import Hub

log = logging.getLogger(__name__)
SEND_TIMEOUT = 10.0
BACKLOG_LIMIT = 1000          # readings one rule keeps while the database refuses its alert


@dataclass
class UnstoredAlert:
    rule: str
    device: str
    severity: str
    message: str
    reason: str
    raised_at: float
    told: set[tuple[str, str]] = field(default_factory=set)      # (adapter, target)
    last_said: float = 0.0              # wall clock of the alarm or its latest reminder from memory
    reminders: int = 0
    acked_by: str | None = None         # acknowledged in memory: no more reminders
    acked_at: float | None = None       # when (wall clock), recorded with it once storage is back
    notify: list[str] = field(default_factory=list)          # its rule's recipients
    first: Callable[[str | None], str] | None = None         # the alarm's text, for who was not reached yet
    sending: bool = False               # the alarm is on its way to some: no second copy meanwhile

    def __post_init__(self) -> None:
        self.last_said = self.last_said or self.raised_at

    def published(self, state: str, value: str | None = None) -> dict[str, Any]:
        """Its retained alert state, as a stored alert's is published, with no id (not stored)."""
        return {"state": state, "id": None, "device": self.device, "severity": self.severity,
                "message": self.message, "value": value, "raised_at": self.raised_at, "acked_by": self.acked_by,
                "stored": False}


class Unstored:
    """The alerts of one hub that wait for the database, by (rule, device)."""

    def __init__(self, hub: Hub, engine: AlertEngine) -> None:
        self.hub = hub
        self.engine = engine
        self.alerts: dict[tuple[str, str], UnstoredAlert] = {}
        self._backlog: dict[str, list[Event]] = {}          # by rule: readings behind a refused one, in order
        self._backlog_waiting = asyncio.Event()
        self._backlog_trimmed = False
        self._admins_told = False
        self._telling = False
        self._said = FoldedLog(log)          # a recipient out of reach (a web page closed): once a minute, not per try
        # Writes that only record what already happened (an alert that ended), in order, retried
        # before the backlog: (write, recipients whose outbox worker is woken once it is done).
        self._writes: list[tuple[Callable[[], Awaitable[Any]], list[Recipient]]] = []
        self.acked: dict[int, str] = {}     # stored alerts acknowledged while the database refused it: id -> by
        self.ended: set[int] = set()        # stored alerts over while the database refused to record it
        self._notifications = itertools.count(1)     # tells notifications waiting apart (same source)
        # Keyed notifications waiting in memory: rule -> (its key in `alerts`, those it reached, as told).
        self._keyed: dict[str, tuple[tuple[str, str], list[Recipient], set[tuple[str, str]]]] = {}
        self._recording: set[str] = set()            # keyed notifications whose row is being written

    # ---- readings behind a refused alert -----------------------------------------------------

    def waiting(self, rule: str) -> bool:
        """Whether `rule`'s readings wait behind one the database refused."""
        return rule in self._backlog

    def refused(self, event: Event, reason: str) -> None:
        """The database refused what `event` wrote: its alarm goes out from memory now, and the
        event is evaluated again until the database takes it (then those already told are
        recorded as told)."""
        self._from_memory(event, reason)
        if event[0] not in self._backlog:
            self._backlog[event[0]] = [event]
            self._backlog_waiting.set()

    def write_later(self, write: Callable[[], Awaitable[Any]], recipients: list[Recipient]) -> None:
        """Retry `write` (it records something already done in memory) with the backlog."""
        self._writes.append((write, recipients))
        self._backlog_waiting.set()

    def notification(self, rule: str, severity: str, text: str, reason: str, acked: bool, keyed: bool,
                     record: Callable[[], Awaitable[int]], recipients: list[Recipient],
                     told: set[tuple[str, str]]) -> None:
        """A notification the database refused, already `told` from memory to some: `record`
        writes it (those told marked told) once the database takes it. One that waits for an ack
        is listed among the alerts meanwhile, as an alarm sent from memory is. A `keyed` one (a
        webhook's alert, the loop guard's) is one per rule: `told_pending` says whom it reached,
        and `resolve` ends it before it is ever recorded."""
        key = (rule, f"notification {next(self._notifications)}")
        if keyed:
            self._keyed[rule] = (key, [r for r in recipients if (self.engine._adapter_name(r.network), r.target) in told],
                                 set(told))

        async def write() -> None:
            if keyed and self._keyed.get(rule, (None,))[0] != key:
                return                          # resolved while in memory: nothing left to record
            self._recording.add(rule)           # a resolution now waits for the row and closes it
            try:
                await record()
            finally:
                self._recording.discard(rule)
            self.alerts.pop(key, None)
            self._keyed.pop(rule, None)
        if acked:
            self.alerts[key] = UnstoredAlert(rule, "", severity, text, reason, self.hub.clock.time(), set(told))
        self.write_later(write, recipients)

    def told_pending(self, rule: str) -> set[tuple[str, str]] | None:
        """Whom keyed notification `rule`, waiting in memory for the database, reached; None
        when none waits (or its row is being written: it is the database's then)."""
        entry = self._keyed.get(rule)
        return None if entry is None or rule in self._recording else set(entry[2])

    async def resolve(self, rule: str, text: Callable[[str | None], str]) -> bool:
        """End keyed notification `rule` waiting in memory: never recorded, those it reached told
        `text` from memory. False when none waits, or when its row is being written (the caller
        then closes it in the database, where the store's one thread orders it after the row)."""
        if rule in self._recording:
            return False
        entry = self._keyed.pop(rule, None)
        if entry is None:
            return False
        key, reached, _told = entry
        self.alerts.pop(key, None)
        await self.send(reached, text)
        return True

    def park(self, event: Event) -> None:
        """Queue `event` behind its rule's refused one, at most BACKLOG_LIMIT of them (then the
        oldest after the first go, said once: the alarm itself is already out from memory)."""
        backlog = self._backlog[event[0]]
        backlog.append(event)
        if len(backlog) > BACKLOG_LIMIT:
            del backlog[1]
            if not self._backlog_trimmed:
                self._backlog_trimmed = True
                log.error("alert rule %s: more than %d readings wait for the database; the oldest are "
                          "dropped", event[0], BACKLOG_LIMIT)
        health = self.hub.store.health
        if not health.connected:                    # back already: the replay records it
            self._from_memory(event, health.detail or "storage is failing")

    def _from_memory(self, event: Event, reason: str) -> None:
        """Send the alert this event raises, without the database, if it raises one."""
        rule_name, device, reading, previous = event
        state = self.engine.rules[rule_name]
        if state.active_id is None and state.condition.kind != "offline" and not self.engine.muted(rule_name) \
                and state.condition.holds(reading.value, previous):
            self.deliver(state.rule, device, reading.value, reason)

    async def retry_forever(self) -> None:
        """Every few seconds while some rule's readings wait for the database, evaluate them again,
        oldest first; a rule whose first one is refused again keeps the rest."""
        backoff = Backoff(base=0.2, cap=STORE_RETRY_CAP)
        while True:
            if not self._backlog and not self._writes:
                backoff.reset()
                self._backlog_trimmed = False
                self._backlog_waiting.clear()
                await self._backlog_waiting.wait()
            delay = max(backoff.next_delay(), STORE_RETRY_CAP)
            if backoff.attempts <= 1 or backoff.attempts % 12 == 0:     # once, then once a minute
                waiting = ", ".join(sorted(self._backlog)) or "(what alerts already did: reminders, ends, acknowledgements)"
                log.error("alert rules %s could not be recorded (%s); retrying every %.0fs",
                          waiting, self.hub.store.health.detail, delay)
            await asyncio.sleep(delay)
            await self.remind_due()
            while self._writes:
                write, recipients = self._writes[0]
                try:
                    await write()
                except sqlite3.DatabaseError:
                    break
                self._writes.pop(0)
                self.engine._wake(recipients)
            if self._writes:
                continue
            for rule_name in list(self._backlog):
                events = self._backlog[rule_name]
                while events:
                    try:
                        await self.engine.evaluate(events[0], refused_raises=True)
                    except sqlite3.DatabaseError:
                        break
                    events.pop(0)
                if not events:
                    del self._backlog[rule_name]
                    if self.engine.rules[rule_name].active_id is None:     # replayed without raising: over
                        for gone_rule, gone_device in list(self.alerts):
                            if gone_rule == rule_name:
                                self.forget(gone_rule, gone_device)

    # ---- alarms sent from memory ---------------------------------------------------------------

    def deliver(self, rule: Any, device: Any, value: Any, reason: str) -> None:
        """Send the alert `rule` would raise now, from memory, once per (rule, device), in a task
        of its own: a slow network never holds back the next rule's alarm."""
        key = (rule.name, device.name)
        if key in self.alerts:
            return
        with speaking(self.hub.settings.hub.language):
            text = self.engine.render(rule.message, device, value, rule)
        alert = self.alerts[key] = UnstoredAlert(rule.name, device.name, rule.severity.value, text, reason,
                                                 self.hub.clock.time())
        # Home Assistant's binary sensor, Node-RED and the dashboard hear of it as of a stored one.
        self.engine.publish_rule_state(rule.name, alert.published("active", str(value)))

        def line(prefix: str | None) -> str:
            return _("{text} (NOT STORED: the hub's storage is failing: {why}; it is recorded once "
                     "storage is back; answer {prefix}ack)").format(
                text=headed(rule.severity.value, self.engine.render(rule.message, device, value, rule)),
                why=reason, prefix=prefix or "")

        alert.notify, alert.first, alert.sending = list(rule.notify), line, True

        async def send() -> None:
            # Each recipient is marked told as soon as it is: an alert recorded meanwhile skips them.
            try:
                await self.send(self.engine.recipients(rule.notify), line, alert.told)
            finally:
                alert.sending = False
            log.error("alert %s on %s could not be recorded (%s): sent from memory to %d recipients",
                      rule.name, device.name, reason, len(alert.told))
            await self.tell_admins(reason)
        self.hub.spawn(send(), f"unstored-{rule.name}")

    def catch_up(self) -> None:
        """Send each alarm waiting in memory to its recipients it has not reached yet whose network
        is up now: one down when it fired (IRC reconnecting) once heard only its reminders, and a
        rule that does not repeat nothing at all until storage came back, maybe days later."""
        for alert in self.alerts.values():
            if alert.first is None or alert.sending or alert.acked_by is not None:
                continue
            missing = [r for r in self.engine.recipients(alert.notify) if self._reachable(r)
                       and (self.engine.address_of(r).adapter, r.target) not in alert.told]
            if missing:
                alert.sending = True
                self.hub.spawn(self._catch_up(alert, missing), f"unstored-catch-up-{alert.rule}")

    async def _catch_up(self, alert: UnstoredAlert, missing: list[Recipient]) -> None:
        assert alert.first is not None
        try:
            await self.send(missing, alert.first, alert.told)
        finally:
            alert.sending = False

    def _reachable(self, recipient: Recipient) -> bool:
        adapter = self.hub.adapters.get(self.engine.address_of(recipient).adapter)
        return adapter is not None and adapter.health.connected

    def acknowledge_in_memory(self, by: str, by_user: str | None, where: Address | None = None) -> str:
        """`ack` of the newest alarm sent from memory: its reminders stop now, the others are told
        from here, and it is recorded as acknowledged by `by` once storage is back. The answer."""
        waiting = [a for a in self.alerts.values() if a.device]          # alarms, not notifications
        open_ = [a for a in waiting if a.acked_by is None]
        if not open_:
            if waiting:
                newest = max(waiting, key=lambda a: a.raised_at)
                return _("Alert {rule} was already acknowledged by {who}.").format(rule=newest.rule, who=newest.acked_by)
            return _("Alert {rules} is not stored (the hub's storage is failing): it can be acknowledged once "
                     "storage is back.").format(rules=", ".join(sorted({a.rule for a in self.alerts.values()})))
        alert = max(open_, key=lambda a: a.raised_at)
        alert.acked_by, alert.acked_at = by, self.hub.clock.time()
        log.error("alert %s on %s, sent from memory: acknowledged by %s, recorded once storage is back", alert.rule,
                  alert.device, by)
        self._tell_the_others(alert.rule, by_user, lambda _prefix: _("Alert {rule} (not stored) acknowledged by "
                                                                    "{who}.").format(rule=alert.rule, who=by), where)
        self.engine.publish_rule_state(alert.rule, alert.published("acknowledged"))
        return _("Alert {rule} (not stored: the hub's storage is failing) acknowledged; reminders stopped. It is "
                 "recorded as acknowledged once storage is back.").format(rule=alert.rule)

    async def remind_due(self) -> None:
        """Reminders of alarms sent from memory, as a stored alert's come: every `repeat` of its
        rule until acknowledged, to whoever is reachable (a full card must not silence them)."""
        self.catch_up()
        now = self.hub.clock.time()
        for alert in list(self.alerts.values()):
            state = self.engine.rules.get(alert.rule) if alert.device else None
            every = state.rule.repeat_every if state is not None else None
            if state is None or not every or alert.acked_by is not None or now < alert.last_said + every:
                continue
            alert.reminders += 1
            alert.last_said = now

            def line(prefix: str | None, alert: UnstoredAlert = alert, count: int = alert.reminders) -> str:
                return _("[REMINDER {count}] {text} (NOT STORED: the hub's storage is failing; answer {prefix}ack "
                         "to stop it)").format(count=count, text=alert.message, prefix=prefix or "")
            self.hub.spawn(self.send(self.engine.recipients(state.rule.notify), line, alert.told),
                           f"unstored-reminder-{alert.rule}")

    def quiet(self, alert_id: int) -> bool:
        """Whether stored alert `alert_id` is acknowledged or over in memory: no more reminders."""
        return alert_id in self.acked or alert_id in self.ended

    async def acknowledge(self, alert_id: int | None, by: str, by_user: str | None,
                          where: Address | None = None) -> tuple[int, str] | None:
        """The database refused an acknowledgement (a full card): the alert is acknowledged in
        memory all the same (its reminders stop, the others are told from here) and recorded
        once the database takes it. (id, rule), or None when the alert cannot even be read."""
        from .command import CommandError
        from .notify import ends_when_acknowledged

        store = self.hub.store
        try:
            row = await store.call(alert_rows.to_acknowledge, store.db, alert_id)
        except sqlite3.DatabaseError:
            return None
        if row is None or row[2] is not None:
            return None
        acked_id, rule = row[0], row[1]
        if acked_id in self.acked:
            raise CommandError(_("Alert #{id} was already acknowledged by {who}.").format(id=acked_id, who=self.acked[acked_id]))
        self.acked[acked_id] = by
        now = self.hub.clock.time()

        def write(db: Any) -> None:
            alert_rows.acknowledge(db, acked_id, by, now)
            if ends_when_acknowledged(rule):
                alert_rows.clear(db, acked_id, now)
            deliveries.cancel_pending(db, acked_id, "repeat")
            deliveries.release_held(db, acked_id, now)

        async def record() -> None:
            await store.call(store.transaction, write)
            self.acked.pop(acked_id, None)
            self.engine.reminders.held.pop(acked_id, None)
            await self.engine.publish_state(rule, acked_id)
        self.write_later(record, [])
        log.error("alert #%d: acknowledged by %s, which cannot be recorded yet; its reminders stop", acked_id, by)
        self.engine.publish_rule_state(rule, {"state": "cleared" if ends_when_acknowledged(rule) else "acknowledged",
                                              "id": acked_id, "acked_by": by})
        self._tell_the_others(rule, by_user, lambda _prefix: _("Alert #{id} ({rule}) acknowledged by {who}.").format(
            id=acked_id, rule=shown_rule(rule), who=by), where)
        return acked_id, rule

    def _tell_the_others(self, rule: str, by_user: str | None, text: Callable[[str | None], str],
                         where: Address | None = None) -> None:
        """Say `text` (an acknowledgement made in memory) from here to the rule's recipients but
        the one who acknowledged and the room `where` it was typed in (it read the answer)."""
        state = self.engine.rules.get(rule)
        others = [r for r in self.engine.recipients(state.rule.notify) if not (by_user and r.user == by_user)
                  and not (where is not None and (self.engine.address_of(r).adapter, r.target)
                           == (where.adapter, where.target))] if state is not None else []
        self.hub.spawn(self.send(others, text), f"acked-{rule}")

    def forget(self, rule: str, device: str) -> None:
        """The condition ended before the database took the alert: nothing to record any more."""
        if self.alerts.pop((rule, device), None) is not None:
            log.warning("alert %s on %s, sent from memory, ended before storage came back; not recorded",
                        rule, device)
            if not any(r == rule for r, _d in self.alerts):
                self.engine.publish_rule_state(rule)

    def watch(self) -> None:
        """Tell the admins whenever the database starts failing, whatever wrote (history, the
        audit trail, a timer, an alert), and again when it takes writes once more."""
        store = self.hub.store.health

        def changed(health: Health) -> None:
            if not health.connected:
                self.hub.spawn(self.tell_admins(health.detail), "storage-failing")
            elif self._admins_told:
                self.hub.spawn(self._tell_back(), "storage-back")

        def network_up(health: Health) -> None:
            # Storage failed before any network was up (a start on a full card): nobody could be
            # told then, so the first network to come up carries it; and the alarms sent from
            # memory go to those on it they have not reached.
            if health.connected and store.started and not store.connected and not self._admins_told:
                self.hub.spawn(self.tell_admins(store.detail), "storage-failing")
            if health.connected:
                self.catch_up()
        store.watchers.append(changed)
        for adapter in self.hub.adapters.values():
            adapter.health.watchers.append(network_up)
        if store.started and not store.connected:
            changed(store)

    async def tell_admins(self, reason: str) -> None:
        """Once per outage: the admins read that storage fails, why, and what to do; and that it
        works again, also when it came back while they were being told."""
        if self._admins_told or self._telling:
            return
        self._telling = True
        try:
            told = await self.send(self.admins(), lambda _prefix: _(
                "[CRITICAL] The hub's storage is failing ({why}): alerts are sent from memory and history is kept "
                "in memory until it is fixed (free disk space, or make the data folder writable).").format(why=reason))
        finally:
            self._telling = False
        self._admins_told = bool(told)           # nobody reachable: the next failure tries again
        if self._admins_told and self.hub.store.health.connected:
            await self._tell_back()

    async def _tell_back(self) -> None:
        self._admins_told = False
        await self.send(self.admins(), lambda _prefix: _(
            "[RESOLVED] The hub's storage works again: what waited in memory is being stored."))

    def admins(self) -> list[Recipient]:
        """Every address of the users whose roles grant everything."""
        return self.engine.recipients(admin_names(self.hub.settings))

    async def send(self, recipients: list[Recipient], text: Callable[[str | None], str],
                   told: set[tuple[str, str]] | None = None) -> set[tuple[str, str]]:
        """Send `text` without the database to the recipients whose network is up, rendered in
        each one's language and given the command prefix as that one types it ("" in a direct
        chat); each one reached is added to `told` at once."""
        told = set() if told is None else told
        shown_to = self.engine.in_their_words(text)
        for recipient in recipients:
            to = self.engine.address_of(recipient)
            name = to.adapter
            adapter = self.hub.adapters.get(name)
            if adapter is None or not adapter.health.connected:
                continue
            try:
                async with asyncio.timeout(SEND_TIMEOUT):
                    await self.hub.send_through(adapter, to, Reply(shown_to(recipient.row_name, name, to.direct),
                                                                   notice=True))
                told.add((name, recipient.target))
            except Exception as exc:
                self._said.warning("unreached", f"{name}:{recipient.target}", "an unstored alert could not reach "
                                   "%s:%s: %s", name, recipient.target, exc)
        return told

    def told(self, rule: str, device: str) -> set[tuple[str, str]]:
        alert = self.alerts.get((rule, device))
        return set(alert.told) if alert else set()

    def recorded(self, rule: str, device: str) -> None:
        """The alert is in the database now: the outbox takes it from here."""
        self.alerts.pop((rule, device), None)

    def entries(self) -> list[dict[str, Any]]:
        """The waiting alerts in the shape of `AlertEngine.active()` (id None: not stored)."""
        return [{"id": None, "rule": a.rule, "device": a.device, "severity": a.severity, "message": a.message,
                 "raised_at": a.raised_at, "acked_by": a.acked_by, "told": sorted(f"{n}:{t}" for n, t in a.told),
                 "given_up": [], "pending": 0, "unstored": a.reason} for a in self.alerts.values()]
