"""`chatops notify --to owner "text" [--image FILE] [--ack]`: a notification from the shell (cron).

It posts to the running hub's `POST /api/notify` with a `[web.notify_tokens]` token taken from an
environment variable (CHATOPS_NOTIFY_TOKEN unless --token-env says another), so the token is
never on the command line where `ps` shows it. It prints the notification's id and exits 0, or
prints the hub's reason and exits 1 (2 for a usage problem). With --wait it also waits until
each recipient has it, so that a cron job can tell "accepted" from "received". The standard
library is enough: nothing of the hub is started or imported beyond the config reader."""

from __future__ import annotations

import argparse
import base64
import json
import os
import ssl
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import urllib.error

TOKEN_ENV = "CHATOPS_NOTIFY_TOKEN"
URL_ENV = "CHATOPS_URL"
TIMEOUT = 30.0
WAIT_DEFAULT_S = 60.0
ASK_AT_MOST = 55.0          # seconds one status ask is held by the hub (it holds at most 60)
STILL_PENDING = 3           # --wait's exit status when some recipient has not got it yet


def add_parser(sub: Any) -> None:
    notify = sub.add_parser("notify", help="send a notification through the running hub (POST /api/notify)")
    notify.add_argument("text", help="the message")
    notify.add_argument("--to", action="append", default=[], metavar="WHO",
                        help="a user name or an address such as NETWORK:ADDRESS (repeat it; default: "
                             "[notify] default_to)")
    notify.add_argument("--severity", choices=["info", "warning", "critical"], default="info")
    picture = notify.add_mutually_exclusive_group()       # one or the other: argparse says so, exit 2
    picture.add_argument("--image", type=Path, metavar="FILE", help="a JPEG, PNG or GIF to attach")
    picture.add_argument("--image-url", metavar="URL", help="a picture the hub fetches and attaches")
    notify.add_argument("--ack", action="store_true", help="repeat until someone acknowledges it")
    notify.add_argument("--wait", nargs="?", type=float, const=WAIT_DEFAULT_S, default=None, metavar="SECONDS",
                        help=f"wait until every recipient has it (at most SECONDS, default {WAIT_DEFAULT_S:g}); "
                             f"exit 1 if one failed, {STILL_PENDING} if one is still waiting")
    notify.add_argument("--url", help=f"the hub's web address (default: ${URL_ENV}, else from --config)")
    notify.add_argument("--config", type=Path, default=None,
                        help="config file the hub's address is read from (default ./config.toml, if there)")
    notify.add_argument("--token-env", default=TOKEN_ENV, metavar="VAR",
                        help=f"environment variable holding the notify token (default {TOKEN_ENV})")
    notify.add_argument("--ca-file", type=Path, help="CA certificate of a hub served over https with a private CA")
    notify.set_defaults(func=cmd_notify)


def hub_url(args: argparse.Namespace) -> str | None:
    """--url, $CHATOPS_URL, the config's listen address, else the default port;
    None (said on stderr) when a --config given cannot be read."""
    if args.url:
        return str(args.url).rstrip("/")
    if os.environ.get(URL_ENV):
        return os.environ[URL_ENV].rstrip("/")
    config = args.config or Path("config.toml")
    if args.config is not None and not config.is_file():
        # A path given and wrong: said, not "cannot reach the hub at 127.0.0.1:8080" about the default.
        print(f"chatops notify: --config {config}: no such file", file=sys.stderr)
        return None
    if config.is_file():
        from .config import ConfigError, load_settings
        try:
            web = load_settings(config).web
        except ConfigError as exc:
            if args.config is not None:
                print(f"chatops notify: --config {config} is not valid, so the hub's address cannot be read from "
                      f"it:\n" + "\n".join(f"  - {p}" for p in exc.problems), file=sys.stderr)
                return None
            web = None
        if web is not None:
            # The listen address, not public_url: cron runs on the hub's machine, where a LAN name
            # (`hub.lan`) may not resolve, while the listen address always answers.
            host, port = web.host_port
            host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
            return f"http://{f'[{host}]' if ':' in host else host}:{port}"
    return "http://127.0.0.1:8080"


