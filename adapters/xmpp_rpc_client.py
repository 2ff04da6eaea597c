"""Jabber-RPC (XEP-0009) for scripts: the wire format, an async client and `chatops rpc`.

The hub's XMPP adapter answers `jabber:iq:rpc` calls (hub.read, hub.switch, hub.command,
hub.devices); this module holds what both ends share (XML-RPC values and faults encoded as
`{jabber:iq:rpc}` elements, without slixmpp's broken fault encoder) and the client a shell
script uses:

    chatops rpc --jid script@example.org --to maison@example.org/chatops read salon

slixmpp is imported only when a client connects, so `chatops --help` stays cheap.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime as dt
import json
import logging
import math
import os
import sys
import time
import xml.etree.ElementTree as ET
from enum import IntEnum
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import slixmpp

log = logging.getLogger(__name__)

NS = "jabber:iq:rpc"
DEFAULT_RESOURCE = "chatops"          # the adapter's resource when its jid names none
MAX_DEPTH = 32
METHODS = {"read": "hub.read", "switch": "hub.switch", "command": "hub.command", "devices": "hub.devices"}


def import_slixmpp() -> ModuleType:
    """slixmpp, imported without pygments.

    When pygments is installed (pytest and rich pull it in; Debian ships it), slixmpp's import
    builds a terminal colouriser for its debug log of XML: 3 MB of RSS and ~50 ms of start-up
    spent on output nobody reads from a daemon. Hiding pygments for that one import leaves slixmpp
    its plain fallback; other code can still import pygments afterwards."""
    if sys.modules.get("slixmpp") is not None:
        return sys.modules["slixmpp"]
    hidden = "pygments" not in sys.modules
    if hidden:
        sys.modules["pygments"] = None  # type: ignore[assignment]   # makes `import pygments` fail
    try:
        import slixmpp
    finally:
        if hidden:
            del sys.modules["pygments"]
    return slixmpp


def _q(tag: str) -> str:
    return f"{{{NS}}}{tag}"


class FaultCode(IntEnum):
    """Fault codes the hub answers with (the negative ones are the usual XML-RPC ones)."""

    NOT_PERMITTED = 1
    NO_SUCH_DEVICE = 2
    DEVICE_ERROR = 3
    TIMEOUT = 4
    RATE_LIMITED = 5
    PARSE_ERROR = -32700
    UNKNOWN_METHOD = -32601
    BAD_PARAMS = -32602
    INTERNAL = -32603


class Fault(Exception):
    """An XML-RPC fault: the call reached the hub and was refused or failed there."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"fault {code}: {message}")
        self.code = code
        self.message = message


class RpcError(Exception):
    """The call never got an XML-RPC answer (not connected, hub offline, XMPP error)."""


# ---- values ------------------------------------------------------------------------------

def encode_value(value: Any, depth: int = 0) -> ET.Element:
    """`<value>` for a Python value: int, bool, float, str, bytes, datetime, None, list, dict."""
    if depth > MAX_DEPTH:
        raise ValueError(f"value nested deeper than {MAX_DEPTH} levels")
    element = ET.Element(_q("value"))
    if value is None:
        ET.SubElement(element, _q("nil"))
    elif isinstance(value, bool):
        ET.SubElement(element, _q("boolean")).text = "1" if value else "0"
    elif isinstance(value, int):
        if -2**31 <= value < 2**31:
            ET.SubElement(element, _q("i4")).text = str(value)
        else:                                   # i4 is 32-bit; a double keeps 53 bits exactly
            ET.SubElement(element, _q("double")).text = repr(float(value))
    elif isinstance(value, float):
        if not math.isfinite(value):
            ET.SubElement(element, _q("string")).text = repr(value)
        else:
            ET.SubElement(element, _q("double")).text = repr(value)
    elif isinstance(value, str):
        ET.SubElement(element, _q("string")).text = value
    elif isinstance(value, (bytes, bytearray)):
        ET.SubElement(element, _q("base64")).text = base64.b64encode(bytes(value)).decode("ascii")
    elif isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        ET.SubElement(element, _q("dateTime.iso8601")).text = value.strftime("%Y%m%dT%H:%M:%S")
    elif isinstance(value, (list, tuple)):
        data = ET.SubElement(ET.SubElement(element, _q("array")), _q("data"))
        data.extend([encode_value(item, depth + 1) for item in value])
    elif isinstance(value, dict):
        struct = ET.SubElement(element, _q("struct"))
        for key, item in value.items():
            member = ET.SubElement(struct, _q("member"))
            ET.SubElement(member, _q("name")).text = str(key)
            member.append(encode_value(item, depth + 1))
    else:
        raise TypeError(f"cannot send a {type(value).__name__} over XML-RPC")
    return element


