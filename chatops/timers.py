"""Timers and schedules: rows in SQLite with a next run, fired by one scheduler task.

A timer is a command line, whoever set it (it runs as them, through the router's one path),
where they set it (the result goes there through the durable outbox), and a `Recurrence`.
A run is committed (next run moved on, or the timer marked done) before the command runs, so
no run ever happens twice, not even across SIGKILL. A run found late by more than `[hub]
misfire_grace` (the hub was down, the wall clock stepped forward) is skipped and its owner
told; within the grace it runs once, however many runs were missed.

Two other kinds of rows share the scheduler: `restore` switches a device back after
`chauffage on for 2h`, and `automation` starts an automation's `at` schedule.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .backoff import Backoff, pause_after_failure
from .clock import nap
from .durations import format_duration
from .device_kinds import UnknownDevice
from .home import format_value
from .i18n import _, speaking
from .message import AUTOMATION, Address, Reply
from .outbox import STORE_RETRY_CAP
from .recipients import admin_names
from .schedule import Recurrence, local_time, zone
from .store import timers as rows

if TYPE_CHECKING:
    from .home import Device
    from .hub import Hub

log = logging.getLogger(__name__)

MAX_NAP = 30.0          # the scheduler looks at the wall clock at least this often (NTP may step it)
WAKE_SLACK = 1.0         # seconds a run may start after its time and still be on time (misfire_grace = "0")
BATCH = 1000            # due rows taken per pass

ACTIVE, PAUSED, DONE, CANCELLED, MISSED = "active", "paused", "done", "cancelled", "missed"


@dataclass(frozen=True, slots=True)
class Timer:
    """One row of the timers table."""

    id: int
    kind: str                   # chat | restore | automation
    owner: str
    address: Address
    command: str
    recurrence: Recurrence
    next_run: float | None
    state: str
    data: dict[str, Any] = field(default_factory=dict)
    last_run: float | None = None
    runs: int = 0

    @classmethod
    def from_row(cls, row: Any) -> Timer:
        """From a row of `store.timers.COLUMNS`."""
        (tid, kind, owner, adapter, target, direct, command, recurrence, label, next_run, state, data,
         last_run, runs) = row
        return cls(tid, kind, owner, Address(adapter, target, bool(direct)), command,
                   Recurrence.decode(recurrence, label), next_run, state, json.loads(data), last_run, runs)


class Timers:
    """The timers of one hub: create, list, pause, cancel, and the scheduler that fires them."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.tz = zone(hub.settings.hub.timezone)
        self.grace = hub.settings.hub.misfire_grace
        self.fired = 0                  # runs started by this process (tests and benchmarks read it)
        self.skipped = 0
        self._changed = asyncio.Event()
        # Whether a switch-back may be pending: most switches have none, and then the switch
        # command costs no trip to the database thread (profiled: one per switch, ~0.1 ms).
        self._restores_possible = True
        self._restores_added = 0
        self._passed = asyncio.Event()
        self._said_waiting: set[tuple[int, float | None]] = set()   # (timer, due) told "waits for storage"

    @property
    def clock(self) -> Any:
        return self.hub.clock

    async def start(self) -> None:
        store = self.hub.store
        await store.call(rows.create, store.db)
        self.hub.spawn(self._schedule_forever(), "timers")

    # ---- what chat and config ask ----------------------------------------------------------

    async def add(self, owner: str, address: Address, command: str, recurrence: Recurrence, first: float,
                  kind: str = "chat", data: dict[str, Any] | None = None) -> int:
        """Store a timer; its id. The scheduler is woken to take it into account."""
        store = self.hub.store
        now = self.clock.time()
        if kind == "restore":
            self._restores_added += 1
            self._restores_possible = True
        row = (kind, owner, address.adapter, address.target, int(address.direct), command, recurrence.encode(),
               recurrence.label, first, ACTIVE, json.dumps(data or {}), now)
        timer_id = await store.call(rows.insert, store.db, row)
        self._changed.set()
        return timer_id

    async def listed(self, kinds: tuple[str, ...] = ("chat", "restore")) -> list[Timer]:
        """Active and paused timers, soonest first."""
        store = self.hub.store
        return [Timer.from_row(r) for r in await store.call(rows.listed, store.db, kinds)]

    async def get(self, timer_id: int) -> Timer | None:
        store = self.hub.store
        row = await store.call(rows.get, store.db, timer_id)
        return Timer.from_row(row) if row else None

    async def set_state(self, timer_id: int, state: str, next_run: float | None = None) -> None:
        store = self.hub.store
        await store.call(rows.set_state, store.db, timer_id, state, next_run)
        self._changed.set()

    def owner_refusal(self, timer: Timer) -> str | None:
        """Why the author of `timer` may no longer set timers (roles changed since), or None:
        the router's one access rule, asked each time it would run and when it is resumed."""
        user = self.hub.auth.users.get(timer.owner)
        return None if user is None else self.hub.router.refusal(user, "in", f"timer:{timer.id}")

    def _device_gone(self, timer: Timer, user: Any) -> bool:
        """Whether the timer's line names a device no longer there: a command's precheck says so,
        or it is a device's shorthand (`garage_plug on`) whose first words name no device now.
        Any other problem (a permission lost, a device of another type) is the router's to say."""
        problem = line_problem(self.hub, user, timer.command)
        # A line that resolved when it was set (it was checked then) and resolves to nothing now.
        return problem is not None and (isinstance(problem, UnknownDevice) or self.hub.router.resolve(timer.command)
                                        is None)

    def resume_at(self, timer: Timer) -> float | None:
        """When a paused timer runs next once resumed: its own time if still ahead, else its next
        occurrence (a one-off whose time passed while paused runs now)."""
        now = self.clock.time()
        if timer.next_run is not None and timer.next_run > now:
            return timer.next_run
        following = timer.recurrence.after(now, timer.next_run or now, self.tz)
        return now if following is None else following

    async def sync_automation(self, name: str, owner: str, recurrence: Recurrence) -> float:
        """The row firing automation `name`'s `at` schedule, created or updated to `recurrence`
        (a row whose schedule is unchanged keeps its next run: a restart misses nothing)."""
        store = self.hub.store
        now = self.clock.time()
        first = recurrence.after(now, now, self.tz) or now

        next_run = await store.call(store.transaction, lambda db: rows.sync_automation(
            db, name, owner, recurrence.encode(), recurrence.label, first, now))
        self._changed.set()
        return next_run

    async def drop_automations(self, keep: set[str]) -> None:
        """Cancel the schedule rows of automations no longer in the config (housekeeping at a
        start: with storage failing it waits for the next start, rather than stop this one)."""
        store = self.hub.store
        try:
            await store.call(store.transaction, lambda db: rows.cancel_automations_except(db, keep))
        except sqlite3.DatabaseError as exc:
            log.warning("the stored schedules of automations removed from the config are cancelled at the next "
                        "start with working storage (%s)", exc)

    async def next_automation_run(self, name: str) -> float | None:
        store = self.hub.store
        return await store.call(rows.next_automation_run, store.db, name)

    async def supersede_restores(self, device: str, by: str) -> dict[str, Any] | None:
        """Someone switched `device`: pending switch-backs of it will leave it alone (and say so).
        Returns the data of the latest one (a new `for` on the same device continues from it)."""
        store = self.hub.store
        if not self._restores_possible:
            return None
        added = self._restores_added

        def switched(data: dict[str, Any]) -> bool:
            return data.get("device") == device and not data.get("superseded_by")
        pending, latest = await store.call(store.transaction, lambda db: rows.supersede_restores(db, switched, by))
        if pending == 0 and added == self._restores_added:     # none, and none added meanwhile
            self._restores_possible = False
        return latest

    async def replaced(self, device: str, by_timer: int) -> list[int]:
        """A new `for` on `device` (timer `by_timer`) continues from the switch-backs it
        superseded: they are cancelled, not left listed for hours to say "left alone". Their ids."""
        store = self.hub.store
        gone = await store.call(store.transaction, lambda db: rows.drop_superseded(db, device, by_timer))
        if gone:
            self._changed.set()
        return gone

    async def overridden(self, device: str, by: str) -> tuple[dict[str, Any] | None, str]:
        """Someone drives `device` (switch, set, dim, open...): a pending switch-back of it leaves
        it alone. (The latest pending one's data, or None; a note for the answer when storage
        failed, since the command matters more than the bookkeeping.)"""
        try:
            return await self.supersede_restores(device, by), ""
        except sqlite3.DatabaseError as exc:
            return None, " " + _("(The hub's storage is failing ({why}): a switch-back set earlier with “for” may "
                                 "still run.)").format(why=exc)

    def clock_time(self) -> str:
        """The time now, as a message's `{time}` shows it: in `[hub] timezone`, on the hub's clock."""
        return datetime.fromtimestamp(self.hub.clock.time(), self.tz).strftime("%H:%M:%S")

    def wake(self) -> None:
        """Look at the due timers now (the wall clock stepped)."""
        self._changed.set()

    async def settled(self) -> None:
        """Return after the scheduler's next complete pass (tests wait on it, never on time)."""
        self._changed.set()
        passed = self._passed
        await passed.wait()

    # ---- the scheduler ---------------------------------------------------------------------

    async def _schedule_forever(self) -> None:
        backoff = Backoff(base=0.2, cap=STORE_RETRY_CAP)
        while True:
            self._changed.clear()
            try:
                more = await self._fire_due()
                upcoming = await self._upcoming()
            except Exception as exc:
                await pause_after_failure(backoff, exc, "timers", log)
                continue
            backoff.reset()
            passed, self._passed = self._passed, asyncio.Event()
            if more:
                passed.set()
                await asyncio.sleep(0)
                continue
            delay = MAX_NAP if upcoming is None else min(MAX_NAP, max(0.0, upcoming - self.clock.time()))
            await self._nap(delay, passed)

    async def _nap(self, seconds: float, passed: asyncio.Event) -> None:
        """Sleep `seconds` on the hub's clock, or less when a timer is added or changed; `passed`
        is set once the sleep is in place (a test that moves a manual clock then wakes it)."""
        await nap(self.clock, seconds, self._changed, passed)

    async def _upcoming(self) -> float | None:
        store = self.hub.store
        return await store.call(rows.next_run, store.db)

    async def _fire_due(self) -> bool:
        """Commit what each due timer does now (run or skip), then start the runs; True when more
        rows are due than one pass takes."""
        store = self.hub.store
        now = self.clock.time()
        found = await store.call(rows.due, store.db, now, BATCH)
        if not found:
            return False
        timers = [Timer.from_row(r) for r in found]
        plans: list[tuple[Timer, bool, float | None]] = []
        for timer in timers:
            due = timer.next_run or now
            following = timer.recurrence.after(now, due, self.tz)
            on_time = now - due <= self.grace + WAKE_SLACK
            plans.append((timer, on_time or _safe_when_late(timer), following))

        outcomes = [(following, ACTIVE if following is not None else (DONE if run else MISSED), run, now, timer.id)
                    for timer, run, following in plans]
        try:
            await store.call(store.transaction, lambda db: rows.decide(db, outcomes))
        except sqlite3.DatabaseError as exc:
            # A run is recorded before it starts (never twice): with the card full, none starts.
            # Not silently: each owner hears of it once, from memory, while the scheduler retries.
            self._say_waiting([timer for timer, run, _following in plans if run], exc)
            raise
        self._said_waiting.clear()
        for timer, run, following in plans:
            if run:
                self.fired += 1
                self.hub.spawn(self._run(timer), f"timer-{timer.id}")
            else:
                self.skipped += 1
                self.hub.spawn(self._missed(timer, now, following), f"timer-missed-{timer.id}")
        return len(found) == BATCH

    def _say_waiting(self, timers: list[Timer], exc: Exception) -> None:
        """Tell the owners of `timers`, due now, that they wait for storage (once per run)."""
        unstored = self.hub.alerts.unstored
        for timer in timers:
            if (timer.id, timer.next_run) in self._said_waiting or timer.kind == "automation":
                continue
            self._said_waiting.add((timer.id, timer.next_run))

            def text(_prefix: str | None, timer: Timer = timer) -> str:      # in each reader's language
                late = _("it runs once storage is back") if _safe_when_late(timer) else \
                    _("it runs once storage is back, if that is within {grace}; else it is skipped").format(
                        grace=format_duration(self.grace))
                return _("Timer #{id} ({command}) is due, but the hub's storage is failing ({why}): {late}.").format(
                    id=timer.id, command=timer.command, why=exc, late=late)
            log.error("timer #%d (%s) is due but cannot be recorded as run (%s): waiting for storage",
                      timer.id, timer.command, exc)
            recipients = self.hub.alerts.recipients([timer.owner])
            self.hub.spawn(unstored.send(recipients, text), f"timer-waits-{timer.id}")

    async def _missed(self, timer: Timer, now: float, following: float | None) -> None:
        due = timer.next_run or now
        log.warning("timer #%d (%s) was due %s ago, beyond the %s grace: skipped", timer.id, timer.command,
                    format_duration(now - due), format_duration(self.grace))
        if timer.kind == "automation":
            await self.hub.automations.missed(timer.command, due, following)
            return
        device = self.hub.home.devices.get(str(timer.data.get("device"))) if timer.kind == "restore" else None
        current = await self._state_of(device) if device is not None else None
        with speaking(self.hub.auth.language_of(timer.owner)):
            then = " " + _("Next run: {when}.").format(when=local_time(following, self.tz, now)) \
                if following is not None else ""
            text = _("Timer #{id} ({command}) was due at {when} but the hub could not run it in time ({late} late, "
                     "more than the {grace} grace): skipped.").format(
                id=timer.id, command=timer.command, when=local_time(due, self.tz, now),
                late=format_duration(now - due), grace=format_duration(self.grace)) + then
            if device is not None:               # a switch back to ON, too late: where it stays, and how to
                state = format_value(bool(current)) if current is not None else _("unknown")
                text += " " + _("{label} stays {state}; say {command} to switch it back yourself.").format(
                    label=device.label, state=state,
                    command=f"switch {device.name} {'on' if timer.data.get('back') else 'off'}")
        await self.deliver(timer.address, timer.owner, "timer", [Reply(text)])
        self._audit(timer, "timer-missed", f"due {local_time(due, self.tz)}; skipped")

    async def _run(self, timer: Timer) -> None:
        with speaking(self.hub.auth.language_of(timer.owner)):    # what the owner reads
            await self._run_speaking(timer)

    async def _run_speaking(self, timer: Timer) -> None:
        if timer.kind == "automation":
            await self.hub.automations.run(timer.command, f"schedule {timer.recurrence.label}")
            return
        outcome: list[str] = []
        if timer.kind == "restore" and timer.owner not in self.hub.auth.users:
            await self._restore_orphaned(timer)
            return
        if timer.kind == "restore":
            # Part of a `for 2h` its owner was allowed: the switch back runs whatever came since.
            replies = await self._restore(timer)
        elif (user := self.hub.auth.users.get(timer.owner)) is None:
            replies = [Reply(_("{owner} is no longer a configured user; not run.").format(owner=timer.owner))]
        elif refused := self.owner_refusal(timer):
            # Its owner may no longer set timers (their roles changed): it stops until someone
            # allowed resumes it, instead of running on in their name.
            await self.set_state(timer.id, PAUSED)
            log.info("timer #%d paused: its owner %s may no longer set timers (%s)", timer.id, timer.owner, refused)
            replies = [Reply(_("not run, and paused: {owner} may no longer set timers (it needs the schedule "
                               "permission); give it back and resume it, or cancel it.").format(owner=timer.owner))]
            outcome.append("refused")
        elif self._device_gone(timer, user):
            # Checked when it was set, it named a device then: the device left the config, or
            # its discovery withdrew it. Said so (not "Unknown command"), and a repeating one
            # waits for it instead of failing at every run.
            text = _("not run: the device it names is gone (removed from the config, or withdrawn by its discovery).")
            if timer.recurrence.kind != "once":
                await self.set_state(timer.id, PAUSED)
                text += " " + _("Paused: resume it once the device is back, or cancel it.")
            replies = [Reply(text)]
            outcome.append("refused")
        else:
            replies = await self.hub.run_as(timer.owner, timer.command, timer.address, outcome)
        head = _("Timer #{id} ({command})").format(id=timer.id, command=timer.command)
        # A refusal with no answer is the rate limit's (it answers once): never "done".
        silent = _("not run: too many commands at once (the rate limit).") if outcome[:1] == ["refused"] else _("done.")
        shown = [Reply(_("{head}: {text}").format(head=head, text=r.text), r.attachments, notice=True)
                 for r in replies] or [Reply(_("{head}: {text}").format(head=head, text=silent), notice=True)]
        await self.deliver(timer.address, timer.owner, "timer", shown)
        self._audit(timer, "timer", " | ".join(r.text for r in replies)[:300])

    async def _state_of(self, device: Device) -> Any:
        """The device's value, None when unknown. Asked at a start, before the device's state
        came back (retained, or asked for): worth a few seconds' wait, or an OFF heater is said
        to be "in an unknown state"."""
        if device.reading is None:
            await self.hub.home.request_reading(device, wait=device.settings.confirm_timeout)
            if device.reading is None:
                await self.hub.home.wait_for(device, lambda _reading: True, device.settings.confirm_timeout)
        return device.reading.value if device.reading is not None else None

    async def _restore(self, timer: Timer) -> list[Reply]:
        """Switch a device back, unless someone switched it since: then say so and leave it."""
        data = timer.data
        device = self.hub.home.devices.get(str(data.get("device")))
        back = "ON" if data.get("back") else "OFF"
        if device is None:
            return [Reply(_("{device} is gone from the configuration; nothing switched back.").format(
                device=data.get("device")))]
        by = data.get("superseded_by")
        current = await self._state_of(device)
        if current is not None and bool(current) == bool(data.get("back")):
            # Already where it was to go back to (after a restart, or switched so by hand):
            # nothing to do; who did it is said, not that it was "left" where it was to go.
            text = _("{label} was switched {state} since by {who}; nothing to switch back.") if by else \
                _("{label} is already {state}; nothing to switch back.")
            return [Reply(text.format(label=device.label, state=format_value(bool(current)), who=by))]
        if by or (current is not None and current != data.get("set")):
            now_shown = format_value(bool(current)) if current is not None else _("in an unknown state")
            text = _("{label} was switched since by {who}; left {state} (not switched back {back}).") if by else \
                _("{label} was switched since; left {state} (not switched back {back}).")
            return [Reply(text.format(label=device.label, who=by, state=now_shown,
                                      back=format_value(bool(data.get("back")))))]
        return await self.hub.run_as(timer.owner, f"switch {device.name} {back.lower()}", timer.address)

    async def _restore_orphaned(self, timer: Timer) -> None:
        """A `for 2h` whose owner has left the config: its switch back is not run in nobody's
        name (device commands need a configured user); the admins are told where the device
        stays and what to say. It failed in the log alone, and the heater stayed on unsaid."""
        device = self.hub.home.devices.get(str(timer.data.get("device")))
        back = bool(timer.data.get("back"))
        current = await self._state_of(device) if device is not None else None
        self._audit(timer, "timer", f"not switched back: {timer.owner} is no longer a configured user")
        if device is None or timer.data.get("superseded_by") or (current is not None and bool(current) == back):
            return                                # nothing left to switch back, or someone took it over
        engine = self.hub.alerts
        for admin in admin_names(self.hub.settings):
            with speaking(self.hub.auth.language_of(admin)):
                state = format_value(bool(current)) if current is not None else _("in an unknown state")
                text = _("Timer #{id}: {owner} is no longer a configured user, so {label} was not switched back "
                         "{back} as they asked; it stays {state}. Say {command} to switch it back.").format(
                    id=timer.id, owner=timer.owner, label=device.label, back=format_value(back), state=state,
                    command=f"switch {device.name} {'on' if back else 'off'}")
            for where in engine.recipients([admin]):
                await engine.outbox.queue(engine.address_of(where), admin, "timer", [Reply(text, notice=True)],
                                          self.clock.time())

    async def deliver(self, address: Address, recipient: str, kind: str, replies: list[Reply]) -> None:
        """Queue `replies` for `address` in the durable outbox (sent when that network is up); set
        by an automation, they go where the automation's runs are told."""
        if address.adapter == AUTOMATION:
            await self.hub.automations.later(address.target, replies)
            return
        adapter = self.hub.adapters.get(address.adapter)
        engine = self.hub.alerts
        if adapter is not None and not adapter.capabilities.keeps_messages:
            # Set from a web page (or the HTTP API): to the web user's open pages, that one first
            # (a shutter's arrival 20 s after the click); with none open, to the owner's other
            # networks, where it waits for them, when they have any.
            try:
                for reply in replies:
                    await self.hub.send_through(adapter, address, reply)
                return
            except Exception as exc:                # no page open (Unread), or it went away
                log.debug("a %s for %s waits elsewhere: %s", kind, recipient, exc)
            elsewhere = [r for r in engine.recipients([recipient]) if r.network != adapter.network]
            if elsewhere:
                for where in elsewhere:
                    await engine.outbox.queue(engine.address_of(where), recipient, kind, replies, self.clock.time())
                return
        if self.held_back(address, recipient):
            # A private chat on a network where anyone may take a name (an IRC nick): by the time
            # this is sent, the nick may be someone else's. To the owner as an alert goes, whose
            # holder is checked when it is sent; nowhere there when their patterns name no nick.
            assert adapter is not None
            everywhere = engine.recipients([recipient])
            mine = [r for r in everywhere if r.network == adapter.network] or everywhere    # else their others
            if not mine:
                log.warning("a %s for %s is not sent to the nick %s: no [users.%s] pattern names a nick whose "
                            "holder can be checked, nor anyone on another network", kind, recipient,
                            address.target, recipient)
            for where in mine:
                await engine.outbox.queue(engine.address_of(where), recipient, kind, replies, self.clock.time())
            return
        await engine.outbox.queue(address, recipient, kind, replies, self.clock.time())

    def held_back(self, address: Address, recipient: str) -> bool:
        """Whether what is set from `address` (a direct chat) is sent to `recipient` as an alert
        is, not to the name it was set from: on a network whose names pass on (an IRC nick)."""
        adapter = self.hub.adapters.get(address.adapter)
        return adapter is not None and address.direct and adapter.capabilities.names_pass_on \
            and recipient in self.hub.auth.users

    def unreachable_note(self, address: Address, recipient: str) -> str:
        """What to tell someone setting a timer whose result cannot reach them where they are
        (their patterns there name nobody to write to: `*!*@host`): where it goes instead, or
        that it goes nowhere (it went to the log only, without a word)."""
        adapter = self.hub.adapters.get(address.adapter)
        everywhere = self.hub.alerts.recipients([recipient]) if adapter is not None else []
        if adapter is None or not self.held_back(address, recipient) or \
                any(r.network == adapter.network for r in everywhere):
            return ""
        if everywhere:
            return " " + _("Its result goes to you on {networks}: your [users] patterns for {network} name nobody to "
                           "write to here.").format(networks=", ".join(sorted({r.network for r in everywhere})),
                                                    network=adapter.network)
        return " " + _("Its result cannot be sent back here: your [users] patterns for {network} name nobody to write "
                       "to (add one with a nick or an account).").format(network=adapter.network)

    def _audit(self, timer: Timer, kind: str, detail: str) -> None:
        """Audited like a chat command: through the hub's audit trail, written in batches (10,000
        timers due at once made 10,000 single-row writes)."""
        self.hub.audit.record(kind, f"timer:{timer.id}:{timer.owner}", str(timer.address), timer.command, detail)


def _safe_when_late(timer: Timer) -> bool:
    """A switch-back to OFF runs however late (the hub was down past it): skipping it would leave
    the heater of `chauffage on for 2h` on for good. One back to ON keeps the grace: switching
    something on hours after it was meant to is a surprise."""
    return timer.kind == "restore" and timer.data.get("back") is False


def line_problem(hub: Hub, user: Any, line: str, sender: str = "", precheck: bool = True) -> str | None:
    """Why `user` could not run the command line `line` (it names no command, its arguments do
    not fit, the user may not, it names no device), or None. Asked when a timer is set and by
    `chatops check` for automations; the router decides again when the line runs (roles may
    change meanwhile). `precheck=False` skips the device check, for automations: a device Home
    Assistant's discovery announces is not known yet when the config is checked."""
    return hub.router.problem_with(line, user, sender or f"user:{getattr(user, 'name', '?')}", precheck)