def cmd_notify(args: argparse.Namespace) -> int:
    import urllib.error                 # here, not at the top: `chatops run` builds this parser too
    import urllib.request

    token = os.environ.get(args.token_env, "").strip()
    if not token:
        print(f"chatops notify: set {args.token_env} to a token of [web.notify_tokens] "
              f"(export {args.token_env}=...)", file=sys.stderr)
        return 2
    body: dict[str, Any] = {"text": args.text, "severity": args.severity, "ack": args.ack}
    if args.to:
        body["to"] = args.to
    if args.image is not None:
        try:
            body["image"] = base64.b64encode(args.image.read_bytes()).decode("ascii")
        except OSError as exc:
            print(f"chatops notify: cannot read {args.image}: {exc.strerror}", file=sys.stderr)
            return 2
    if args.image_url:
        body["image_url"] = args.image_url
    base = hub_url(args)
    if base is None:
        return 2
    url = f"{base}/api/notify"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    context = ssl.create_default_context(cafile=str(args.ca_file)) if args.ca_file else None
    try:
        with _opener(context).open(request, timeout=TIMEOUT) as response:
            answer = json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        if 300 <= exc.code < 400:
            print(f"chatops notify: the hub at {url} answered a redirect to {exc.headers.get('Location')}; "
                  f"give that address with --url (the token is not sent on)", file=sys.stderr)
            return 1
        print(f"chatops notify: refused ({exc.code}): {_reason(exc)}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        print(f"chatops notify: cannot reach the hub at {url}: {reason} (is it running? --url or {URL_ENV})",
              file=sys.stderr)
        return 1
    if answer.get("id") is None:
        # Taken but not stored (the hub's storage fails): there is no id to print; what it says
        # goes to standard error, and the exit status says it was sent to some.
        told = ", ".join(answer.get("told") or []) or "nobody yet"
        print(f"chatops notify: sent but not stored ({answer.get('warning') or 'the hub cannot store it'}); "
              f"told: {told}", file=sys.stderr)
        return 0
    if answer.get("picture"):
        print(f"chatops notify: sent without the picture ({answer['picture']})", file=sys.stderr)
    print(answer.get("id"), flush=True)
    if args.wait is None:
        return 0
    return _wait_for(f"{url}/{answer['id']}", token, context, args.wait)


def _wait_for(status_url: str, token: str, context: ssl.SSLContext | None, seconds: float) -> int:
    """Ask the hub for the notification's status, each ask held by the hub until every recipient
    has it on one of their addresses (or none of theirs is still being tried) or the time asked
    has passed (`?wait=`, at most a minute an ask); say on stderr who did not get it, and why."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + max(0.0, seconds)
    while True:
        left = max(0.0, deadline - time.monotonic())
        held = min(left, ASK_AT_MOST)
        request = urllib.request.Request(f"{status_url}?wait={held:.1f}", headers={"Authorization": f"Bearer {token}"})
        asked = time.monotonic()
        try:
            with _opener(context).open(request, timeout=TIMEOUT + held) as response:
                unreached = _unreached(json.loads(response.read() or b"{}").get("recipients") or [])
        except urllib.error.HTTPError as exc:
            print(f"chatops notify: sent, but its status cannot be read ({exc.code}): {_reason(exc)}",
                  file=sys.stderr)
            return 1
        except (urllib.error.URLError, OSError) as exc:
            print(f"chatops notify: sent, but the hub stopped answering: {getattr(exc, 'reason', exc)}",
                  file=sys.stderr)
            return 1
        waiting = any(e.get("state") == "pending" for entries in unreached.values() for e in entries)
        if not waiting or deadline - time.monotonic() <= 0:
            break
        if time.monotonic() - asked < held / 2:
            # Answered at once while some are pending: a hub of a version that does not hold the
            # ask. Asked again a moment later rather than at once, over and over.
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
    for recipient, entries in unreached.items():
        how = "has not got it yet" if any(e.get("state") == "pending" for e in entries) else "did not get it"
        why = "; ".join(f"{e.get('address')}: {e.get('error') or e.get('state')}" for e in entries)
        print(f"chatops notify: {recipient} {how} ({why})", file=sys.stderr)
    if any(all(e.get("state") != "pending" for e in entries) for entries in unreached.values()):
        return 1
    return STILL_PENDING if unreached else 0


def _unreached(recipients: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Each recipient none of whose addresses has it, with those addresses: a user is reached on
    any one network (their web chat unread does not matter once their phone had it). Cancelled:
    someone acknowledged the alert before this recipient's turn; nothing was lost."""
    by_recipient: dict[str, list[dict[str, Any]]] = {}
    for entry in recipients:
        by_recipient.setdefault(str(entry.get("recipient") or entry.get("address")), []).append(entry)
    return {name: entries for name, entries in by_recipient.items()
            if not any(e.get("state") in ("delivered", "cancelled") for e in entries)}


def _opener(context: ssl.SSLContext | None) -> Any:
    """urllib's opener that follows no redirect: it would send the token on to wherever it points."""
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None
    return urllib.request.build_opener(NoRedirect, urllib.request.HTTPSHandler(context=context))


def _reason(error: urllib.error.HTTPError) -> str:
    try:
        data = json.loads(error.read() or b"{}")
    except ValueError:
        return error.reason or "no reason given"
    reason = str(data.get("error") or error.reason)
    if data.get("recipients"):
        reason += f" (recipients: {', '.join(data['recipients'])})"
    return reason