def decode_value(element: ET.Element, depth: int = 0) -> Any:
    """The Python value of a `<value>` element; ValueError when it is not XML-RPC."""
    if depth > MAX_DEPTH:
        raise ValueError(f"value nested deeper than {MAX_DEPTH} levels")
    children = list(element)
    if not children:
        return element.text or ""               # an untyped value is a string
    typed = children[0]
    tag = typed.tag.removeprefix(f"{{{NS}}}")
    text = (typed.text or "").strip()
    try:
        if tag in ("i4", "int", "i8"):
            return int(text)
        if tag == "boolean":
            if text not in ("0", "1"):
                raise ValueError(f"boolean must be 0 or 1, not {text!r}")
            return text == "1"
        if tag == "double":
            return float(text)
        if tag == "string":
            return typed.text or ""
        if tag == "nil":
            return None
        if tag in ("base64", "Base64"):
            return base64.b64decode(text, validate=False)
        if tag == "dateTime.iso8601":
            return dt.datetime.strptime(text.replace("-", ""), "%Y%m%dT%H:%M:%S")
        if tag == "array":
            data = typed.find(_q("data"))
            return [] if data is None else [decode_value(v, depth + 1) for v in data.findall(_q("value"))]
        if tag == "struct":
            result = {}
            for member in typed.findall(_q("member")):
                name, value = member.find(_q("name")), member.find(_q("value"))
                if name is None or value is None:
                    raise ValueError("struct member without name or value")
                result[name.text or ""] = decode_value(value, depth + 1)
            return result
    except (TypeError, ValueError, base64.binascii.Error) as exc:  # type: ignore[attr-defined]
        raise ValueError(f"bad <{tag}> value: {exc}") from None
    raise ValueError(f"unknown XML-RPC type <{tag}>")


def encode_params(args: tuple[Any, ...] | list[Any]) -> ET.Element:
    params = ET.Element(_q("params"))
    for arg in args:
        ET.SubElement(params, _q("param")).append(encode_value(arg))
    return params


def decode_params(params: ET.Element | None) -> list[Any]:
    if params is None:
        return []
    values = []
    for param in params.findall(_q("param")):
        value = param.find(_q("value"))
        if value is None:
            raise ValueError("<param> without <value>")
        values.append(decode_value(value))
    return values


def encode_fault(code: int, message: str) -> ET.Element:
    """`{jabber:iq:rpc}fault`: a struct of faultCode and faultString (XML-RPC's shape)."""
    fault = ET.Element(_q("fault"))
    fault.append(encode_value({"faultCode": int(code), "faultString": message}))
    return fault


def decode_fault(fault: ET.Element) -> Fault:
    value = fault.find(_q("value"))
    try:
        struct = decode_value(value) if value is not None else {}
    except ValueError:
        struct = {}
    if not isinstance(struct, dict):
        struct = {}
    code = struct.get("faultCode", FaultCode.INTERNAL)
    return Fault(int(code) if isinstance(code, (int, float)) else FaultCode.INTERNAL,
                 str(struct.get("faultString", "malformed fault")))


def call_query(method: str, args: tuple[Any, ...] | list[Any]) -> ET.Element:
    """`<query xmlns="jabber:iq:rpc"><methodCall>...` for an iq of type set."""
    query = ET.Element(_q("query"))
    call = ET.SubElement(query, _q("methodCall"))
    ET.SubElement(call, _q("methodName")).text = method
    call.append(encode_params(args))
    return query


def result_query(result: Any) -> ET.Element:
    query = ET.Element(_q("query"))
    ET.SubElement(query, _q("methodResponse")).append(encode_params([result]))
    return query


def fault_query(code: int, message: str) -> ET.Element:
    query = ET.Element(_q("query"))
    ET.SubElement(query, _q("methodResponse")).append(encode_fault(code, message))
    return query


def parse_call(query: ET.Element) -> tuple[str, list[Any]]:
    """(method, params) of a `methodCall` query; Fault(PARSE_ERROR) when malformed."""
    call = query.find(_q("methodCall"))
    name = call.find(_q("methodName")) if call is not None else None
    if call is None or name is None or not (name.text or "").strip():
        raise Fault(FaultCode.PARSE_ERROR, "expected <methodCall> with a <methodName>")
    try:
        return name.text.strip(), decode_params(call.find(_q("params")))  # type: ignore[union-attr]
    except ValueError as exc:
        raise Fault(FaultCode.PARSE_ERROR, f"cannot read the parameters: {exc}") from None


def parse_response(query: ET.Element | None) -> Any:
    """The single result of a `methodResponse`; raises the Fault it carries."""
    response = query.find(_q("methodResponse")) if query is not None else None
    if response is None:
        raise RpcError("the answer holds no <methodResponse>")
    fault = response.find(_q("fault"))
    if fault is not None:
        raise decode_fault(fault)
    try:
        values = decode_params(response.find(_q("params")))
    except ValueError as exc:
        raise RpcError(f"cannot read the answer: {exc}") from None
    return values[0] if values else None


