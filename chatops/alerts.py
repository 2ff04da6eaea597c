"""Alerts that are never lost: rules -> alert rows -> one delivery row per recipient -> workers.

Every alert and every delivery is committed to SQLite before anything is sent. One worker
per adapter sends what is due while its adapter is connected, marks it delivered, and
retries failures with backoff; a restarted hub simply finds the undelivered rows again.
Critical alerts repeat until someone acknowledges them with `ack`.

When the database refuses writes (disk full, read-only file), nothing is dropped: a rule's
event is evaluated again until its alert is recorded, and a delivery that went out but
cannot be marked is remembered in memory (never sent again by this process) until it can.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .unstored import Unstored
from .conditions import Condition
from .config import AlertSettings, DeviceType
from .rule_settings import DEFAULT_CLEARED, DEFAULT_MESSAGE
from .home import Device, Reading, format_value
from .i18n import N_, _, reported_decimals, speaking
from .message import Address
from .outbox import Outbox
from .alert_orphans import close_orphans
from .broker_watch import BrokerWatch
from .recipients import Recipient, headed, how_to_ack, is_direct, one_each, parse_address
from .offline_rules import watch_offline
from .reminders import NOTICE_PREFIX, Reminders, shown_rule
from .store import alerts as alert_rows, deliveries

if TYPE_CHECKING:
    from .hub import Hub

log = logging.getLogger(__name__)
SEVERITY_WORDS = (N_("info"), N_("warning"), N_("critical"))      # shown translated, in capitals
SNAPSHOT_HOLD = 1.0     # seconds an alert with `snapshot` waits for the picture before going without it


@dataclass(slots=True)
class RuleState:
    rule: AlertSettings
    condition: Condition
    active_id: int | None = None
    last_raised: float = float("-inf")     # monotonic: a cooldown is a duration, deaf to clock steps
    recheck: asyncio.TimerHandle | None = None
    quiet_since: float | None = None       # monotonic too

    def quiet_left(self, now: float) -> float | None:
        """Seconds (from monotonic `now`) until its alert ends if the condition stays over, or None."""
        return None if self.quiet_since is None else max(0.0, self.quiet_since + self.rule.cooldown - now)


Event = tuple[str, Device, Reading, Reading | None]       # (rule name, device, reading, previous)


class AlertEngine:
    """Evaluates rules on readings and drives the durable outbox for one hub."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.rules = {r.name: RuleState(r, Condition.parse(r.when)) for r in hub.settings.alerts}
        self._rules_by_device: dict[str, list[RuleState]] = {}
        for state in self.rules.values():
            self._rules_by_device.setdefault(state.rule.device, []).append(state)
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self.outbox = Outbox(hub)
        self.unstored = Unstored(hub, self)
        self.reminders = Reminders(self)
        self.mutes: dict[str, float] = {}          # rule -> the wall-clock time its mute ends
        self._unreachable: set[str] = set()        # users named as recipients who can be told nothing (logged)
        self._attaching: set[asyncio.Task[Any]] = set()     # pictures being fetched for held alerts

    # ---- start-up ------------------------------------------------------------------------

    async def start(self) -> None:
        """Load active alerts and mutes, then start the engine's tasks in the hub's group."""
        store = self.hub.store
        rows = await store.call(alert_rows.open_alerts, store.db)
        await close_orphans(self, [(alert_id, rule) for alert_id, rule, *_ in rows
                                   if rule not in self.rules and not rule.startswith(NOTICE_PREFIX)])
        for alert_id, rule, raised_at, quiet_since in rows:
            if rule in self.rules:
                state = self.rules[rule]
                state.active_id = alert_id
                state.last_raised = self.hub.clock.monotonic() - max(0.0, self.hub.clock.time() - raised_at)
                if quiet_since is not None:
                    state.quiet_since = self.hub.clock.monotonic() - max(0.0, self.hub.clock.time() - quiet_since)
        self.mutes = await store.call(alert_rows.mutes, store.db, self.hub.clock.time())
        for rule, until in self.mutes.items():
            if rule in self.rules:
                self.hub.spawn(self._judge_at_end_of_mute(rule, until), f"mute-end-{rule}")
        self.hub.home.listen(self._on_reading)
        # States that came before this listener (retained ones, read as the hub subscribed) are
        # judged now: an alarm open since before a restart whose device is back to normal ends
        # (after its cooldown) instead of reminding for ever, and a detector firing at start alarms.
        for name in self._rules_by_device:
            device = self.hub.home.devices.get(name)
            if device is not None and device.reading is not None:
                self._on_reading(device, device.reading, None)
        self.hub.spawn(self._evaluate_forever(), "alerts-rules")
        self.hub.spawn(self.unstored.retry_forever(), "alerts-backlog")
        self.unstored.watch()
        BrokerWatch(self).start()
        self.hub.spawn(self.reminders.run_forever(), "alerts-repeat")
        if any(s.condition.kind == "offline" for s in self.rules.values()):
            self.hub.spawn(watch_offline(self), "alerts-offline")
        adapters = set(self.hub.adapters) | set(await store.call(deliveries.adapters_waiting, store.db))
        for name in adapters:
            self.outbox.wake(name)

    # ---- rules ---------------------------------------------------------------------------

    def _on_reading(self, device: Device, reading: Reading, previous: Reading | None) -> None:
        for state in self._rules_by_device.get(device.name, ()):
            self._events.put_nowait((state.rule.name, device, reading, previous))

    async def _evaluate_forever(self) -> None:
        """Evaluate readings in the order they came. A rule whose alert the database refused has its
        later readings queued behind it (chatops.unstored); one refused write holds back no other."""
        while True:
            event = await self._events.get()
            try:
                if self.unstored.waiting(event[0]):
                    self.unstored.park(event)
                else:
                    await self.evaluate(event)
            finally:
                self._events.task_done()

    async def evaluate(self, event: Event, refused_raises: bool = False) -> None:
        """Evaluate one event. When the database refuses it, its alarm goes out from memory and
        the event waits in its rule's backlog (or, with `refused_raises`, the replay of that
        backlog, the refusal is raised for it to keep the event)."""
        rule_name, device, reading, previous = event
        try:
            await self._evaluate(self.rules[rule_name], device, reading, previous)
        except sqlite3.DatabaseError as exc:
            if refused_raises:
                raise
            self.unstored.refused(event, str(exc))
        except Exception:
            log.exception("alert rule %s failed on %s", rule_name, device.name)

    def muted(self, rule: str) -> bool:
        """Whether `rule` is muted now (mutes end at a wall-clock time: they are stored)."""
        return self.mutes.get(rule, 0) > self.hub.clock.time()

    async def settled(self) -> None:
        """Return once every reading received so far is evaluated (its alert recorded, or sent from
        memory and in its rule's backlog while the database refuses it): a command that caused a
        reading (the simulator's smoke) says which alert it raised. Pictures: SNAPSHOT_HOLD at most."""
        await self._events.join()
        if self._attaching:
            await asyncio.wait(set(self._attaching), timeout=SNAPSHOT_HOLD)

    async def _evaluate(self, state: RuleState, device: Device, reading: Reading, previous: Reading | None) -> None:
        kind = state.condition.kind
        if kind == "offline":
            if device.offline_since is None:     # (while it says it is gone, a reading ends nothing)
                await self.offline_over(state, device, reading)
            return
        holds = state.condition.holds(reading.value, previous)
        if kind == "changed":
            if holds:
                await self.maybe_raise(state, device, reading.value)
            return
        if holds:
            if state.quiet_since is not None and state.active_id is not None:
                if self.hub.clock.monotonic() - state.quiet_since >= state.rule.cooldown:
                    # Quiet for the whole cooldown, but the hub stopped before it ended: that
                    # alert is over, and this is a new alarm that must be told, not folded into
                    # an old one someone acknowledged. Its own clear message is left out, as the
                    # new alert says more, unless the rule is muted and no new alert will come.
                    await self.clear(state, device, reading, tell=self.muted(state.rule.name))
                else:                         # back on before the cooldown ended: the same alert goes on
                    await self._remember_quiet(state, None)
            state.quiet_since = None
            if state.active_id is None:
                await self.maybe_raise(state, device, reading.value)
        elif state.active_id is not None:
            # Clear only once the condition stayed false for the cooldown: a flapping sensor
            # keeps one alert open instead of raising ten, and a real alarm is never delayed.
            now = self.hub.clock.monotonic()
            if state.quiet_since is None:
                state.quiet_since = now
                await self._remember_quiet(state, self.hub.clock.time())
            remaining = state.quiet_since + state.rule.cooldown - now
            if remaining <= 0:
                state.quiet_since = None
                await self.clear(state, device, reading)
            elif state.recheck is None:
                state.recheck = asyncio.get_running_loop().call_later(remaining, self._recheck, state, device)

    async def maybe_raise(self, state: RuleState, device: Device, value: Any) -> None:
        rule = state.rule
        if self.muted(rule.name):
            log.info("alert %s is muted; not raised", rule.name)
            return
        if state.condition.kind == "changed" and self.hub.clock.monotonic() - state.last_raised < rule.cooldown:
            log.info("alert %s: change within the cooldown, not raised again", rule.name)
            return
        await self.raise_alert(state, device, value)

    def _recheck(self, state: RuleState, device: Device) -> None:
        state.recheck = None
        if device.reading is not None:
            self._events.put_nowait((state.rule.name, device, device.reading, None))

    def render(self, template: str, device: Device, value: Any, rule: AlertSettings) -> str:
        raw = device.reading.raw if device.reading is not None else ""
        shown = value if isinstance(value, str) else device.value_text(value) \
            if device.type is DeviceType.BINARY_SENSOR else format_value(value, "", reported_decimals(raw, value))
        fields = {"device": device.label, "value": shown, "unit": f" {device.unit}" if device.unit else "",
                  "time": self.hub.timers.clock_time(), "rule": rule.name, "severity": rule.severity.value}
        try:
            return (_(template) if template in (DEFAULT_MESSAGE, DEFAULT_CLEARED) else template).format(**fields)
        except (KeyError, IndexError, ValueError):
            return f"{template} ({device.label}: {shown}{fields['unit']})"

    async def raise_alert(self, state: RuleState, device: Device, value: Any) -> int:
        """Record the alert and its deliveries (one transaction), then wake the workers."""
        rule = state.rule
        now = self.hub.clock.time()
        with speaking(self.hub.settings.hub.language):           # the alert as the hub records it
            text = self.render(rule.message, device, value, rule)
        recipients = self.recipients(rule.notify)
        repeat = rule.repeat_every
        # Sent from memory while the database refused it: recorded as raised then, not now, and
        # its next reminder counted from the last time it was said (at once when that is past).
        sent = self.unstored.alerts.get((rule.name, device.name))
        raised = sent.raised_at if sent is not None else now
        said = sent.last_said if sent is not None else now
        acked_by, acked_at = (sent.acked_by, sent.acked_at or now) if sent is not None else (None, now)

        def told(alert_id: int) -> Callable[[str | None], str]:
            """The alert as one recipient reads it, in their language (the rule's own words stay),
            with the command prefix where they need one (a room, not a direct chat)."""
            def text(prefix: str | None) -> str:
                said = headed(rule.severity.value, self.render(rule.message, device, value, rule))
                return f"{said} {how_to_ack(alert_id, prefix)}"
            return text
        # A picture taken long after the alarm (recorded once storage came back) would show the
        # room as it is now, not as it was: only one taken within a minute of it is sent.
        picture = bool(rule.snapshot and getattr(self.hub, "cameras", None) is not None) and now - raised < 60
        store = self.hub.store

        def write(db: Any) -> int:
            next_repeat = max(now, said + repeat) if repeat and acked_by is None else None
            alert_id = alert_rows.insert(db, rule.name, device.name, rule.severity.value, text, str(value), raised,
                                         next_repeat)
            if sent is not None and sent.reminders:     # [REMINDER 3] after the two said from memory
                alert_rows.reminded(db, alert_id, next_repeat, sent.reminders)
            if acked_by is not None:                # acknowledged in memory meanwhile
                alert_rows.acknowledge(db, alert_id, acked_by, acked_at)
            self._insert_deliveries(db, alert_id, recipients, "raise", told(alert_id), None,
                                    now + SNAPSHOT_HOLD if picture else now)
            # Sent from memory while the database refused it: recorded as told, not sent again.
            deliveries.mark_told(db, alert_id, already, now)
            return alert_id

        already = self.unstored.told(rule.name, device.name)
        alert_id = await store.call(store.transaction, write)
        self.unstored.recorded(rule.name, device.name)
        state.active_id, state.last_raised = alert_id, self.hub.clock.monotonic()
        log.info("alert #%d %s raised: %s -> %d recipients", alert_id, rule.name, text, len(recipients))
        if picture:
            task = self.hub.spawn(self._attach_snapshot(alert_id, rule), f"alert-snapshot-{alert_id}")
            self._attaching.add(task)
            task.add_done_callback(self._attaching.discard)
        self._wake(recipients)            # a held row: the worker's pass sets its timer to the hold's end
        self.reminders.wake()
        await self.publish_state(rule.name, alert_id)
        return alert_id

    async def _attach_snapshot(self, alert_id: int, rule: AlertSettings) -> None:
        """Put the camera's picture on the alert's deliveries still held for it, or send it after.

        The alert and its deliveries are recorded before the camera is asked, held SNAPSHOT_HOLD
        seconds: a camera that answers in time rides along in the same message; a slow or dead
        one never delays the alert (nor other rules) by more than that, and its picture, when it
        comes, follows on its own. The outbox never picks a held row, so no row changes while it
        is being sent."""
        attachment = await self._snapshot(rule)
        store = self.hub.store
        with speaking(self.hub.settings.hub.language):
            caption = _("Picture from {camera} for alert #{id}").format(camera=rule.snapshot, id=alert_id)

        def attach(db: Any) -> list[str]:
            now = self.hub.clock.time()
            deliveries.release_held(db, alert_id, now, attachment, attach=True)
            if attachment is not None:
                late = deliveries.first_recipients(db, alert_id, without_picture=True)
                deliveries.insert(db, [(alert_id, a, t, d, r, "snapshot", caption, attachment, now, now)
                                       for a, t, d, r in late])
            return deliveries.adapters_waiting(db, alert_id)

        for adapter_name in await store.call(store.transaction, attach):
            self.outbox.wake(adapter_name).set()

    async def _snapshot(self, rule: AlertSettings) -> str | None:
        cameras = getattr(self.hub, "cameras", None)
        if not rule.snapshot or cameras is None:
            return None
        try:
            attachment = await cameras.snapshot(rule.snapshot)
            return str(attachment.path)
        except Exception as exc:
            log.warning("alert %s: snapshot of %s failed: %s", rule.name, rule.snapshot, exc)
            return None

    def _insert_deliveries(self, db: Any, alert_id: int, recipients: list[Recipient], kind: str,
                           text: str | Callable[[str | None], str], attachment: str | None, due: float) -> None:
        """One delivery row per recipient; a callable `text` is rendered in each one's language,
        given the command prefix as that recipient types it ("" in a direct chat)."""
        shown = self.in_their_words(text if callable(text) else lambda _prefix: text)
        rows = []
        for r in recipients:
            to = self.address_of(r)
            rows.append((alert_id, to.adapter, r.target, int(to.direct), r.row_name, kind,
                         shown(r.row_name, to.adapter, to.direct), attachment, self.hub.clock.time(), due))
        deliveries.insert(db, rows)

    def in_their_words(self, text: Callable[[str | None], str]) -> Callable[[str, str, bool], str]:
        """`text(prefix)` for one recipient as a delivery row names it (a user name, or an
        address such as "irc:#maison"), the adapter it goes through and whether it is a direct
        chat: in the user's language (an address reads the hub's), with the command prefix as
        they type it ("" when direct, `PIN ` where they give one; None where nobody can answer)."""
        def shown(recipient: str, adapter_name: str, direct: bool) -> str:
            adapter = self.hub.adapters.get(adapter_name)
            prefix = None if adapter is not None and not adapter.capabilities.reads_answers else \
                "" if direct else self.hub.settings.hub.prefix
            with speaking(self.hub.auth.language_of(None if ":" in recipient else recipient)):
                pin = adapter is not None and self.hub.access.asks_pin(recipient, "ack", adapter.capabilities)
                return text(_("PIN") + " " + prefix if pin and prefix is not None else prefix)
        return shown

    def is_direct(self, recipient: Recipient) -> bool:
        """A person (True) or a room, by the rule of the recipient's network. An address on an
        adapter named apart (`irc.libera:#maison`, `xmpp.home:house@muc.example.org`) is judged
        by that adapter's kind: looked up by the name, a room would go out as a person (and a
        message to a MUC as a chat is lost)."""
        if recipient.user:          # one of a configured user's identities: a person, on any network
            return True             # (XMPP cannot tell a JID from a room by its look: "answer !ack")
        kind = next((adapter.network for adapter in self.hub.adapters_for(recipient.network)), recipient.network)
        return is_direct(Recipient(kind, recipient.target, recipient.user))

    def _adapter_name(self, network: str) -> str:
        return next((adapter.name for adapter in self.hub.adapters_for(network)), network)

    def address_of(self, recipient: Recipient) -> Address:
        """Where a message for `recipient` goes: the adapter that carries its network, the
        target, and whether that is a person or a room."""
        return Address(self._adapter_name(recipient.network), recipient.target, self.is_direct(recipient))

    def _wake(self, recipients: list[Recipient]) -> None:
        for name in {self._adapter_name(r.network) for r in recipients}:
            self.outbox.wake(name).set()

    def recipients(self, notify: list[str]) -> list[Recipient]:
        """Addresses for a notify list; a user name means all of that user's reachable identities."""
        result: list[Recipient] = []
        for entry in notify:
            if ":" in entry:
                network, target = parse_address(entry)
                result.append(Recipient(network, target, ""))
                continue
            user = self.hub.auth.users.get(entry)
            if user is None:
                log.error("alert recipient %r is not a configured user", entry)
                continue
            # Every network this user has an identity on, whichever adapters are installed; the
            # network's own rule turns the user's patterns into addresses.
            for network in self.hub.networks_of(user):
                if not self.hub.adapters_for(network.name):
                    continue        # that network is not enabled here; explicit addresses still queue
                for target in network.targets(user.name, user.settings.patterns(network.name)):
                    result.append(Recipient(network.name, target, user.name))
            if not any(r.user == user.name for r in result) and user.name not in self._unreachable:
                self._unreachable.add(user.name)        # said once: `chatops check` names the fix
                log.warning("alert recipient %s can be told nothing: no entry names them on an enabled network", entry)
        return one_each(result)

    async def _remember_quiet(self, state: RuleState, since: float | None) -> None:
        """Record since when the active alert's condition stopped holding (None: it holds again).
        Best effort: with the disk full, the cooldown is counted in memory as before."""
        if state.active_id is None:
            return
        try:
            await self.hub.store.call(alert_rows.set_quiet, self.hub.store.db, state.active_id, since)
        except sqlite3.DatabaseError as exc:
            log.warning("alert #%d: when its condition ended could not be recorded (%s)", state.active_id, exc)

    async def offline_over(self, state: RuleState, device: Device, reading: Reading) -> None:
        """The device of an `offline` rule was heard from, or said it is back: its alarm is over."""
        if state.active_id is not None:
            await self.clear(state, device, reading)
        else:                   # heard from before the database took its alarm: that one is over
            self.unstored.forget(state.rule.name, device.name)

    async def clear(self, state: RuleState, device: Device, reading: Reading, tell: bool = True) -> None:
        """The condition ended: stop repeats and tell everyone it is over (unless `tell` is False: a new alert follows)."""
        alert_id = state.active_id
        if alert_id is None:
            return
        rule = state.rule
        now = self.hub.clock.time()
        text = rule.cleared if tell else None
        recipients = self.recipients(rule.notify) if text else []

        def cleared(_prefix: str) -> str:
            assert rule.cleared is not None
            return _("[CLEARED] {text} (alert #{id})").format(
                text=self.render(rule.cleared, device, reading.value, rule), id=alert_id)
        store = self.hub.store

        def write(db: Any, told: Collection[tuple[str, str]] = ()) -> None:
            alert_rows.clear(db, alert_id, now)
            deliveries.cancel_pending(db, alert_id, "repeat")
            untold = [r for r in recipients if (self._adapter_name(r.network), r.target) not in told]
            if text and untold:
                self._insert_deliveries(db, alert_id, untold, "clear", cleared, None, now)

        try:
            await store.call(store.transaction, write)
        except sqlite3.DatabaseError as exc:
            # Over all the same: a new alarm of this rule (smoke gone, then back while the card is
            # read-only) must go out from memory, not wait behind this write; so does its clear
            # message, to whoever is reachable. Both are recorded once the database takes them,
            # the clear message queued for those it did not reach.
            log.warning("alert #%d %s is over but that cannot be recorded yet (%s); retried", alert_id,
                        rule.name, exc)
            state.active_id = None
            self.unstored.ended.add(alert_id)              # no reminder of it from memory meanwhile
            told: set[tuple[str, str]] = set()
            telling = self.hub.spawn(self.unstored.send(recipients, cleared, told), f"cleared-{alert_id}") \
                if text else None

            def quiet() -> bool:
                """No newer alarm of this rule holds its state topic (stored or from memory)."""
                return state.active_id is None and not any(name == rule.name for name, _ in self.unstored.alerts)

            async def record() -> None:
                if telling is not None:
                    await asyncio.wait([telling])
                await store.call(store.transaction, lambda db: write(db, told))
                self.unstored.ended.discard(alert_id)
                self.reminders.held.pop(alert_id, None)
                if quiet():         # last word after an acknowledgement recorded meanwhile
                    await self.publish_state(rule.name, alert_id)
            self.unstored.write_later(record, recipients)
            # Home Assistant's binary sensor goes off now, not once the card is writable again.
            self.publish_rule_state(rule.name, {"state": "cleared", "id": alert_id, "device": device.name})
            return
        state.active_id = None
        log.info("alert #%d %s cleared", alert_id, rule.name)
        self._wake(recipients)
        await self.publish_state(rule.name, alert_id)

    # ---- acknowledge, mute, list -------------------------------------------------------------

    async def ack(self, alert_id: int | None, by: str, by_user: str | None,
                  where: Address | None = None) -> tuple[int, str]:
        """Acknowledge alert `alert_id` (the latest unacknowledged when None); (id, rule). The
        others it reached are told; not `by_user`, nor the room `where` it was typed in, which
        reads the answer already."""
        store = self.hub.store
        now = self.hub.clock.time()

        def write(db: Any) -> tuple[int, str, list[tuple[str, str, int, str]]] | str:
            row = alert_rows.to_acknowledge(db, alert_id)
            if row is None:
                return ("none", alert_id, None)
            if row[2] is not None:
                return ("already", row[0], row[2])
            if row[3] is not None:          # resolved (or a notification told once): nothing repeats
                return ("over", row[0], None)
            alert_rows.acknowledge(db, row[0], by, now)
            if ends_when_acknowledged(row[1]):
                alert_rows.clear(db, row[0], now)
            deliveries.cancel_pending(db, row[0], "repeat")
            # The alert itself must not arrive after its acknowledgement: stop waiting for the picture.
            deliveries.release_held(db, row[0], now)
            others = [o for o in deliveries.first_recipients(db, row[0]) if not (by_user and o[3] == by_user)
                      and not (where is not None and (o[0], o[1]) == (where.adapter, where.target))]

            def text(recipient: str) -> str:
                with speaking(self.hub.auth.language_of(recipient)):
                    return _("Alert #{id} ({rule}) acknowledged by {who}.").format(id=row[0], rule=shown_rule(row[1]),
                                                                                    who=by)
            deliveries.insert(db, [(row[0], a, t, d, r, "ack", text(r), None, now, now) for a, t, d, r in others])
            return row[0], row[1], others

        from .command import CommandError
        from .notify import ends_when_acknowledged
        try:
            result = await store.call(store.transaction, write)
        except sqlite3.DatabaseError:
            if alert_id is None and self.unstored.alerts:       # the newest alarm is one not stored yet
                raise CommandError(self.unstored.acknowledge_in_memory(by, by_user, where)) from None
            acked = await self.unstored.acknowledge(alert_id, by, by_user, where)
            if acked is not None:
                return acked
            raise
        if isinstance(result[0], str):
            kind, number, who = result
            if kind == "already":
                raise CommandError(_("Alert #{id} was already acknowledged by {who}.").format(id=number, who=who))
            if kind == "over":
                raise CommandError(_("Alert #{id} is over already (resolved, or a message told once): nothing to "
                                     "acknowledge.").format(id=number))
            if number is None and self.unstored.alerts:
                raise CommandError(self.unstored.acknowledge_in_memory(by, by_user))
            raise CommandError(_("Nothing to acknowledge.") if number is None
                               else _("No alert #{id}.").format(id=number))
        acked_id, rule, others = result
        for adapter_name in {o[0] for o in others}:
            self.outbox.wake(adapter_name).set()
        await self.publish_state(rule, acked_id)
        return acked_id, rule

    async def mute(self, rule: str, seconds: float, by: str) -> None:
        """Mute `rule` (one of `self.rules`: the `mute` command names the rules otherwise)."""
        until = self.hub.clock.time() + seconds
        store = self.hub.store
        await store.call(alert_rows.mute, store.db, rule, until, by)
        self.mutes[rule] = until
        self.hub.spawn(self._judge_at_end_of_mute(rule, until), f"mute-end-{rule}")

    async def _judge_at_end_of_mute(self, rule: str, until: float) -> None:
        """When the mute ends, judge the device's reading now: smoke that began while muted and
        goes on, from a detector that reports only changes, was never raised."""
        await asyncio.sleep(max(0.0, until - self.hub.clock.time()) + 0.01)
        device = self.hub.home.devices.get(self.rules[rule].rule.device)
        if self.mutes.get(rule) == until and device is not None and device.reading is not None:
            self._events.put_nowait((rule, device, device.reading, None))

    async def active(self) -> list[dict[str, Any]]:
        """Alerts not cleared yet, newest first, with who was told and who acknowledged."""
        store = self.hub.store
        shown = tuple(self.outbox.shown)      # sent a moment ago, their delivered mark on its way
        ended = set(self.unstored.ended)      # over, though the database could not record it yet

        def query() -> list[dict[str, Any]]:
            result = []
            for alert_id, rule, device, severity, message, raised_at, acked_by in alert_rows.listed(store.db):
                if alert_id in ended:
                    continue
                told, given_up, pending = deliveries.told_and_pending(store.db, alert_id, shown)
                result.append({"id": alert_id, "rule": rule, "device": device, "severity": severity,
                               "message": message, "raised_at": raised_at,
                               "acked_by": acked_by or self.unstored.acked.get(alert_id),
                               "told": told, "given_up": given_up, "pending": pending})
            return result

        return self.unstored.entries() + await store.call(query)

    async def publish_state(self, rule: str, alert_id: int) -> None:
        store = self.hub.store
        row = await store.call(alert_rows.state, store.db, alert_id)
        if row is None:
            return
        state = "cleared" if row[7] else ("acknowledged" if row[6] else "active")
        self.publish_rule_state(rule, {"state": state, "id": row[0], "device": row[1], "severity": row[2],
                                       "message": row[3], "value": row[4], "raised_at": row[5], "acked_by": row[6]})

    def publish_rule_state(self, rule: str, state: dict[str, Any] | None = None) -> None:
        """Publish `state` (retained, again until the broker has it) as rule `rule`'s alert state:
        a stored alert's, one sent from memory (chatops.unstored), or by default `cleared`."""
        from .device_values import native_value     # `true`, 45: as JSON has them, not "True", "45.0"
        state = {**state, "value": native_value(state.get("value"))} if state else {"state": "cleared", "id": None}
        payload = json.dumps(state)
        if rule.startswith(NOTICE_PREFIX):
            # One state per source (`notify/alertmanager/TOKEN`), not per key: a webhook's keys
            # (fingerprints, labels, ?to= addresses) would leave a retained topic each on the
            # broker, and may hold `+` or `#`, which no topic may.
            from .notify import rule_family
            rule = rule_family(rule).replace("+", "_").replace("#", "_")
        self.hub.spawn(self.hub.mqtt.publish_latest(self.state_topic(rule), payload), f"alert-state-{rule}")

    def state_topic(self, rule: str) -> str:
        """Where a rule's alert state is published (retained): under the hub's own name."""
        return f"chatops/{self.hub.settings.hub.name}/alerts/{rule}"

    async def publish_states(self) -> None:
        """Publish each rule's latest alert state again, `cleared` for a rule never raised (Home
        Assistant's binary sensors then have a state even after the broker forgot its retained ones)."""
        store = self.hub.store
        latest = await store.call(alert_rows.latest_per_rule, store.db)
        for rule in self.rules:
            if rule in latest:
                await self.publish_state(rule, latest[rule])
            else:
                self.publish_rule_state(rule)
