"""Automations: `when` a device condition starts to hold (or `at` a schedule), run commands as the owner.

Conditions are the alert rules' (chatops.conditions). A condition fires when it starts to
hold, never on every reading: a threshold re-arms only `hysteresis` beyond it. `for 10m`
fires once the condition held that long; the time it started holding is kept in SQLite, so
after a restart the retained state picks up where it was. Runs go through the router's one
path as the owner (permission, audit), are audited, and an automation that runs more than
`max_runs_per_minute` times is stopped and its owner alerted (a light that triggers its own
motion sensor).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .i18n import N_, _, pgettext, speaking
from .clock import nap
from .conditions import Trigger
from .config import AutomationSettings
from .durations import format_duration
from .notice import Notice, Refused
from .notify import NotStored
from .message import AUTOMATION, Address, Reply
from .schedule import in_window, is_window, local_time, parse_phrase
from .watchers import Watchers
from .store import automations as saved

if TYPE_CHECKING:
    from .home import Device, Reading
    from .command import CommandSpec
    from .hub import Hub

log = logging.getLogger(__name__)

MAX_NAP = 30.0

LOOP_GUARD = "stopped: ran"          # how a stop by the loop guard starts, as stored (enable clears it)
GUARD_SOURCE = "automation"          # the loop guard's alerts: notifications of this source, keyed by name


@dataclass(slots=True)
class Automation:
    """One automation and what it knows of its condition."""

    settings: AutomationSettings
    owner: str
    limit: int
    trigger: Trigger | None
    device: str | None = None           # the device `when` watches (resolved by name or alias)
    enabled: bool = True
    stopped: str | None = None          # why the hub turned it off (loop guard, invalid command)
    known: bool = False                 # the condition's state is known (persisted or observed)
    holding: bool = False
    since: float | None = None          # wall time the condition started holding
    fired: bool = False                 # fired for this holding period
    due: float | None = None            # monotonic time a `for` (or `offline`) check is due: a wall
                                        # clock stepped by NTP neither fires it early nor holds it back
    due_from_wall: bool = False         # `due` was worked out from `since` (a hold resumed after a restart)
    last_run: float | None = None
    last_result: str = ""
    recent: deque[float] = field(default_factory=deque)     # monotonic times of recent runs
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def name(self) -> str:
        return self.settings.name


class Automations:
    """The automations of one hub."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        defaults = hub.settings.automations_defaults
        self.by_name: dict[str, Automation] = {}
        watching: dict[str, list[Automation]] = {}
        for item in hub.settings.automations:
            trigger = Trigger.parse(item.when) if item.when else None
            auto = Automation(item, item.owner or defaults.owner or "", item.max_runs_per_minute
                              or defaults.max_runs_per_minute, trigger, enabled=item.enabled)
            if trigger is not None:
                device = hub.home.find(trigger.device)
                auto.device = device.name if device is not None else trigger.device
                watching.setdefault(auto.device, []).append(auto)
            self.by_name[item.name] = auto
        self._by_device = {device: Watchers(autos) for device, autos in watching.items()}
        self._dirty: set[str] = set()
        self._fire: list[tuple[Automation, str]] = []
        self._wake = asyncio.Event()
        self._passed = asyncio.Event()
        self._running: set[asyncio.Task[object]] = set()
        self.runs = 0                   # runs started by this process (tests and benchmarks read it)

    # ---- start-up --------------------------------------------------------------------------

    async def start(self) -> None:
        if not self.by_name:
            await self.hub.timers.drop_automations(set())
            return
        store = self.hub.store
        rows = await store.call(saved.load, store.db)
        for name, enabled, stopped, trigger, holding, since, fired, last_run, last_result in rows:
            auto = self.by_name.get(name)
            if auto is None:
                continue
            if enabled is not None:
                auto.enabled = bool(enabled)
            # Only the loop guard's stop is remembered (it waits for `enable`); any other reason
            # (a command that does not exist, a permission the owner lacks) is found again below
            # from today's config, so fixing config.toml and restarting brings the automation back.
            auto.stopped = stopped if (stopped or "").startswith(LOOP_GUARD) else None
            auto.last_run, auto.last_result = last_run, last_result or ""
            if auto.settings.when and trigger == auto.settings.when:
                auto.known, auto.holding, auto.since, auto.fired = True, bool(holding), since, bool(fired)
        # Devices named in `do` are not checked here: discovery may bring them after start.
        from .automation_checks import command_problems
        for problem in command_problems(self.hub)[0]:
            log.error("automation not started: %s", problem)
            name = problem.split(":", 1)[0]
            if name in self.by_name:
                self.by_name[name].stopped = problem.split(": ", 1)[1]
        now = self.hub.clock.time()
        for auto in self.by_name.values():
            if auto.settings.at:
                recurrence = parse_phrase(auto.settings.at, now, self.hub.timers.tz).recurrence
                await self.hub.timers.sync_automation(auto.name, auto.owner, recurrence)
            elif auto.trigger is not None and auto.trigger.condition.kind == "offline":
                device = self.hub.home.devices.get(auto.device or "")
                says = device is not None and bool(device.settings.availability_topic)
                self._gone_from(auto, device.offline_since if says else self.hub.clock.monotonic())  # type: ignore[union-attr]
        await self.hub.timers.drop_automations({a.name for a in self.by_name.values() if a.settings.at})
        self.hub.home.listen(self._on_reading)
        self.hub.home.listen_availability(self._on_availability)
        for auto in self.by_name.values():        # states retained on the broker may be in already
            device = self.hub.home.devices.get(auto.device or "")
            if device is not None and device.reading is not None and auto.trigger is not None:
                self._observe(auto, device, device.reading, None)
            if auto.device in self._by_device:
                self._by_device[auto.device].refile(auto)     # its remembered or first state
        self._resume_holds()
        self.hub.spawn(self._engine_forever(), "automations")

    def _resume_holds(self) -> None:
        """A `for` that was counting when the hub stopped, on a device that keeps no retained state
        (Zigbee2MQTT's default) and so says nothing at the restart: the remembered state is
        believed and the hold ends on time (the hall light goes off ten minutes after the last
        movement, restart or not), unless the device reports otherwise meanwhile (`_observe`)."""
        now, mono = self.hub.clock.time(), self.hub.clock.monotonic()
        for auto in self.by_name.values():
            trigger, device = auto.trigger, self.hub.home.devices.get(auto.device or "")
            if trigger is None or not trigger.hold or not auto.known or not auto.holding or auto.fired \
                    or auto.since is None or auto.due is not None or (device is not None and device.reading is not None):
                continue
            auto.due, auto.due_from_wall = self._rest_of_hold(auto, trigger.hold, now, mono), True
            log.info("automation %s: %s was holding before the restart and %s has not reported since: "
                     "it fires in %s unless it does", auto.name, auto.settings.when, auto.device,
                     format_duration(auto.due - mono))
        self._wake.set()

    @staticmethod
    def _rest_of_hold(auto: Automation, hold: float, now: float, mono: float) -> float:
        """When a hold that started at `auto.since` (wall time, before a restart) ends, on the
        monotonic clock: never more than the whole hold from now, whatever the wall clock says
        (a Pi that boots a month behind would otherwise wait the month out)."""
        assert auto.since is not None
        return mono + min(hold, max(0.0, auto.since + hold - now))

    def clock_jumped(self) -> None:
        """The wall clock stepped (NTP after a boot without a real-time clock): the holds worked
        out from it are worked out again, on the corrected clock."""
        now, mono = self.hub.clock.time(), self.hub.clock.monotonic()
        for auto in self.by_name.values():
            trigger = auto.trigger
            if auto.due_from_wall and auto.due is not None and auto.since is not None and trigger is not None:
                auto.due = self._rest_of_hold(auto, trigger.hold, now, mono)
        self._wake.set()

    # ---- conditions --------------------------------------------------------------------------

    def _on_reading(self, device: Device, reading: Reading, previous: Reading | None) -> None:
        watchers = self._by_device.get(device.name)
        if watchers is not None:
            watchers.judge(reading.value, lambda auto: self._observe(auto, device, reading, previous))

    def _observe(self, auto: Automation, device: Device, reading: Reading, previous: Reading | None) -> None:
        """Follow the condition on a new reading: fire on the edge where it starts to hold."""
        trigger = auto.trigger
        assert trigger is not None
        condition = trigger.condition
        now, mono = self.hub.clock.time(), self.hub.clock.monotonic()
        if condition.kind == "changed":
            if condition.holds(reading.value, previous):
                self._queue(auto, self._said(N_("{device} changed to {value}"), device=auto.device,
                                             value=lambda: device.value_text(reading.value)))
            return
        if condition.kind == "offline":
            if not device.settings.availability_topic:      # (one that has says so itself)
                self._gone_from(auto, mono, back=True)
            return
        if auto.holding:
            holds = condition.still_holds(reading.value, auto.settings.hysteresis)
        else:
            holds = condition.holds(reading.value, previous)
        if not auto.known:
            # First sight with nothing remembered. A threshold already passed is a level to keep
            # (`chambre < 19` -> heater on, added while the room is cold): it fires now. An on/off
            # or `=` state saw no edge (a motion sensor's retained ON from hours ago is nobody
            # coming in): nothing fires. A held state (`for`) counts from here either way.
            level = condition.kind in ("<", "<=", ">", ">=")
            auto.known, auto.holding, auto.since, auto.fired = True, holds, now if holds else None, holds
            if holds and trigger.hold:
                auto.fired, auto.due = False, mono + trigger.hold
            elif holds and level:
                self._queue(auto, self._said("{when} ({value})", when=auto.settings.when,
                                             value=lambda: device.value_text(reading.value)))
            self._dirty.add(auto.name)
            self._wake.set()
            return
        if holds == auto.holding:
            if holds and trigger.hold and not auto.fired and auto.due is None and auto.since is not None \
                    and auto.enabled and not auto.stopped:
                # Remembered across a restart (stored on the wall clock): what is left of the hold.
                auto.due, auto.due_from_wall = self._rest_of_hold(auto, trigger.hold, now, mono), True
                self._wake.set()
            return
        auto.holding = holds
        auto.fired = False
        auto.since = now if holds else None
        auto.due, auto.due_from_wall = None, False
        if holds and trigger.hold:
            auto.due = mono + trigger.hold
        elif holds:
            auto.fired = True
            self._queue(auto, self._said("{when} ({value})", when=auto.settings.when,
                                         value=lambda: device.value_text(reading.value)))
        self._dirty.add(auto.name)
        self._wake.set()

    def _said(self, template: str, **fields: object) -> str:
        """A reason, as the hub records it: in `[hub] language` (the owner's message reuses it)."""
        with speaking(self.hub.settings.hub.language):
            return _(template).format(**{k: v() if callable(v) else v for k, v in fields.items()})

    def _queue(self, auto: Automation, why: str) -> None:
        self._fire.append((auto, why))
        self._wake.set()

    async def _engine_forever(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self._save()
            except sqlite3.DatabaseError as exc:
                log.error("automations: their state cannot be saved (%s); retrying", exc)
                await asyncio.sleep(1.0)
                continue
            fire, self._fire = self._fire, []
            for auto, why in fire:
                task = self.hub.spawn(self.run(auto.name, why), f"automation-{auto.name}")
                self._running.add(task)
                task.add_done_callback(self._running.discard)
            now, mono = self.hub.clock.time(), self.hub.clock.monotonic()
            upcoming: float | None = None
            for auto in self.by_name.values():
                if auto.due is None:
                    continue
                if auto.due > mono:
                    upcoming = auto.due if upcoming is None else min(upcoming, auto.due)
                    continue
                auto.due, auto.due_from_wall = None, False
                self._due(auto, now)
            if self._fire or self._dirty:
                continue
            passed, self._passed = self._passed, asyncio.Event()
            delay = MAX_NAP if upcoming is None else min(MAX_NAP, max(0.0, upcoming - self.hub.clock.monotonic()))
            await self._nap(delay, passed)

    def _on_availability(self, device: Device) -> None:
        for auto in self.by_name.values():
            if auto.device == device.name and auto.trigger is not None and auto.trigger.condition.kind == "offline":
                self._gone_from(auto, device.offline_since, back=device.offline_since is None)

    def _gone_from(self, auto: Automation, since: float | None, back: bool = False) -> None:
        """An `offline` trigger's device is gone from `since` (monotonic; None: it is there). A
        device with an availability topic counts from when it said offline (chatops.offline_rules),
        any other from the last time it was heard; `back`, heard again, ends the hold."""
        assert auto.trigger is not None
        auto.due = None if since is None else since + float(auto.trigger.condition.threshold or 0)
        if back and auto.holding:
            auto.holding, auto.since, auto.fired = False, None, False
            self._dirty.add(auto.name)
        self._wake.set()

    def _due(self, auto: Automation, now: float) -> None:
        trigger = auto.trigger
        if trigger is None:
            return
        if trigger.condition.kind == "offline":
            if not auto.holding:
                auto.holding, auto.since, auto.fired = True, now, True
                self._dirty.add(auto.name)
                device = self.hub.home.devices.get(auto.device or "")
                said = device is not None and device.offline_since is not None
                self._queue(auto, self._said(N_("{device} offline for {duration}") if said else N_(
                    "{device} silent for {duration}"), device=auto.device,
                    duration=format_duration(float(trigger.condition.threshold or 0))))
            return
        if auto.holding and not auto.fired:
            auto.fired = True
            self._dirty.add(auto.name)
            self._queue(auto, f"{auto.settings.when}")

    async def _nap(self, seconds: float, passed: asyncio.Event) -> None:
        """Sleep on the hub's clock until the next due check, or until woken; `passed` is set
        once the sleep is in place (a test that moves a manual clock then wakes it)."""
        await nap(self.hub.clock, seconds, self._wake, passed)

    async def _save(self, names: set[str] | None = None) -> None:
        dirty, self._dirty = (self._dirty, set()) if names is None else (names, self._dirty - names)
        if not dirty:
            return
        rows = [(a.name, None if a.enabled == a.settings.enabled else int(a.enabled), a.stopped,
                 a.settings.when or "", int(a.holding), a.since, int(a.fired), a.last_run, a.last_result)
                for a in (self.by_name[n] for n in dirty)]
        store = self.hub.store
        try:
            await store.call(saved.save, store.db, rows)
        except sqlite3.DatabaseError:
            self._dirty |= dirty
            raise

    async def settled(self) -> None:
        """Return once the readings received so far are judged and the runs they started are
        over (tests wait on this, never on time)."""
        if not self.by_name:
            return
        self._wake.set()
        await self._passed.wait()
        while self._running:
            await asyncio.wait(set(self._running))
            self._wake.set()
            await self._passed.wait()

    # ---- running -----------------------------------------------------------------------------

    async def run(self, name: str, why: str) -> str:
        """Run automation `name` now (its trigger said so): check only_if and the loop guard,
        run each command as the owner, audit, tell `notify`. Returns what happened."""
        auto = self.by_name.get(name)
        if auto is None:
            return "no such automation"
        async with auto.lock:
            if not auto.enabled or auto.stopped:
                log.info("automation %s: %s, not run (%s)", name, auto.stopped or "disabled", why)
                if auto.holding and _levelled(auto):
                    auto.fired = False              # missed, not done: enabling it again re-arms it
                    self._dirty.add(name)
                return "disabled"
            now = self.hub.clock.time()
            unmet = self._unmet(auto, now)
            if unmet:
                auto.last_result = self._said(N_("skipped: {why}"), why=unmet)
                await self._record(auto, "automation-skipped", f"{why}; {unmet}")
                return auto.last_result
            mono = self.hub.clock.monotonic()
            while auto.recent and mono - auto.recent[0] > 60:
                auto.recent.popleft()
            if len(auto.recent) >= auto.limit:
                if auto.holding and _levelled(auto):
                    auto.fired = False              # refused, not done: `enable` re-arms it
                    self._dirty.add(name)
                await self._stop(auto, why)
                return auto.last_result
            auto.recent.append(mono)
            self.runs += 1
            address = Address(AUTOMATION, name, True)
            results = []
            failed = False
            for line in auto.settings.do:
                outcome: list[str] = []
                try:
                    replies = await self.hub.run_as(auto.owner, line, address, outcome)
                except KeyError as exc:
                    failed = True
                    results.append(f"{line}: {exc}")
                    continue
                # Refused, unknown, a device that did not confirm, an error: not done.
                failed = failed or outcome[:1] != ["ok"] or "failed" in outcome
                results.append(" ".join(r.text for r in replies) or self._said(N_("{line}: done"), line=line))
            auto.last_run = now
            auto.last_result = "; ".join(results)
            await self._record(auto, "automation", f"{why}: {auto.last_result}")
            notify = auto.settings.notify
            if failed:
                # A run that failed is never silent: without `notify`, its owner is told.
                log.warning("automation %s (%s) did not do it all: %s", name, why, auto.last_result[:300])
                notify = notify or ["owner"]
            if notify:
                with speaking(self.hub.auth.language_of(auto.owner)):
                    told = _("Automation {name!r} ({why}): {result}").format(name=name, why=why,
                                                                              result=auto.last_result)
                await self._tell(auto, [n if n != "owner" else auto.owner for n in notify], told)
            return auto.last_result

    def _unmet(self, auto: Automation, now: float) -> str | None:
        """The first `only_if` that does not hold now, or None."""
        for entry in auto.settings.only_if:
            if is_window(entry):
                if not in_window(entry, now, self.hub.timers.tz):
                    return self._said(N_("not {condition}"), condition=entry)
                continue
            check = Trigger.parse(entry)
            device = self.hub.home.find(check.device)
            if device is None or device.reading is None:
                return self._said(N_("{device} has no reading yet"), device=check.device)
            if not check.condition.holds(device.reading.value, None):
                value = device.reading.value
                return self._said(N_("{condition} is not true ({label} is {value})"), condition=entry,
                                  label=device.label, value=lambda: device.value_text(value))
        return None

    async def _stop(self, auto: Automation, why: str) -> None:
        auto.stopped = f"{LOOP_GUARD} {auto.limit} times within a minute"      # stored: the English marker
        auto.last_result = auto.stopped
        log.error("automation %s %s (%s); say enable %s to start it again", auto.name, auto.stopped, why, auto.name)
        await self._record(auto, "automation-stopped", f"{why}; more than {auto.limit} runs in a minute")
        rivals = self._rivals(auto)
        with speaking(self.hub.auth.language_of(auto.owner)):
            if rivals:
                told = _("Automation {name!r} ran {count} times within a minute and was stopped: it and "
                         "{others} drive each other's device. Say enable {name} to start it again, once they "
                         "agree.").format(name=auto.name, count=auto.limit, others=", ".join(map(repr, rivals)))
            else:
                told = _("Automation {name!r} ran {count} times within a minute and was stopped (does it "
                         "trigger itself?). Say enable {name} to start it again.").format(name=auto.name, count=auto.limit)
        # An alert of its own: listed by `alerts`, repeated until acknowledged, resolved by `enable`.
        try:
            await self.hub.notifications.submit(Notice((auto.owner,), told, "warning", ack=True), GUARD_SOURCE,
                                                key=auto.name)
        except NotStored as exc:                # told from memory; recorded once storage is back
            log.warning("automation %s: its owner was alerted from memory (%s); recorded once storage is back",
                        auto.name, exc.why)
        except Refused as exc:                  # the owner is on no enabled network: the log says it
            log.error("automation %s: its owner %s cannot be alerted: %s", auto.name, auto.owner, exc.error)

    def _rivals(self, auto: Automation) -> list[str]:
        """Other automations that run commands on the device `auto` watches while `auto` runs
        them on the device they watch: two that undo each other (`plug off` -> on, `plug on` -> off)."""
        def drives(other: Automation, device: str | None) -> bool:
            """Whether a line of `other` acts (a command that needs a configured user: switch,
            set, dim...) on `device`: `read salon` watches it, it does not drive it."""
            if device is None:
                return False
            names = {device, *self.hub.home.devices[device].settings.aliases} if device in self.hub.home.devices else {device}
            return any(word in names for line in other.settings.do if _acts(self.hub.router.resolve(line))
                       for word in line.split())
        return sorted(other.name for other in self.by_name.values()
                      if other is not auto and drives(other, auto.device) and drives(auto, other.device))

    async def _record(self, auto: Automation, kind: str, detail: str) -> None:
        self._dirty.add(auto.name)
        try:
            await self._save({auto.name})
            await self.hub.store.audit(kind, f"automation:{auto.name}", f"as:{auto.owner}",
                                       " ; ".join(auto.settings.do), detail[:500])
        except sqlite3.DatabaseError as exc:
            log.error("automation %s: its run could not be recorded (%s)", auto.name, exc)

    async def _tell(self, auto: Automation, notify: list[str], text: str) -> None:
        """Queue `text` for `notify` (user names or addresses) in the durable outbox."""
        alerts = self.hub.alerts
        recipients = alerts.recipients(notify)
        store = self.hub.store
        now = self.hub.clock.time()
        try:
            await store.call(store.transaction, lambda db: alerts._insert_deliveries(
                db, 0, recipients, "automation", text, None, now))
        except sqlite3.DatabaseError as exc:
            log.error("automation %s: could not queue the message for %s (%s)", auto.name, notify, exc)
            return
        alerts._wake(recipients)

    async def later(self, name: str, replies: list[Reply]) -> None:
        """What a command of automation `name` says later (a timer's switch-back, a shutter
        arriving): an automation has no conversation to answer in, so it goes where its runs are
        told (`notify`), or to its owner."""
        auto = self.by_name.get(name)
        if auto is None or not replies:
            return
        notify = [n if n != "owner" else auto.owner for n in (auto.settings.notify or ["owner"])]
        with speaking(self.hub.auth.language_of(auto.owner)):
            told = _("Automation {name!r}: {result}").format(name=name, result=" ".join(r.text for r in replies))
        await self._tell(auto, notify, told)

    async def missed(self, name: str, due: float, following: float | None) -> None:
        """An `at` run the hub could not make in time (down, clock stepped): tell the owner."""
        auto = self.by_name.get(name)
        if auto is None:
            return
        tz = self.hub.timers.tz
        now = self.hub.clock.time()
        auto.last_result = self._said(N_("missed the run due {when}"), when=local_time(due, tz, now))
        await self._record(auto, "automation-missed", auto.last_result)
        with speaking(self.hub.auth.language_of(auto.owner)):
            then = " " + _("Next run: {when}.").format(when=local_time(following, tz, now)) if following else ""
            told = _("Automation {name!r} was due at {when} but the hub could not run it within the grace: "
                     "skipped.").format(name=name, when=local_time(due, tz, now)) + then
        await self._tell(auto, [auto.owner], told)

    # ---- chat --------------------------------------------------------------------------------

    async def set_enabled(self, name: str, enabled: bool) -> Automation | None:
        auto = self.find(name)
        if auto is None:
            return None
        auto.enabled = enabled
        if enabled:
            if (auto.stopped or "").startswith(LOOP_GUARD):
                auto.stopped = None
                if auto.last_result.startswith(LOOP_GUARD):
                    auto.last_result = ""           # `automations` would still say "stopped"
                with speaking(self.hub.auth.language_of(auto.owner)):
                    text = _("Automation {name!r} was enabled again.").format(name=auto.name)
                try:
                    await self.hub.notifications.resolve_key(GUARD_SOURCE, auto.name, text)
                except sqlite3.DatabaseError as exc:     # its alert stays listed until acknowledged
                    log.warning("automation %s: its loop-guard alert could not be closed (%s)", auto.name, exc)
            auto.recent.clear()
            self._rearm(auto)
        self._dirty.add(auto.name)
        await self._save({auto.name})
        return auto

    def _rearm(self, auto: Automation) -> None:
        """An automation enabled again while its condition holds, whose run it missed while off
        (the hall empty for 10 minutes, the light left on): with a `for`, the hold counts again
        from now; without one, it fires now, as it would have."""
        trigger = auto.trigger
        if trigger is None or not auto.holding or auto.fired or not _levelled(auto):
            return
        if trigger.hold:
            auto.due, auto.due_from_wall = self.hub.clock.monotonic() + trigger.hold, False
            self._wake.set()
        else:
            auto.fired = True
            self._queue(auto, self._said(N_("{when} (enabled again while it holds)"), when=auto.settings.when))

    def find(self, name: str) -> Automation | None:
        folded = " ".join(name.split()).casefold()
        return next((a for a in self.by_name.values() if a.name.casefold() == folded), None)

    async def describe(self) -> list[str]:
        """One line per automation: state, trigger, last run and result, next run."""
        tz = self.hub.timers.tz
        now = self.hub.clock.time()
        lines = []
        for auto in self.by_name.values():
            running = auto.enabled and not auto.stopped
            if running:
                state = pgettext("automation", "enabled")
            elif not auto.stopped:
                state = pgettext("automation", "disabled")
            elif auto.stopped.startswith(LOOP_GUARD):
                state = _("stopped: ran {count} times within a minute").format(count=auto.limit)
            else:
                state = auto.stopped
            # `when`/`at` and `do` are shown as config.toml says them: they are its syntax (a
            # schedule starts with its own word: every…, tous les…, cron…).
            trigger = _("when {condition}").format(condition=auto.settings.when) if auto.settings.when else \
                str(auto.settings.at)
            last = _("last {when}").format(when=local_time(auto.last_run, tz, now)) if auto.last_run else \
                _("never run")
            # The loop guard's stop is the state already (said in the reader's language).
            result = f" ({auto.last_result})" if auto.last_result and not auto.last_result.startswith(LOOP_GUARD) \
                else ""
            upcoming = await self.hub.timers.next_automation_run(auto.name) if auto.settings.at else \
                None if auto.due is None else now + auto.due - self.hub.clock.monotonic()
            following = _("; next {when}").format(when=local_time(upcoming, tz, now)) if upcoming and running else ""
            lines.append(_("{name} [{state}] {trigger} -> {commands} as {owner}; {last}{result}{following}").format(
                name=auto.name, state=state, trigger=trigger, commands="; ".join(auto.settings.do), owner=auto.owner,
                last=last, result=result, following=following))
        return lines


def _levelled(auto: Automation) -> bool:
    """A condition that holds for a while (`chambre < 19`, `hall_motion off for 10m`), not a
    moment (`changed`) or a silence (`offline`, which the engine follows by itself)."""
    return auto.trigger is not None and auto.trigger.condition.kind not in ("changed", "offline")


def _acts(spec: CommandSpec | None) -> bool:
    return spec is not None and spec.needs_user
