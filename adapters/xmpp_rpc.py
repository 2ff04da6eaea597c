"""Scripts' way into the hub over XMPP: Jabber-RPC (XEP-0009) and ad-hoc commands (XEP-0050).

Both expose the same operations through `HubService`, with the router's permission rules
applied to the calling JID: reading needs the `read` grant, switching the `switch` grant AND a
configured user, `hub.command` goes through the router itself. Refusals are audited.

slixmpp's Jabber-RPC object layer (remote.py) is broken (invalid fault XML that kills the
stream, coroutines passed to asyncio.wait, no timeouts), so calls are answered at the
stanza level with the wire format of adapters.xmpp_rpc_client; every call gets an answer, a
result or a fault, within `rpc_timeout`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from chatops import render
from chatops.config import DeviceType
from chatops.home import SWITCH_STATES, Device, format_value
from chatops.message import Address, Identity, Message, Reply
from adapters.xmpp_rpc_client import Fault, FaultCode, fault_query, parse_call, result_query

if TYPE_CHECKING:
    from chatops.auth import User
    from chatops.hub import Hub

    from adapters.xmpp_settings import Settings

log = logging.getLogger(__name__)
# Ad-hoc sessions wait for their form up to 300 s, about 18 kB each: strangers (anyone on the
# federated network, from ever new JIDs) hold at most this many at once, and each JID three.
MOST_STRANGER_SESSIONS = 32
MOST_SESSIONS_EACH = 3


class HubService:
    """hub.read, hub.switch, hub.command, hub.devices for one caller at a time."""

    def __init__(self, hub: Hub, adapter: str) -> None:
        self.hub = hub
        self.adapter = adapter

    async def call(self, caller: Identity, method: str, params: list[Any]) -> Any:
        """Run `method(*params)` as `caller`; raises Fault."""
        handlers: dict[str, Callable[..., Coroutine[Any, Any, Any]]] = {
            "hub.read": self.read, "hub.switch": self.switch, "hub.command": self.command,
            "hub.devices": self.devices,
        }
        handler = handlers.get(method)
        if handler is None:
            raise Fault(FaultCode.UNKNOWN_METHOD, f"no method {method!r}; known: {', '.join(sorted(handlers))}")
        arity = {"hub.read": 1, "hub.switch": 2, "hub.command": 1, "hub.devices": 0}[method]
        if len(params) != arity or not all(isinstance(p, str) for p in params):
            usage = {"hub.read": "hub.read(device)", "hub.switch": "hub.switch(device, \"on\"|\"off\"|\"toggle\")",
                     "hub.command": "hub.command(text)", "hub.devices": "hub.devices()"}[method]
            raise Fault(FaultCode.BAD_PARAMS, f"expected {usage} with string arguments")
        return await handler(caller, *params)

    # ---- permissions ----------------------------------------------------------------------

    async def permit(self, caller: Identity, command: str, text: str, *, metered: bool = True) -> User | None:
        """The hub's one access decision for `command` (permission, rate limit for everyone,
        configured user where the command needs one), or Fault after an audit entry."""
        spec = self.hub.commands.find(command)
        user = self.hub.auth.user_for(caller)
        refusal = self.hub.access.authorize(str(caller), user, spec, metered=metered)
        if refusal is None:
            return user
        if not metered:
            # The question asked first, for the right fault code, was refused: the call still costs
            # the caller a token, as a refused chat line does, or refusals flow without limit.
            refusal = self.hub.access.authorize(str(caller), user, None) or refusal
        self.hub.observe_command(command, "refused", 0.0)      # counted as a chat line's refusal is
        await self._audit(refusal.kind, caller, text, f"{refusal.detail} (rpc)")
        if refusal.kind == "rate-limited":
            raise Fault(FaultCode.RATE_LIMITED, "too many calls; wait a minute")
        who = "you" if user is None else user.name
        hint = " (only configured users may)" if user is None and spec is not None and spec.needs_user else ""
        raise Fault(FaultCode.NOT_PERMITTED, f"{who} may not use {command}{hint}")

    async def _audit(self, kind: str, caller: Identity, text: str, detail: str) -> None:
        self.hub.audit.record(kind, str(caller), f"{self.adapter}:{caller.id}", text, detail, fold=True)

    async def _device(self, caller: Identity, command: str, text: str, name: str) -> Device:
        device = self.hub.home.find(name)
        if device is None:
            # The names are `read`'s to show (as a chat line's did-you-mean): not to whoever may
            # only switch.
            known = ", ".join(sorted(self.hub.home.devices)) or "none"
            listed = f"; devices: {known}" \
                if self.hub.router.refusal(self.hub.auth.user_for(caller), "read", str(caller)) is None else ""
            await self._fail(caller, command, text, Fault(FaultCode.NO_SUCH_DEVICE, f"no device called {name!r}{listed}"))
        assert device is not None
        return device

    async def _fail(self, caller: Identity, command: str, text: str, fault: Fault) -> None:
        """Raise `fault` for a call that ends before the router: it still costs the caller a rate
        token (a refusal past the limit), as a chat line naming no device does."""
        await self.permit(caller, command, text)
        raise fault

    # ---- operations -----------------------------------------------------------------------

    async def _run(self, caller: Identity, line: str) -> list[Reply]:
        """Run `line` through the router, as a chat line from the caller: the one sequence of
        resolve, authorize, rate limit, audit and metrics. The caller asked the permission
        first (unmetered) to answer with the right fault code; a refusal here is the rate limit."""
        outcome, replies = await self.hub.router.run(Message(caller, Address(self.adapter, caller.id, True), line,
                                                             addressed=True))
        if outcome == "refused":
            raise Fault(FaultCode.RATE_LIMITED, "too many calls; wait a minute")
        if outcome != "ok":
            raise Fault(FaultCode.DEVICE_ERROR, " ".join(r.text for r in replies) or f"{line}: {outcome}")
        return replies

    async def read(self, caller: Identity, name: str) -> dict[str, Any]:
        """{device, label, value, unit, timestamp (Unix seconds), time (ISO 8601, UTC), stale}:
        the `read` command, run as a chat line would be, answered as structured data."""
        text = f"hub.read {name}"
        await self.permit(caller, "read", text, metered=False)
        device = await self._device(caller, "read", text, name)
        if device.type is DeviceType.CAMERA:
            await self._fail(caller, "read", text, Fault(FaultCode.DEVICE_ERROR,
                                                         f"{device.label} is a camera; it has no value to read"))
        await self._run(caller, f'read "{device.name}"')
        reading = device.reading
        if reading is None:
            raise Fault(FaultCode.DEVICE_ERROR, f"no reading from {device.label} yet")
        return {"device": device.name, "label": device.label, "value": reading.value, "unit": device.unit,
                "timestamp": float(reading.at), "time": _iso(reading.at), "stale": device.is_stale()}

    async def switch(self, caller: Identity, name: str, state: str) -> dict[str, Any]:
        """Switch and wait for the device's confirmation: {device, state "ON"|"OFF", on, time}.

        It runs the `switch` command, as a chat line would: one way to switch (timers superseded,
        the same audit); the permission is asked first only to answer with the right fault code."""
        wanted_word = state.strip().casefold()
        if wanted_word not in SWITCH_STATES:
            raise Fault(FaultCode.BAD_PARAMS, f"state must be {', '.join(SWITCH_STATES)}, not {state!r}")
        text = f"hub.switch {name} {state}"
        await self.permit(caller, "switch", text, metered=False)
        device = await self._device(caller, "switch", text, name)
        if not device.switchable:
            await self._fail(caller, "switch", text, Fault(
                FaultCode.DEVICE_ERROR, f"{device.label} is a {device.type.value}; it cannot be switched"))
        if wanted_word == "toggle":
            if device.reading is None:
                await self._fail(caller, "switch", text, Fault(
                    FaultCode.DEVICE_ERROR, f"the state of {device.label} is unknown; say on or off"))
            wanted = not bool(device.reading.value)
        else:
            wanted = wanted_word == "on"
        replies = await self._run(caller, f'switch "{device.name}" {"on" if wanted else "off"}')
        said = " ".join(r.text for r in replies)
        reading = device.reading
        if reading is None or reading.value != wanted or said.startswith("No confirmation"):
            raise Fault(FaultCode.DEVICE_ERROR, said or f"cannot switch {device.label}")
        log.info("%s switched %s %s over XMPP", caller, device.name, "on" if wanted else "off")
        return {"device": device.name, "state": "ON" if wanted else "OFF", "on": wanted, "time": _iso(reading.at)}

    async def command(self, caller: Identity, text: str) -> str:
        """Any command line, run as the caller would in a chat; the replies' text."""
        message = Message(caller, Address(self.adapter, caller.id, True), text, addressed=True)
        outcome: list[str] = []
        replies = await self.hub.execute(message, outcome=outcome)
        if outcome[:1] == ["refused"]:
            # A script must tell a refusal from an answer without reading it: a fault, as for
            # hub.read and hub.switch (the refusal's own words, or the rate limit's: 5, to back off).
            said = " ".join(r.text for r in replies if r.text)
            code = FaultCode.RATE_LIMITED if "rate-limited" in outcome else FaultCode.NOT_PERMITTED
            raise Fault(code, said or "too many calls; wait a minute")
        lines = [r.text for r in replies if r.text]
        for reply in replies:
            for attachment in reply.attachments:
                url = render.image_link(self.hub.web, attachment)
                lines.append(f"[image] {url}" if url else f"[image] {render.NO_LINK}")
        return "\n".join(lines)

    async def devices(self, caller: Identity) -> list[dict[str, Any]]:
        """[{name, type, label, unit, aliases, value?, time?}] sorted by name."""
        await self.permit(caller, "devices", "hub.devices", metered=False)
        # The list shows every device's value: `read`'s to show, as the chat command says.
        await self.permit(caller, "read", "hub.devices", metered=False)
        await self._run(caller, "devices")
        result = []
        for device in sorted(self.hub.home.devices.values(), key=lambda d: d.name):
            entry: dict[str, Any] = {"name": device.name, "type": device.type.value, "label": device.label,
                                     "unit": device.unit, "aliases": list(device.settings.aliases)}
            if device.reading is not None:
                entry["value"] = device.reading.value
                entry["time"] = _iso(device.reading.at)
            result.append(entry)
        return result