# ---- client ------------------------------------------------------------------------------

def full_hub_jid(jid: str) -> str:
    """Jabber-RPC needs a full JID (a bare one gets service-unavailable): add the default resource."""
    return jid if "/" in jid else f"{jid}/{DEFAULT_RESOURCE}"


class RpcClient:
    """A Jabber-RPC caller: `async with RpcClient(...) as c: await c.call("hub.read", "salon")`."""

    def __init__(self, jid: str, password: str, to: str, *, server: str | None = None, port: int = 5222,
                 ca_file: str | Path | None = None, plaintext: bool = False, timeout: float = 10.0) -> None:
        self.jid = jid
        self.to = full_hub_jid(to)
        self.server = server
        self.port = port
        self.ca_file = ca_file
        self.plaintext = plaintext
        self.timeout = timeout
        self._password = password
        self._xmpp: slixmpp.ClientXMPP | None = None

    @property
    def xmpp(self) -> slixmpp.ClientXMPP | None:
        """The underlying slixmpp client while connected (for pings, benchmarks)."""
        return self._xmpp

    async def __aenter__(self) -> RpcClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """Log in; RpcError when the server cannot be reached or refuses the password."""
        slixmpp = import_slixmpp()
        xmpp = slixmpp.ClientXMPP(self.jid, self._password)
        xmpp.register_plugin("xep_0030")
        if self.ca_file:
            xmpp.ca_certs = Path(self.ca_file)
        if self.plaintext:
            xmpp.plugin["feature_mechanisms"].unencrypted_scram = True
        xmpp.enable_direct_tls = False
        self._xmpp = xmpp
        outcome: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        def settle(result: str) -> None:
            if not outcome.done():
                outcome.set_result(result)

        xmpp.add_event_handler("session_start", lambda _e: settle("ok"))
        mechanisms = xmpp.plugin["feature_mechanisms"]
        xmpp.add_event_handler("failed_all_auth", lambda _e: settle(
            "the server refused the password" if mechanisms.attempted_mechs else
            "no login method this client accepts on this connection (no TLS? --plaintext is for "
            "loopback test servers)"))
        xmpp.add_event_handler("ssl_invalid_chain", lambda _e: settle("the server's TLS certificate is not "
                                                                       "trusted (--ca-file?)"))
        xmpp.add_event_handler("disconnected", lambda _e: settle("disconnected during login"))
        xmpp.add_event_handler("connection_failed", lambda e: settle(f"cannot connect: {e}"))
        host = self.server or (None if self.port == 5222 else slixmpp.JID(self.jid).domain)
        xmpp.connect(host, self.port if host else None)
        try:
            async with asyncio.timeout(self.timeout):
                result = await outcome
        except TimeoutError:
            result = f"no session after {self.timeout:g}s"
        if result != "ok":
            await self.close()
            raise RpcError(f"{self.jid}: {result}")

    async def call(self, method: str, *args: Any, timeout: float | None = None) -> Any:
        """Call `method` on the hub; its result, or raise Fault, RpcError or TimeoutError."""
        from slixmpp.exceptions import IqError, IqTimeout

        xmpp = self._xmpp
        if xmpp is None or xmpp.transport is None:
            raise RpcError("not connected")
        iq = xmpp.make_iq_set(ito=self.to)
        iq.append(call_query(method, args))
        try:
            answer = await iq.send(timeout=timeout or self.timeout)
        except IqTimeout:
            raise TimeoutError(f"no answer from {self.to} after {timeout or self.timeout:g}s") from None
        except IqError as exc:
            condition = exc.iq["error"]["condition"]
            hint = " (is the hub running, with this JID and resource?)" \
                if condition in ("service-unavailable", "recipient-unavailable", "item-not-found") else ""
            raise RpcError(f"{self.to} answered {condition}{hint}") from None
        return parse_response(answer.xml.find(_q("query")))

    async def close(self) -> None:
        xmpp, self._xmpp = self._xmpp, None
        if xmpp is None:
            return
        if xmpp.transport is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await xmpp.disconnect(wait=1)
        xmpp.abort()
        xmpp.cancel_connection_attempt()
        task = getattr(xmpp, "_run_out_filters", None)   # slixmpp's send loop outlives the stream
        if task is not None:
            task.cancel()


# ---- command line ------------------------------------------------------------------------

EXIT_FAULT, EXIT_USAGE, EXIT_CONNECT, EXIT_TIMEOUT = 1, 2, 3, 4


