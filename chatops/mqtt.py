"""The hub's one MQTT connection: subscribe, deliver, publish, reconnect, resubscribe.

Subscriptions are registered once and restored inside every new connection (aiomqtt's
documented reconnect loop). Payloads beyond `max_payload` are dropped with a log line
before anyone parses them.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt

from .backoff import Backoff
from .broker import embedded_secret, embedded_username
from .config import MqttSettings, read_secret, split_listen
from .health import Health
from .i18n import _
from .tcp import ack_now

log = logging.getLogger(__name__)

SUBSCRIBE_BATCH = 100                  # filters per SUBSCRIBE packet (a few KiB, within any broker's limits)
# What the hub subscribes with. Its session is clean (nothing is kept for it while away), so
# QoS 1 buys no delivery TCP does not give, but its PUBACKs carry the ACKs a stock mosquitto's
# Nagle waits for (device states keep it, for their timing). Yet mosquitto queues at most 1,000
# messages for a client (max_queued_messages), counting QoS 1 ones first: with more retained
# discovery configs than that, 1,500 small ones were cut to about 1,000 at QoS 1 and all came at
# QoS 0. Bulk filters take QoS 0; thousands of large configs still need the broker's queue raised
# (docs/devices.md).
SUBSCRIBE_QOS, BULK_QOS = 1, 0

Listener = Callable[[str, bytes, bool], None]


class MqttUnavailable(Exception):
    """The broker is not reachable right now."""


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None
    ca_file: Path | None = None       # `[mqtt] ca_file`, relative to the config file's folder


def broker_address(settings: MqttSettings, base_dir: Path, embedded_port: int | None = None,
                   data_dir: Path | None = None) -> BrokerAddress:
    """Where `[mqtt]` says the broker is, with its credentials (the hub and the CLI share this).
    The embedded broker's password is the one the hub keeps in `data_dir` (chatops.broker)."""
    if settings.url == "embedded":
        host, port = split_listen(settings.embedded_listen)
        password = embedded_secret(data_dir, create=False) if data_dir is not None else None
        return BrokerAddress(host, embedded_port or port, False, embedded_username(settings), password)
    host, port_number, tls = settings.host_port_tls
    ca_file = base_dir / settings.ca_file if settings.ca_file else None
    return BrokerAddress(host, port_number, tls, settings.username, read_secret(settings, "password", base_dir),
                         ca_file)


def tls_context(address: BrokerAddress) -> ssl.SSLContext | None:
    """A verifying TLS context for an mqtts:// broker (plus `ca_file`), else None."""
    return ssl.create_default_context(cafile=address.ca_file) if address.tls else None


@functools.lru_cache(maxsize=4096)
def _filter_levels(topic_filter: str) -> tuple[str, ...]:
    levels = topic_filter.split("/")
    return tuple(levels[2:] if levels[0] == "$share" else levels)   # $share/<group>/<filter>


def _matches(topic_filter: str, topic: str) -> bool:
    """aiomqtt.Topic(topic).matches(topic_filter), without building and validating two objects
    per message and listener (it was a third of deliver()'s time, profiled with bench.ingest)."""
    wanted = _filter_levels(topic_filter)
    levels = topic.split("/")
    for index, part in enumerate(wanted):
        if part == "#":
            return True
        if index >= len(levels) or (part != "+" and part != levels[index]):
            return False
    return len(levels) == len(wanted)


def _unwatch_write(paho: Any) -> None:
    """Stop watching paho's socket for writing when it has nothing to write (after `send_now`).
    Should paho want to write later, it asks again, and aiomqtt watches it again."""
    sock = paho.socket()
    if sock is not None and not paho.want_write():
        asyncio.get_running_loop().remove_writer(sock.fileno())


class _Delivered(asyncio.Queue):  # type: ignore[type-arg]
    """Stands in for aiomqtt's queue of incoming messages (its `queue_type`): each message goes
    to `take` as paho parses it. aiomqtt's message iterator starts a task and an asyncio.wait
    for every message it takes from its queue: three loop turns and most of an echo's cost on
    the way back to a switch's handler (py-spy on bench.latency)."""

    def __init__(self, take: Callable[[aiomqtt.Message], None], maxsize: int = 0) -> None:
        super().__init__(maxsize)
        self._take = take

    def put_nowait(self, item: aiomqtt.Message) -> None:
        self._take(item)