def _iso(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).isoformat(timespec="seconds")


def caller_of(jid: Any, rooms: dict[str, Any]) -> Identity:
    """The Identity of an iq's sender: its bare JID, untrusted when it speaks from inside a room."""
    bare = str(jid.bare)
    if bare in rooms:
        return Identity("xmpp", str(jid), display=jid.resource, trusted=False)
    return Identity("xmpp", bare, display=jid.user or bare)


# ---- wiring into slixmpp ----------------------------------------------------------------------

Spawn = Callable[..., asyncio.Task[Any]]
On = Callable[[Any, str, Callable[[Any], Any]], None]


class Endpoints:
    """The RPC responder and the ad-hoc commands of one client."""

    def __init__(self, xmpp: Any, service: HubService, settings: Settings, spawn: Spawn,
                 rooms: Callable[[], dict[str, Any]]) -> None:
        self.xmpp = xmpp
        self.service = service
        self.settings = settings
        self.spawn = spawn
        self.rooms = rooms

    # ---- Jabber-RPC ------------------------------------------------------------------------

    def on_call(self, iq: Any) -> None:
        self.spawn(self.answer(iq), "rpc")

    async def answer(self, iq: Any) -> None:
        """Answer one methodCall iq with a result or a fault, never silence."""
        caller = caller_of(iq["from"], self.rooms())
        method = "?"
        try:
            query = iq.xml.find("{jabber:iq:rpc}query")
            if query is None:
                raise Fault(FaultCode.PARSE_ERROR, "expected <query xmlns='jabber:iq:rpc'>")
            method, params = parse_call(query)
            async with asyncio.timeout(self.settings.rpc_timeout):
                result = await self.service.call(caller, method, params)
            payload = result_query(result)
        except Fault as fault:
            payload = fault_query(fault.code, fault.message)
            log.info("rpc %s from %s: fault %d %s", method, caller, fault.code, fault.message)
        except TimeoutError:
            payload = fault_query(FaultCode.TIMEOUT, f"{method} took longer than {self.settings.rpc_timeout:g}s")
        except Exception as exc:
            log.exception("rpc %s from %s failed", method, caller)
            payload = fault_query(FaultCode.INTERNAL, f"internal error ({type(exc).__name__}); see the hub's log")
        reply = iq.reply(clear=True)
        reply.append(payload)
        reply.send()

    # ---- ad-hoc commands -------------------------------------------------------------------

    def session_started(self) -> None:
        """Register the commands for the bound JID (only then do they show in disco listings)."""
        if not self.settings.adhoc:
            return
        adhoc = self.xmpp.plugin["xep_0050"]
        for node, name, handler in (("read", "Read a device", self._read_form),
                                    ("switch", "Switch a device", self._switch_form),
                                    ("command", "Run a command", self._command_form)):
            adhoc.add_command(node=node, name=name, handler=handler, timeout=300)

    def _form(self, title: str) -> Any:
        return self.xmpp.plugin["xep_0004"].make_form(ftype="form", title=title)

    def _devices_field(self, form: Any, wanted: Callable[[Any], bool]) -> None:
        field = form.add_field(var="device", ftype="list-single", label="Device", required=True)
        for device in sorted(self.service.hub.home.devices.values(), key=lambda d: d.name):
            if wanted(device):
                field.add_option(label=device.label, value=device.name)

    async def _read_form(self, iq: Any, session: dict[str, Any]) -> dict[str, Any]:
        form = self._form("Read a device")
        self._devices_field(form, lambda device: device.type is not DeviceType.CAMERA)    # what hub.read reads
        return await self._ask(session, "read", form, self._read_done)

    async def _switch_form(self, iq: Any, session: dict[str, Any]) -> dict[str, Any]:
        form = self._form("Switch a device")
        self._devices_field(form, lambda device: device.switchable)       # a light too, as `switch` takes it
        field = form.add_field(var="state", ftype="list-single", label="State", required=True, value="on")
        for word in SWITCH_STATES:
            field.add_option(label=word, value=word)
        return await self._ask(session, "switch", form, self._switch_done)

    async def _command_form(self, iq: Any, session: dict[str, Any]) -> dict[str, Any]:
        form = self._form("Run a command")
        form.add_field(var="text", ftype="text-single", label="Command line", required=True)
        return await self._ask(session, None, form, self._command_done)

    async def _ask(self, session: dict[str, Any], permission: str | None, form: Any,
                   done: Callable[..., Any]) -> dict[str, Any]:
        """Show `form`, or end at once with the refusal when the caller may not use the command."""
        if permission is not None:
            try:
                await self.service.permit(caller_of(session["from"], self.rooms()), permission,
                                          f"ad-hoc {permission}")
            except Fault as fault:
                session.update(payload=None, next=None, notes=[("error", fault.message)])
                return session
        session.update(payload=form, next=done, has_next=False, allow_complete=True)
        return session

    async def _read_done(self, payload: Any, session: dict[str, Any]) -> dict[str, Any]:
        async def run(caller: Identity, values: dict[str, Any]) -> str:
            r = await self.service.read(caller, _one(values, "device"))
            return f"{r['label']}: {format_value(r['value'], r['unit'])} (at {r['time']})"
        return await self._finish(payload, session, run)

    async def _switch_done(self, payload: Any, session: dict[str, Any]) -> dict[str, Any]:
        async def run(caller: Identity, values: dict[str, Any]) -> str:
            r = await self.service.switch(caller, _one(values, "device"), _one(values, "state"))
            return f"{r['device']} is {r['state']}"
        return await self._finish(payload, session, run)

    async def _command_done(self, payload: Any, session: dict[str, Any]) -> dict[str, Any]:
        async def run(caller: Identity, values: dict[str, Any]) -> str:
            return await self.service.command(caller, _one(values, "text")) or "(no reply)"
        return await self._finish(payload, session, run)

    async def _finish(self, payload: Any, session: dict[str, Any],
                      run: Callable[[Identity, dict[str, Any]], Coroutine[Any, Any, str]]) -> dict[str, Any]:
        """Run the operation with the submitted form; the outcome goes back as a note."""
        caller = caller_of(session["from"], self.rooms())
        forms = payload if isinstance(payload, list) else [payload]
        values: dict[str, Any] = {}
        for form in forms:
            if form is not None and hasattr(form, "get_values"):
                values.update(form.get_values())
        try:
            async with asyncio.timeout(self.settings.rpc_timeout):
                notes = [("info", await run(caller, values))]
        except Fault as fault:
            notes = [("error", fault.message)]
        except TimeoutError:
            notes = [("error", f"no answer within {self.settings.rpc_timeout:g}s")]
        except Exception as exc:
            log.exception("ad-hoc command %s from %s failed", session.get("node"), caller)
            notes = [("error", f"internal error ({type(exc).__name__}); see the hub's log")]
        session.update(payload=None, next=None, notes=notes, has_next=False)
        return session