def add_parser(subparsers: Any) -> None:
    """`chatops rpc`: the subcommand scripts use."""
    p = subparsers.add_parser(
        "rpc", help="call the hub over XMPP (Jabber-RPC) from a script",
        description="Call the hub's Jabber-RPC methods. Exit 0 on success, 1 on a fault, 2 on a usage "
                    "error, 3 when the server cannot be reached or refuses the login, 4 on timeout.")
    p.add_argument("--jid", required=True, help="the script's own JID, e.g. script@example.org")
    p.add_argument("--to", required=True, help=f"the hub's JID (a bare JID gets /{DEFAULT_RESOURCE})")
    p.add_argument("--password-env", default="XMPP_PASSWORD", help="variable holding the password "
                   "(default XMPP_PASSWORD)")
    p.add_argument("--password-file", help="file holding the password (instead of --password-env)")
    p.add_argument("--server", help="connect to this host instead of the JID's domain")
    p.add_argument("--port", type=int, default=5222)
    p.add_argument("--ca-file", help="extra CA certificate to trust (self-signed servers)")
    p.add_argument("--plaintext", action="store_true", help="allow login without TLS (loopback test servers)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for login and answer")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("method", choices=sorted(METHODS), help="read DEVICE | switch DEVICE on|off|toggle | "
                   "command TEXT... | devices")
    p.add_argument("args", nargs="*")
    p.set_defaults(func=cmd_rpc)


def _arguments(method: str, args: list[str]) -> list[Any]:
    wanted = {"read": 1, "switch": 2, "devices": 0}
    if method == "command":
        if not args:
            raise ValueError("command needs the command line, e.g. command temp salon")
        return [" ".join(args)]
    if len(args) != wanted[method]:
        usage = {"read": "read DEVICE", "switch": "switch DEVICE on|off|toggle", "devices": "devices"}
        raise ValueError(f"usage: chatops rpc ... {usage[method]}")
    return list(args)


def _password(args: argparse.Namespace) -> str:
    if args.password_file:
        return Path(args.password_file).read_text(encoding="utf-8").strip()
    value = os.environ.get(args.password_env)
    if value is None:
        raise ValueError(f"the password variable {args.password_env} is not set "
                         f"(export {args.password_env}=... or use --password-file)")
    return value


def render(method: str, result: Any) -> str:
    """What a shell script reads: a bare value for read, the state for switch, text otherwise."""
    if method == "read" and isinstance(result, dict):
        return _value_text(result.get("value"))
    if method == "switch" and isinstance(result, dict):
        return str(result.get("state", ""))
    if method == "devices" and isinstance(result, list):
        lines = []
        for d in result:
            unit = f" {d['unit']}" if d.get("unit") else ""
            shown = "" if d.get("value") is None else f" {_value_text(d['value'])}{unit}"
            lines.append(f"{d.get('name')}\t{d.get('type')}{shown}")
        return "\n".join(lines)
    return str(result)


def _value_text(value: Any) -> str:
    """A device's value as `read` prints it for a script: ON or OFF for a state, else as it is."""
    if isinstance(value, bool):
        return "ON" if value else "OFF"
    return str(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)


def cmd_rpc(args: argparse.Namespace) -> int:
    try:
        params = _arguments(args.method, args.args)
        password = _password(args)
        import_slixmpp()
    except (ValueError, OSError) as exc:
        print(f"chatops rpc: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ImportError:
        from chatops.extras import install_hint
        print(f"chatops rpc: needs the xmpp extra (module slixmpp is missing): {install_hint('xmpp')}", file=sys.stderr)
        return EXIT_USAGE
    logging.getLogger("slixmpp").setLevel(logging.CRITICAL)   # its login chatter is not for scripts
    return asyncio.run(_rpc(args, password, params))


async def _rpc(args: argparse.Namespace, password: str, params: list[Any]) -> int:
    client = RpcClient(args.jid, password, args.to, server=args.server, port=args.port, ca_file=args.ca_file,
                       plaintext=args.plaintext, timeout=args.timeout)
    started = time.monotonic()
    try:
        await client.connect()
        remaining = max(0.5, args.timeout - (time.monotonic() - started))
        result = await client.call(METHODS[args.method], *params, timeout=remaining)
    except Fault as fault:
        print(f"fault {fault.code}: {fault.message}", file=sys.stderr)
        if args.json:
            print(json.dumps({"fault": {"code": fault.code, "message": fault.message}}))
        return EXIT_FAULT
    except TimeoutError as exc:
        print(f"chatops rpc: timeout: {exc}", file=sys.stderr)
        return EXIT_TIMEOUT
    except RpcError as exc:
        print(f"chatops rpc: {exc}", file=sys.stderr)
        return EXIT_CONNECT
    finally:
        await client.close()
    if args.json:
        print(json.dumps(result, ensure_ascii=False, default=_json_default))
    else:
        print(render(args.method, result))
    return 0