def what_to_check(why: str, address: BrokerAddress) -> str:
    """`: what to check` for a reason the broker could not be reached, or "" when unsure (read by
    someone who just edited [mqtt] and sees the hub stay silent)."""
    folded = why.lower()
    if "not authori" in folded or "bad user name or password" in folded or "code:134" in folded \
            or "code:135" in folded or "code:4]" in folded or "code:5]" in folded:
        return ": the broker refused the login; check [mqtt] username and password_env / password_file"
    if "refused" in folded:
        return f": is a broker running at {address.host}:{address.port}? ([mqtt] url)"
    if "name or service not known" in folded or "nodename nor servname" in folded or "temporary failure in name" in folded:
        return f": {address.host!r} is no host name this machine knows; check [mqtt] url"
    if "certificate" in folded or "ssl" in folded:
        return ": the TLS handshake failed; check [mqtt] url (mqtts://) and [mqtt] ca_file"
    if "timed out" in folded or "timeout" in folded:
        return f": nothing answered at {address.host}:{address.port}; check [mqtt] url and the network"
    return ""


class MqttLink:
    """Owns the MQTT client; other parts register listeners and publish through it."""

    def __init__(self, settings: MqttSettings, client_id: str, status_topic: str) -> None:
        self.settings = settings
        self.client_id = client_id
        self.status_topic = status_topic
        self.health = Health()
        self.connected = asyncio.Event()
        self.address: BrokerAddress | None = None      # the broker run() connects to
        self._exact: dict[str, list[Listener]] = {}
        self._wildcard: list[tuple[str, Listener]] = []
        self._matched: dict[str, list[Listener]] = {}   # topic -> its wildcard listeners, as last matched
        self._limits: dict[Listener, int] = {}     # listeners that take payloads beyond max_payload
        self._client: aiomqtt.Client | None = None
        self._socket: Any = None               # paho's socket on the current connection (chatops.tcp.ack_now)
        self._subscribed: set[str] = set()     # filters subscribed on the current connection
        self._bulk: set[str] = set()           # filters subscribed at BULK_QOS (discovery's retained configs)
        self._pending: set[asyncio.Task[object]] = set()   # publishes and subscribes waiting for an ack
        self._aborted: set[asyncio.Task[object]] = set()   # of those, the ones cancelled by a drop
        self._latest: dict[str, object] = {}   # topic -> token of the newest publish_latest() not yet out
        self.dropped_payloads = 0
        self.received = 0                      # messages from the broker (metrics: a rate is messages/s)
        self.published = 0                     # publishes the broker confirmed

    async def subscribe(self, topic_filter: str, listener: Listener, *, max_payload: int | None = None) -> None:
        """Call `listener(topic, payload, retained)` for every message on `topic_filter`.

        `max_payload` raises the size limit for this listener alone (camera images); every
        other listener still gets only payloads within `[mqtt] max_payload`.
        """
        if max_payload is not None and max_payload > self.settings.max_payload:
            self._limits[listener] = max_payload
        await self.subscribe_all([(topic_filter, listener)])

    async def subscribe_all(self, wanted: list[tuple[str, Listener]], *, bulk: bool = False) -> None:
        """`subscribe` for several filters, in one SUBSCRIBE packet once connected: one round trip
        to the broker instead of one each (on a stock mosquitto, Nagle's algorithm and our delayed
        ACK can make each 40 ms: the Home Assistant device's three cost the first answer 45 ms).
        `bulk`: filters that bring thousands of retained messages at once, at BULK_QOS."""
        if bulk:
            self._bulk.update(f for f, _ in wanted)
        self.follow(wanted)
        await self.subscribe_filters([f for f, _ in wanted])

    def follow(self, wanted: list[tuple[str, Listener]]) -> None:
        """Register listeners now, from code that cannot await (an MQTT callback); what the
        broker must still be asked for goes with `subscribe_filters`."""
        for topic_filter, listener in wanted:
            if "+" in topic_filter or "#" in topic_filter:
                self._wildcard.append((topic_filter, listener))
                self._matched.clear()
            else:
                self._exact.setdefault(topic_filter, []).append(listener)

    async def subscribe_filters(self, filters: list[str]) -> None:
        """Ask the broker for those of `filters` not subscribed on this connection (`run`
        subscribes every followed filter at each connect)."""
        client = self._client
        missing = list(dict.fromkeys(f for f in filters if f not in self._subscribed))
        if client is not None and missing:
            self._subscribed.update(missing)
            failure = await self._acknowledged(client.subscribe([(f, self._qos(f)) for f in missing]))
            if failure is not None:
                log.warning("subscribe %s failed (%s); it is retried on reconnect", ", ".join(missing), failure)

    def unfollow(self, wanted: list[tuple[str, Listener]]) -> list[str]:
        """Stop calling those listeners (a device discovery withdrew); the filters no listener
        follows any more, for `unsubscribe_filters`. Without this, every changed announcement
        left its listeners (and the device they hold) behind for the hub's life."""
        for topic_filter, listener in wanted:
            if (topic_filter, listener) in self._wildcard:
                self._wildcard.remove((topic_filter, listener))
                self._matched.clear()
            elif listener in (listeners := self._exact.get(topic_filter, [])):
                listeners.remove(listener)
                if not listeners:
                    del self._exact[topic_filter]
            self._limits.pop(listener, None)
        followed = set(self._filters())
        return list(dict.fromkeys(f for f, _ in wanted if f not in followed))

    async def unsubscribe_filters(self, filters: list[str]) -> None:
        """Tell the broker to stop sending those of `filters` no listener follows now (one may
        have been followed again meanwhile: a device announced anew on the same topic)."""
        client = self._client
        followed = set(self._filters())
        gone = [f for f in dict.fromkeys(filters) if f in self._subscribed and f not in followed]
        if client is not None and gone:
            self._subscribed.difference_update(gone)
            failure = await self._acknowledged(client.unsubscribe(gone))
            if failure is not None:
                log.info("unsubscribe %s failed (%s); a reconnect leaves it out", ", ".join(gone), failure)

    def _qos(self, topic_filter: str) -> int:
        return BULK_QOS if topic_filter in self._bulk else SUBSCRIBE_QOS

    def _filters(self) -> list[str]:
        return list(dict.fromkeys([*self._exact, *(f for f, _ in self._wildcard)]))

    async def publish(self, topic: str, payload: str | bytes, *, retain: bool = False,
                      qos: int = 1, wait: float = 5.0) -> None:
        """Publish, waiting up to `wait` seconds for a connection; MqttUnavailable after that."""
        if not self.connected.is_set():
            try:
                async with asyncio.timeout(wait):
                    await self.connected.wait()
            except TimeoutError:
                raise MqttUnavailable(_("the MQTT broker is not reachable")) from None
        client = self._client
        if client is None:
            raise MqttUnavailable(_("the MQTT broker is not reachable"))
        failure = await self._acknowledged(client.publish(topic, payload, qos=qos, retain=retain, timeout=wait))
        if failure is not None:
            raise MqttUnavailable(_("MQTT publish failed: {why}").format(why=failure))
        self.published += 1

    async def send_now(self, topic: str, payload: str | bytes, wait: float = 5.0) -> None:
        """Publish at QoS 0 and write it to the socket at once (a device command whose state
        topic confirms it: `Home.publish_and_wait`).

        aiomqtt's publish hands the packet to paho, asks the loop (thread-safely: a self-pipe
        wake-up) to watch the socket for writing, writes one turn later and returns one or two
        turns after that: four loop turns and five system calls before a switch command even
        leaves (profiled with py-spy and strace on bench.latency). paho itself writes at once
        when no one asked to be told about writes: so for this one publish, that callback of
        aiomqtt's is set aside, and only a write the socket could not take whole is handed
        back to aiomqtt. Where paho's client is not there as aiomqtt's `_client` (another
        aiomqtt), the ordinary publish is used.

        paho then tells aiomqtt the publish is written, building a reason code and an MQTT 5
        properties object for it: two thirds of the publish's CPU (47 µs against 15 without,
        timing paho's publish alone to a loopback mosquitto). Nobody waits for this one, so when
        nothing else is queued (an aiomqtt publish whose caller does wait) that callback is set
        aside too."""
        paho = getattr(self._client, "_client", None)
        if not self.connected.is_set() or not hasattr(paho, "_call_socket_register_write") \
                or not hasattr(paho, "_out_packet"):
            await self.publish(topic, payload, qos=0, wait=wait)      # waits for the connection, or says why not
            return
        register = paho._on_socket_register_write
        told = paho._on_publish
        watch_coming = paho._registered_write      # an earlier write's watch request, maybe still on its way
        paho._on_socket_register_write = None
        if not paho._out_packet:
            paho._on_publish = None
        try:
            info = paho.publish(topic, payload, qos=0)
            if paho.want_write():
                paho.loop_write()         # paho held it back (called from inside one of its callbacks)
        finally:
            paho._on_socket_register_write = register
            paho._on_publish = told
        if info.rc != 0:
            raise MqttUnavailable(_("MQTT publish failed: {why}").format(why=aiomqtt.MqttCodeError(info.rc)))
        if paho.want_write():             # the socket took part of it: aiomqtt writes the rest
            paho._registered_write = False
            paho._call_socket_register_write()
        elif watch_coming:
            # We wrote what an earlier publish (a PUBACK, a QoS 1 state) had queued too: its
            # watch, asked thread-safely, lands after this turn and would then fire on every
            # turn with nothing to write (a core spinning while idle). Undo it once it landed.
            asyncio.get_running_loop().call_soon(_unwatch_write, paho)
        self.published += 1

    async def publish_latest(self, topic: str, payload: str | bytes) -> None:
        """Publish a retained state, again after each failure until the broker has it, unless a
        newer state for `topic` came meanwhile (alert states that Home Assistant follows).

        Whether this is still the newest is checked once connected, in the loop turn that sends
        it, so an older state never goes out after a newer one."""
        mine = object()
        self._latest[topic] = mine
        backoff = Backoff()
        try:
            while True:
                while not self.connected.is_set():
                    await self.connected.wait()
                if self._latest.get(topic) is not mine:
                    return
                try:
                    await self.publish(topic, payload, retain=True)
                    return
                except MqttUnavailable as exc:
                    log.warning("could not publish %s (%s); trying again", topic, exc)
                    await asyncio.sleep(backoff.next_delay())
        finally:
            if self._latest.get(topic) is mine:
                del self._latest[topic]

    async def _acknowledged(self, request: Coroutine[Any, Any, object]) -> str | None:
        """Await a request the broker must acknowledge: None once it did, else why not.

        When the connection drops meanwhile, `run()` cancels the wait (`_abort_pending`), and
        that cancellation becomes the answer "dropped" here; a cancellation from the task's own
        owner is never swallowed."""
        task = asyncio.current_task()
        assert task is not None
        self._pending.add(task)
        failure: str | None = None
        try:
            await request
        except aiomqtt.MqttError as exc:
            failure = str(exc) or type(exc).__name__
        except asyncio.CancelledError:
            if not self._take_abort(task):
                raise
            failure = "the connection dropped before the broker confirmed it"
        finally:
            self._pending.discard(task)
        # Confirmed in the same loop turn as the drop: asyncio's wait_for then returns the result
        # and drops our cancellation, which only needs taking back.
        self._take_abort(task)
        if task.cancelling():
            raise asyncio.CancelledError   # cancelled by our owner: aiomqtt may have hidden it
        return failure

    def _abort_pending(self) -> None:
        """Fail every request still waiting for its acknowledgement on a connection that is gone.

        aiomqtt leaves such a publish or subscribe waiting until its timeout (the acknowledgement
        cannot come on a new connection); that froze the simulated home for 10 s after a broker crash."""
        for task in self._pending:
            if task not in self._aborted:
                self._aborted.add(task)
                task.cancel("MQTT connection lost")

    def _take_abort(self, task: asyncio.Task[object]) -> bool:
        """Whether `_abort_pending` cancelled `task`; that cancellation is taken back if so."""
        if task not in self._aborted:
            return False
        self._aborted.discard(task)
        task.uncancel()
        return True

    def deliver(self, topic: str, payload: bytes, retained: bool) -> None:
        """Hand one message to its listeners (also used by tests and benchmarks in-process)."""
        self.received += 1
        listeners = list(self._exact.get(topic, ()))
        listeners += self._wildcard_listeners(topic)
        if len(payload) > self.settings.max_payload:
            default = self.settings.max_payload
            most = max((self._limits.get(fn, default) for fn in listeners), default=default)
            listeners = [fn for fn in listeners if len(payload) <= self._limits.get(fn, default)]
            if not listeners:
                self.dropped_payloads += 1
                # The limit that applied: a topic whose listener takes more (pictures, notifications)
                # is not helped by raising [mqtt] max_payload.
                limit = f"max_payload is {default}" if most == default else f"at most {most} bytes on this topic"
                log.warning("dropped a %d-byte payload on %s (%s)", len(payload), topic, limit)
                return
        for listener in listeners:
            try:
                listener(topic, payload, retained)
            except (Exception, asyncio.CancelledError):    # a listener's .result() of a cancelled future
                log.exception("listener for %s failed on a %d-byte payload", topic, len(payload))

    def _wildcard_listeners(self, topic: str) -> list[Listener]:
        """The listeners of the wildcard filters `topic` matches, remembered per topic: a device's
        state comes on the same topic again and again, and matching it against every filter
        (discovery, Tasmota, bridges) was a tenth of an echo's handling (bench.latency's profile)."""
        matched = self._matched.get(topic)
        if matched is None:
            if len(self._matched) >= 4096:       # topics seen once each (a busy broker's `#`)
                self._matched.clear()
            matched = self._matched[topic] = [fn for f, fn in self._wildcard if _matches(f, topic)]
        return matched

    async def run(self, address: BrokerAddress) -> None:
        """Connect, subscribe, deliver forever; reconnect with backoff. Cancel to stop."""
        backoff = Backoff(cap=self.settings.backoff_max)
        self.address = address
        will = aiomqtt.Will(self.status_topic, b"offline", qos=1, retain=True)
        while True:
            try:
                async with aiomqtt.Client(
                    address.host, address.port, username=address.username, password=address.password,
                    identifier=self.client_id, keepalive=self.settings.keepalive, will=will,
                    tls_context=tls_context(address), timeout=10,
                    queue_type=functools.partial(_Delivered, self._take),    # type: ignore[arg-type]
                ) as client:
                    self._client = client
                    self._socket = getattr(getattr(client, "_client", None), "socket", lambda: None)()
                    self._subscribed = set()
                    # Listeners may register while we subscribe: loop until every filter is in.
                    # Many filters per SUBSCRIBE packet: one round trip each on a stock mosquitto
                    # (Nagle on, delayed ACK here) cost 18 ms a filter, 220 ms for 12.
                    while missing := [f for f in self._filters() if f not in self._subscribed]:
                        for start in range(0, len(missing), SUBSCRIBE_BATCH):
                            batch = missing[start:start + SUBSCRIBE_BATCH]
                            self._subscribed.update(batch)
                            await client.subscribe([(topic_filter, self._qos(topic_filter)) for topic_filter in batch])
                    await client.publish(self.status_topic, b"online", qos=1, retain=True)
                    backoff.up()
                    self.health.up(f"{address.host}:{address.port}")
                    self.connected.set()
                    log.info("MQTT connected to %s:%d", address.host, address.port)
                    try:
                        # Never yields (each message was handed over as it came, see _Delivered):
                        # it ends, raising MqttError, when the connection drops.
                        async for _message in client.messages:
                            pass
                    except asyncio.CancelledError:
                        await self._say_offline(client)
                        raise
            except (aiomqtt.MqttError, OSError) as exc:
                self._mark_down(str(exc) or type(exc).__name__)
            finally:
                self._client = self._socket = None
                self.connected.clear()
                self._abort_pending()
            delay = backoff.next_delay()
            log.warning("MQTT disconnected (%s); reconnecting in %.1fs", self.why_down(), delay)
            await asyncio.sleep(delay)

    def _take(self, message: aiomqtt.Message) -> None:
        """One message from the broker, as paho parsed it (inside aiomqtt's read callback)."""
        ack_now(self._socket)                  # mosquitto's next message is not held 40 ms (chatops.tcp)
        payload = message.payload
        if isinstance(payload, str):
            payload = payload.encode()
        elif not isinstance(payload, (bytes, bytearray)):
            payload = str(payload).encode() if payload is not None else b""
        try:
            self.deliver(message.topic.value, bytes(payload), bool(message.retain))
        except (Exception, asyncio.CancelledError):   # must not reach paho: it would read the packet again
            log.exception("delivering a message on %s failed", message.topic.value)

    async def _say_offline(self, client: aiomqtt.Client) -> None:
        """The hub stops: publish `offline` on the status topic ourselves, since a clean disconnect
        discards the will (Home Assistant shows the hub's entities unavailable). Best effort, 1 s."""
        try:
            async with asyncio.timeout(1.0):
                await client.publish(self.status_topic, b"offline", qos=1, retain=True)
        except (TimeoutError, aiomqtt.MqttError, OSError) as exc:
            log.info("could not say offline on %s: %s", self.status_topic, exc)

    def why_down(self) -> str:
        """Why the broker is not connected, and what to check (the log line, the console)."""
        detail = self.health.detail
        return detail + (what_to_check(detail, self.address) if self.address is not None else "")

    def _mark_down(self, why: str) -> None:
        self.connected.clear()
        self.health.down(why)