def _one(values: dict[str, Any], key: str) -> str:
    value = values.get(key)
    if isinstance(value, list):
        value = value[0] if value else None
    if not value or not str(value).strip():
        raise Fault(FaultCode.BAD_PARAMS, f"the form needs a value for {key!r}")
    return str(value).strip()


def install(xmpp: Any, service: HubService, settings: Settings, spawn: Spawn, on: On,
            rooms: Callable[[], dict[str, Any]]) -> Endpoints:
    """Wire Jabber-RPC and the ad-hoc commands into `xmpp`; returns what the adapter keeps."""
    endpoints = Endpoints(xmpp, service, settings, spawn, rooms)
    if settings.rpc:
        on(xmpp, "jabber_rpc_method_call", endpoints.on_call)
    if settings.adhoc:
        guard_sessions(xmpp, lambda jid: service.hub.auth.user_for(caller_of(jid, rooms())) is None)
    return endpoints


def guard_sessions(xmpp: Any, stranger: Callable[[Any], bool]) -> None:
    """An ad-hoc session is continued only by the full JID that started it, and strangers
    (`stranger(jid)`: no configured user) hold a bounded number of sessions.

    slixmpp finds a session by its id alone and runs the next step as whoever started it, so
    anyone who learnt an id could finish an admin's `switch` form as the admin. Its `command`
    event handler is swapped for one that answers a stranger's step with `forbidden`. It also
    kept every session started (the `command` form asks nothing first) for its timeout: past
    MOST_STRANGER_SESSIONS of strangers' (MOST_SESSIONS_EACH of one JID), a start is answered
    `resource-constraint`; a configured user's start never is."""
    adhoc = xmpp.plugin["xep_0050"]
    original = adhoc._handle_command_all
    starting: list[str] = []            # bare JIDs of strangers whose start is being handled now

    def refuse(iq: Any, kind: str, condition: str, text: str) -> None:
        error = iq.reply()
        error.error()
        error["error"]["type"] = kind
        error["error"]["condition"] = condition
        error["error"]["text"] = text
        error.send()

    async def only_the_starter(iq: Any) -> None:
        session = adhoc.sessions.get(iq["command"]["sessionid"])
        if session is not None and str(session.get("from")) != str(iq["from"]):
            log.warning("ad-hoc session %s of %s continued by %s: refused", iq["command"]["sessionid"],
                        session.get("from"), iq["from"])
            refuse(iq, "cancel", "forbidden", "this session belongs to another client")
            return
        if session is not None or not stranger(iq["from"]):
            await original(iq)
            return
        bare = str(iq["from"].bare)
        held = [str(s["from"].bare) for s in adhoc.sessions.values()
                if s.get("from") is not None and stranger(s["from"])] + starting
        if len(held) >= MOST_STRANGER_SESSIONS or held.count(bare) >= MOST_SESSIONS_EACH:
            refuse(iq, "wait", "resource-constraint", "too many ad-hoc sessions open; finish one or try later")
            return
        starting.append(bare)
        try:
            await original(iq)
        finally:
            starting.remove(bare)

    xmpp.del_event_handler("command", original)
    xmpp.add_event_handler("command", only_the_starter)
