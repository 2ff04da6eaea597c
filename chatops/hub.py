"""Wires the parts together, owns every task in one TaskGroup, and shuts down cleanly.

Phases: `Hub(settings)` builds (no I/O), `await hub.run()` opens the store, starts MQTT,
the web server, the simulator, the alert engine and each enabled adapter under a
supervisor, and returns once `hub.stop()` is called (signals, end of console input).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import functools
import inspect
import logging
import os
import sqlite3
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

from .access import Access
from .adapter import RUNNING_ADAPTER, Adapter, NotLoaded, from_where_it_came
from .networks import Network, networks
from .alerts import AlertEngine
from .notify import Notifications
from .automations import Automations
from .audit import AuditTrail
from .auth import Auth, User
from .backoff import Backoff
from .broker import BrokerMissing, embedded_broker, embedded_secret, embedded_username
from .cameras import Cameras
from .clock import JUMP_CHECK_EVERY, SYSTEM_CLOCK, Clock, watch_jumps
from .durations import format_duration
from .eager import Expired, within
from .command import CommandSet, CommandSpec
from .plugins import Plugin, Storage, declared_config
from .config import ConfigError, Settings, loaded_adapter_class
from .extras import needs_module
from .i18n import _
from .history import History
from .lanes import Lanes
from .hub_device import HUB_NODE_PREFIX, HubDevice
from .home import Home
from .announced import Announced
from .message import Address, Identity, Message, Reply
from .metrics import Metrics
from .mqtt import MqttLink, broker_address
from .outbox import RetryLater, Undeliverable, Unread
from .preflight import data_dir_problem, listen_problems, web_message
from .render import fit
from .router import Router
from .store import Store
from .timers import Timers
from .url_secrets import masked

if TYPE_CHECKING:
    from .web import WebServer

log = logging.getLogger(__name__)
# A reply paced out line by line (IRC, a line a second) may take minutes; one that takes longer
# is stuck, and its conversation with it.
REPLY_SEND_TIMEOUT = 300.0


READY_WITHIN = 30              # seconds a network's first connection is waited for before the hub is ready
LANE_BOUND = 20                 # lines waiting per conversation before strangers' lines are dropped


class _Stop(Exception):
    """Raised inside the TaskGroup to end it once stop() was called."""


class StartupError(Exception):
    """The hub cannot start (a port taken, ...); each of `problems` says what to change.
    `lasting`: starting again cannot help until someone changes something (the data folder),
    unlike a port another process holds for a moment (systemd stops restarting on the first)."""

    def __init__(self, *problems: str, lasting: bool = False) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)
        self.lasting = lasting


class Hub:
    """One home hub: settings in, a running service out."""

    def __init__(self, settings: Settings, *, console: bool = False, tty: bool | None = None,
                 clock: Clock | None = None) -> None:
        self.clock: Clock = clock or SYSTEM_CLOCK
        self.settings = settings
        self.started_monotonic = self.clock.monotonic()
        self.clock_jumps = 0                            # wall clock steps seen (status, tests)
        name = settings.hub.name
        self.mqtt = MqttLink(settings.mqtt, settings.mqtt.client_id or f"chatops-{name}-{os.getpid()}",
                             status_topic=f"chatops/{name}/status")
        self.home = Home(settings.devices, self.mqtt, clock=self.clock)
        self.home.command_of = lambda word: spec.name if (spec := self.commands.find(word)) else None
        self.announced = Announced(self.home, self.mqtt, settings.mqtt.discovery_prefix, HUB_NODE_PREFIX)
        self.store = Store(settings.data_dir / "chatops.db")
        self.audit = AuditTrail(self.store, settings.hub.audit_retention, self.clock.monotonic)
        self.auth = Auth(settings)
        self.access = Access.from_auth(self.auth, settings.base_dir, settings.hub.rate_limit, self.clock.monotonic)
        self.commands = CommandSet.from_modules()
        for taken in self.commands.yielded:
            log.info("command word %s", taken)
        self.router = Router(self, self.commands, self.access, self._audit_refusal, self.home.find, self.home.words)
        self.alerts = AlertEngine(self)
        self.notifications = Notifications(self)
        self.history = History(self.store, settings.history)
        self.cameras = Cameras(self)
        self.timers = Timers(self)
        self.automations = Automations(self)
        self.metrics = Metrics(self)
        self.hub_device: HubDevice | None = None       # made at start, once the adapters are known
        self.ready = asyncio.Event()
        self.tasks: set[asyncio.Task[object]] = set()
        self._stop = asyncio.Event()
        self._fatal: str | None = None
        self._fatal_lasting = False
        # Lines of one conversation are answered in order; strangers' answers go out in order
        # behind everyone else's, one lane per adapter, without holding up the next line.
        self.lanes: Lanes[Message] = Lanes("lane", self._answer, self.spawn, bound=LANE_BOUND,
                                           droppable=lambda m: self.auth.user_for(m.sender) is None,
                                           dropped_what="lines from unknown senders")
        self._low_replies: Lanes[tuple[Address, Reply]] = Lanes(
            "low-replies", self._send_low, self.spawn, bound=10 * LANE_BOUND, droppable=lambda _: True,
            dropped_what="replies to unknown senders")
        self._overtaking: set[str] = set()     # conversations with a line running ahead of its lane
        self._task_group: asyncio.TaskGroup | None = None
        tty = sys.stdin.isatty() if tty is None else tty
        self.adapters: dict[str, Adapter] = {}
        for instance, kind, section in settings.enabled_adapters(console, tty):
            if (adapter := loaded_adapter_class(kind)) is not None:
                try:
                    self.adapters[instance] = adapter(instance, section)
                except Exception as exc:        # a plugin's bug: that network is down, the hub starts
                    log.error("adapter %s (%s) could not be built: %s: %s", instance, kind, type(exc).__name__, exc)
                    self.adapters[instance] = NotLoaded(instance, kind, masked(f"its adapter raised {type(exc).__name__}"
                                                                               f": {exc}"))
            else:
                self.adapters[instance] = NotLoaded(instance, kind, networks().broken.get(kind, "it failed to load"))
        self.web: WebServer | None = None
        if settings.web.enabled:
            from .web import WebServer  # aiohttp is imported only when the web server is on (memory)
            self.web = WebServer(self)
        if self.web is not None:
            self.adapters[self.web.chat.name] = self.web.chat

    # ---- lifecycle -------------------------------------------------------------------

    async def run(self) -> None:
        """Run until stop(); every task is cancelled and awaited before this returns.

        What the machine must provide (data folder, free ports) is checked before anything
        starts, so every such problem is reported at once and nothing is left half-started."""
        data_dir, ports = await asyncio.to_thread(self._preflight)
        if data_dir or ports:
            raise StartupError(*data_dir, *ports, lasting=bool(data_dir))
        self.notifications.read_tokens()
        await self.store.open()
        try:
            async with AsyncExitStack() as stack:
                if self.web is not None:
                    try:
                        await self.web.start()
                    except OSError as exc:         # taken since the preflight check
                        reason = os.strerror(exc.errno) if exc.errno else str(exc)
                        raise StartupError(web_message(self.settings.web.listen, reason)) from None
                    stack.push_async_callback(self.web.stop)
                try:
                    async with asyncio.TaskGroup() as group:
                        self._task_group = group
                        self.spawn(self._run_mqtt(), "mqtt")
                        self.spawn(self.audit.run(), "audit-trail")
                        await self.home.start()
                        self.spawn(self.home.subscribe_adopted(), "discovered-devices")
                        await self.announced.start()
                        await self.history.start(self)
                        await self.cameras.start()
                        await self.alerts.start()
                        await self.notifications.start()
                        await self.timers.start()
                        await self.automations.start()
                        if self.settings.simulator.enabled:
                            from .sim import SimulatedHome
                            from .sim_past import simulate_past_day
                            await simulate_past_day(self)
                            self.spawn(SimulatedHome(self.settings.simulator, self.mqtt).run(), "simulator")
                        for key, adapter in self.adapters.items():
                            if self.web is None or adapter is not self.web.chat:
                                self.spawn(self._supervise(adapter, key), f"adapter-{adapter.name}")
                        self.hub_device = HubDevice(self)
                        await self.hub_device.start()
                        self.spawn(self._watch_ready(), "ready")
                        self.spawn(watch_jumps(self.clock, self._clock_jumped), "clock-jumps")
                        self._notify_systemd()
                        await self._stop.wait()
                        raise _Stop
                except* _Stop:
                    pass
        finally:
            self._task_group = None
            await self.store.close()
            log.info("hub stopped")
        if self._fatal:
            raise StartupError(self._fatal, lasting=self._fatal_lasting)

    def _preflight(self) -> tuple[list[str], list[str]]:
        """Problems with the data folder, and with the listening ports (blocking: run in a thread)."""
        problem = data_dir_problem(self.settings, create=True)
        return ([problem] if problem else []), listen_problems(self.settings, web=self.web is not None)

    def _clock_jumped(self, seconds: float) -> None:
        """The wall clock stepped: say it once, and let what waits on wall time look again now.
        Durations (cooldowns, rate limits, link expiry, backoffs) are on monotonic time: untouched."""
        direction = "forward" if seconds > 0 else "back"
        log.warning("the wall clock jumped %s by %s (NTP after a boot without a real-time clock?); timers, "
                    "alert reminders and delivery retries are checked again now", direction,
                    format_duration(abs(seconds)))
        self.clock_jumps += 1
        self.home.restamp(seconds, self.clock.monotonic() - JUMP_CHECK_EVERY)
        if seconds < 0:
            self.spawn(self._step_back(seconds), "clock-stepped-back")
        self.timers.wake()
        self.automations.clock_jumped()
        self.alerts.reminders.wake()
        self.alerts.outbox.wake_all()

    async def _step_back(self, seconds: float) -> None:
        """The wall clock went back: what counts real time from a stored wall-clock due time
        (`every 15m`, a `for` switch-back, alert reminders) moves back with it, or it would wait
        the step out (a reminder due in 5 min after an hour). Calendar times (`at 06:30`) stay."""
        from .store import alerts as alert_rows, timers as timer_rows

        store = self.store
        try:
            moved = await store.call(store.transaction, lambda db: (timer_rows.shift_intervals(db, seconds),
                                                                     alert_rows.shift_reminders(db, seconds)))
        except sqlite3.DatabaseError as exc:
            log.warning("after the clock stepped back, timers and reminders could not be moved with it (%s)", exc)
            return
        log.info("clock stepped back: %d interval timers and %d alert reminders moved with it", *moved)
        self.timers.wake()
        self.alerts.reminders.wake()

    def stop(self) -> None:
        """Ask the hub to shut down (idempotent, callable from signal handlers)."""
        self._stop.set()

    def spawn(self, coro: object, name: str, context: contextvars.Context | None = None) -> asyncio.Task[object]:
        """Start a named task owned by the hub's TaskGroup (in `context`, when given: a lane's
        worker); its failure is logged, not lost."""
        if self._task_group is None:
            raise RuntimeError("the hub is not running")
        guarded = self._guarded(coro, name)
        try:
            task = self._task_group.create_task(guarded, name=name, context=context)  # type: ignore[arg-type]
        except RuntimeError:                    # the hub is shutting down: nothing more starts
            guarded.close()
            if inspect.iscoroutine(coro):
                coro.close()
            raise
        self.tasks.add(task)
        task.add_done_callback(functools.partial(self._forget, coro))   # one callback: a lane per command
        return task

    def _forget(self, coro: object, task: asyncio.Task[object]) -> None:
        """A spawned task ended: drop it, and close its coroutine, which a task cancelled before
        its first step (start-up failed) never awaited: Python would warn "never awaited"."""
        self.tasks.discard(task)
        for unstarted in (task.get_coro(), coro):     # the wrapper too, or it warns in its place
            if inspect.iscoroutine(unstarted):
                unstarted.close()

    @staticmethod
    async def _guarded(coro: object, name: str) -> None:
        try:
            await coro  # type: ignore[misc]
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("task %s failed", name)

    async def _run_mqtt(self) -> None:
        s = self.settings.mqtt
        if s.url == "embedded":
            try:
                secret = await asyncio.to_thread(embedded_secret, self.settings.data_dir, True)
                assert secret is not None
                broker = embedded_broker(s.embedded_listen, embedded_username(s), secret)
                host, port = await broker.__aenter__()
            except (OSError, BrokerMissing) as exc:
                self._fatal = str(exc)
                self._fatal_lasting = isinstance(exc, BrokerMissing)     # an extra to install: restarts cannot help
                self.stop()
                return
            async with contextlib.AsyncExitStack() as stack:
                stack.push_async_exit(broker)
                self.embedded_port = port
                await self.mqtt.run(broker_address(s, self.settings.base_dir, port, self.settings.data_dir))
        else:
            await self.mqtt.run(broker_address(s, self.settings.base_dir))

    async def _supervise(self, adapter: Adapter, key: str | None = None) -> None:
        """Run an adapter forever: a crash is logged and the adapter restarted with backoff.
        `key`: its name among the hub's adapters (replies to its lines go there)."""
        backoff = Backoff(base=1.0, cap=60.0)
        RUNNING_ADAPTER.set(key or adapter.name)   # this task's own context: what it starts inherits it
        while True:
            try:
                await adapter.run(self)
                if not adapter.health.connected:
                    return                          # it ended and said why (the console at end of input)
                # Still "connected" with nothing running (a plugin's run that returned): /health
                # said all was well for ever. Down, said, and started again as after a crash.
                adapter.health.down("its run() returned while saying it was connected; started again")
                log.error("adapter %s: run() returned while its health said connected; an adapter runs until "
                          "cancelled: starting it again", adapter.name)
            except asyncio.CancelledError:
                raise
            except ConfigError as exc:
                adapter.health.down(f"configuration: {exc}")
                log.error("adapter %s cannot start: %s", adapter.name, exc)
                return
            except ImportError as exc:              # installing is the fix: trying again is not
                why = needs_module(adapter.network, exc.name or str(exc))
                adapter.health.down(why.partition(": ")[2])
                log.error("adapter %s cannot start: %s", adapter.name, why)
                return
            except Exception as exc:
                adapter.health.down(f"crashed: {type(exc).__name__}: {exc}")
                log.exception("adapter %s crashed; restarting", adapter.name)
            backoff.up()
            await asyncio.sleep(backoff.next_delay())

    def _notify_systemd(self) -> None:
        """Under systemd with Type=notify ($NOTIFY_SOCKET): READY, watchdog pings and STATUS."""
        if os.environ.get("NOTIFY_SOCKET"):
            from .systemd import Notifier
            notifier = Notifier.from_environment()
            if notifier is not None:
                self.spawn(notifier.run(self), "systemd")

    async def _watch_ready(self) -> None:
        await self.mqtt.connected.wait()
        if self.settings.simulator.enabled:
            from .sim_past import first_readings
            await first_readings(self)      # `devices` right after start shows the simulated values
        # Each network has connected or said why not; one whose first try is still running
        # after READY_WITHIN (a server that drops packets, an adapter that never reports) is
        # not waited for: the hub answers on the others, and /health names it.
        deadline, late = asyncio.get_running_loop().time() + READY_WITHIN, []
        for name, adapter in list(self.adapters.items()):
            try:
                async with asyncio.timeout_at(deadline):
                    await adapter.health.started_event.wait()
            except TimeoutError:
                late.append(f"{name} ({adapter.health.detail})")
        if late:
            log.warning("ready without %s: no answer from its server after %ds", ", ".join(late), READY_WITHIN)
        self.ready.set()
        log.info("hub ready in %.2fs", self.uptime)

    async def wait_ready(self, within: float) -> bool:
        """Wait for the hub to be ready, at most `within` seconds; whether it is. For the ways in
        that answer anyway after that (the console, SMS): what needs MQTT says so itself."""
        try:
            async with asyncio.timeout(within):
                await self.ready.wait()
        except TimeoutError:
            return False
        return True

    # ---- messages ----------------------------------------------------------------------

    def dispatch(self, message: Message) -> None:
        """Queue `message` for handling; lines of one conversation are answered in order.

        A lane holds at most LANE_BOUND lines: past that, a stranger's oldest line is dropped
        (a configured user's never is), so a flood in a channel cannot push a user's command
        minutes back."""
        message = from_where_it_came(message)     # before its lane: a lane's worker runs in a context of its own
        self.metrics.message_in(message.address.adapter)
        thread = message.address.thread
        key = f"{message.address} thread {thread}" if thread else str(message.address)
        if self.lanes.busy(key) and key not in self._overtaking and self.router.overtakes(message):
            # `volet stop` while `volet close` still waits for its motor: answered now, beside it
            # (one such line at a time per conversation; another waits its turn in the lane).
            self._overtaking.add(key)
            self.spawn(self._overtake(key, message), f"overtaking {key}")
            return
        self.lanes.put(key, message)

    async def _overtake(self, key: str, message: Message) -> None:
        try:
            await self._answer(message)
        finally:
            self._overtaking.discard(key)

    async def _answer(self, message: Message) -> None:
        address = message.address

        async def emit(reply: Reply) -> None:
            if reply.low_priority and not address.direct:
                # A stranger's answer in a room must not hold up the next line there; a direct
                # chat's lane holds only that stranger's own lines.
                self._low_replies.put(address.adapter, (address, reply))
            else:
                await self.send(address, reply)
        await self.router.answer(message, emit)

    async def _send_low(self, item: tuple[Address, Reply]) -> None:
        await self.send(*item)

    async def execute(self, message: Message, *, queued: bool = False, outcome: list[str] | None = None) -> list[Reply]:
        """Handle `message` and return its replies instead of sending them (RPC, console, tests);
        the caller hands them over (an HTTP answer, an RPC result): counted out here, unless
        `queued` (the caller puts them in the outbox, which counts each once it is sent).
        `outcome`, when given, receives the line's (ok, refused, unknown, error, timeout)."""
        adapter = message.address.adapter
        self.metrics.message_in(adapter)
        replies = await self.router.replies(message, outcome=outcome)
        if not queued:
            for _reply in replies:
                self.metrics.message_out(adapter)
        return replies

    async def run_as(self, user_name: str, text: str, address: Address,
                     outcome: list[str] | None = None) -> list[Reply]:
        """Run the command line `text` as the configured user `user_name` (timers, automations),
        through the same path as a chat line: permission, rate limit, audit. Replies are returned,
        not sent; `address` is where the result belongs (the conversation that set a timer).
        `outcome`, when given, receives the line's outcome (chatops.router.Router.run)."""
        user = self.auth.users.get(user_name)
        if user is None:
            raise KeyError(f"no [users.{user_name}] in the configuration")
        message = Message(Identity("hub", f"user:{user_name}", display=user_name), address, text, addressed=True)
        return await self.router.replies(message, as_user=user, outcome=outcome)

    def observe_command(self, command: str, outcome: str, seconds: float) -> None:
        """Called by the router once per command line: `command` is the command's name or
        "unknown", `outcome` one of ok, refused, error, timeout. Metrics hook."""
        self.metrics.observe_command(command, outcome, seconds)

    async def send_through(self, adapter: Adapter, address: Address, reply: Reply,
                           sent: list[int] | None = None) -> None:
        """Every way out (answers, the outbox, alerts sent from memory) ends here: the reply fitted
        to the network (chatops.render.fit: long text in pieces, pictures as links where the
        network carries none), then the adapter's `send` for each piece.

        `sent` counts the pieces already sent (the outbox keeps it per delivery): a retry after
        the second of two pieces failed starts there, instead of sending the first twice. A
        picture the network refuses for good (Telegram's PHOTO_INVALID_DIMENSIONS) is left out,
        and the words after it say so: an alarm is not lost for its picture."""
        pieces = fit(reply, adapter.capabilities, self.web)
        note = ""
        for index, piece in enumerate(pieces):
            if sent is not None and index < sent[0]:
                continue
            if note:
                piece = dataclasses.replace(piece, text=f"{piece.text} {note}")
                note = ""
            try:
                await adapter.send(address, piece)
            except Undeliverable as exc:
                if piece.text or index == len(pieces) - 1:
                    raise
                log.warning("%s refused a picture for %s (%s): the words go without it", adapter.name,
                            address.target, exc)
                note = _("(the picture could not be sent: {why})").format(why=str(exc)[:200])
            if sent is not None:
                sent[0] = index + 1

    async def send(self, address: Address, reply: Reply) -> None:
        """Send through the adapter named in `address`; failures are logged (replies are best-effort)."""
        adapter = self.adapters.get(address.adapter)
        if adapter is None:
            log.warning("no adapter %s for a reply to %s", address.adapter, address.target)
            return
        try:
            # A send that never returns (a plugin's bug, a network that stopped reading) held its
            # conversation's lane for good, without a word: given up after a long while, said.
            await within(self.send_through(adapter, address, reply), REPLY_SEND_TIMEOUT)
            self.metrics.message_out(address.adapter)
        except asyncio.CancelledError:
            raise
        except Expired:
            log.warning("a reply to %s through %s was given up: the adapter's send did not return within %gs",
                        address.target, address.adapter, REPLY_SEND_TIMEOUT)
        except (RetryLater, ConnectionError, Unread) as exc:     # a network's own refusal, already worded
            # (Unread: the web chat page that asked was closed before its answer came.)
            log.warning("a reply to %s through %s was dropped: %s", address.target, address.adapter, exc)
        except Exception:
            log.exception("sending a reply through %s failed", address.adapter)

    def plugin_of(self, spec: CommandSpec) -> Plugin:
        """The plugin `spec` comes from: its validated `[plugins.NAME]` table and its storage."""
        module = sys.modules[spec.func.__module__]
        config = declared_config(module)
        name = config[0] if config else spec.func.__module__
        return Plugin(name, self.settings.plugin_sections.get(name), Storage(self.store, name))

    @property
    def uptime(self) -> float:
        """Seconds since the hub started, on monotonic time (NTP's steps aside)."""
        return self.clock.monotonic() - self.started_monotonic

    @property
    def plugin_problems(self) -> dict[str, str]:
        """Plugins left out and why (for status and /health): those that failed to import, and
        networks whose settings or adapter module raised when the config or the start asked."""
        return {**networks().broken, **self.commands.broken}

    def networks_of(self, user: User) -> list[Network]:
        """The networks `user` has identities on, as their plugins describe them."""
        known = networks()
        return [n for name in user.settings.identities if (n := known.get(name)) is not None]

    def adapters_for(self, network: str) -> list[Adapter]:
        """Adapters of one network kind (`irc`) or the one named so (`irc.libera`)."""
        exact = self.adapters.get(network)
        return [exact] if exact else [a for a in self.adapters.values() if a.network == network]

    def _audit_refusal(self, kind: str, message: Message, detail: str, fold: bool = False) -> None:
        self.audit.record(kind, str(message.sender), str(message.address), message.text, detail, fold)

    # ---- state for /health and !status -------------------------------------------------

    def health(self) -> dict[str, object]:
        adapters = {name: a.health.as_dict() for name, a in self.adapters.items()}
        ready = self.ready.is_set()
        # "ok" only when nothing is missing: storage failing, the broker or a network lost once
        # ready (XMPP's password refused for good said "ok"), is "degraded" (answers and alerts
        # still go out, as far as they can); before it, "starting".
        degraded = not self.store.health.connected or (ready and not self.mqtt.health.connected) or (
            ready and not all(a.health.connected for a in self.adapters.values()))
        return {
            "ready": ready,
            "status": "degraded" if degraded else "ok" if ready else "starting",
            "name": self.settings.hub.name,
            "uptime": round(self.uptime, 1),
            "mqtt": self.mqtt.health.as_dict(),
            "store": {"ok": self.store.health.connected, "since": round(self.store.health.since, 3),
                      "detail": self.store.health.detail},
            "adapters": adapters,
        }


@contextlib.asynccontextmanager
async def running(hub: Hub, timeout: float = 15.0) -> AsyncIterator[Hub]:
    """Run `hub` in the background for the body of an `async with` (tests, benchmarks)."""
    task = asyncio.create_task(hub.run(), name="hub")
    try:
        async with asyncio.timeout(timeout):
            ready = asyncio.create_task(hub.ready.wait())
            done, _ = await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
            if task in done:
                ready.cancel()
                task.result()
                raise RuntimeError("the hub stopped before it was ready")
        yield hub
    finally:
        hub.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
