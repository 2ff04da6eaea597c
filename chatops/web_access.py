"""Who the web server answers: its token (or, bound to loopback without one, this machine's own
accounts), the session cookie, and a brake on whoever keeps guessing the token.

A wrong token costs nothing to try: 1,500 guesses took under a second, and a short token fell
in half a second (tokens are now at least 16 characters: chatops.config). So each address that
offers wrong tokens is logged, once a minute at most, and after `GUESSES_ALLOWED` of them in a
minute its requests are refused (429) without a token being compared, until that minute is
over: a few hundred tries an hour instead of thousands a second. The sender is told apart
behind a reverse proxy on this machine too (by the address it forwards: every request there
comes from 127.0.0.1), so a stranger guessing does not lock the owner out; and a cookie is no
guess (an HMAC of the token: a tab left open across a token change would lock its owner out).
Without a proxy, every local account is 127.0.0.1: one of them guessing holds off the others'
scripts for that minute too (SECURITY.md says so).
"""

from __future__ import annotations

import hmac
import logging
import pwd
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from aiohttp import web

from .config import WebSettings, is_loopback, read_secret
from .i18n import _
from .peer_account import account_name, account_uids, kernel_tells_owners, owner_of
from .web_guard import RequestGuard

if TYPE_CHECKING:
    from pathlib import Path

log = logging.getLogger("chatops.web")

COOKIE = "chatops_token"
BEYOND = "(beyond this machine)"     # why a tokenless request is refused; no account is named so
GUESSES_ALLOWED = 10                 # wrong tokens per address and minute before it is refused
GUESS_WINDOW = 60.0
MAX_TRACKED = 1000                   # addresses remembered at once (a flood of addresses forgets the oldest)


class TokenGuesses:
    """Wrong tokens per client address over the last minute."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._wrong: dict[str, tuple[float, int, bool]] = {}    # address -> (window start, count, logged)

    def blocked(self, address: str) -> bool:
        entry = self._wrong.get(address)
        if entry is None:
            return False
        if self._monotonic() - entry[0] >= GUESS_WINDOW:
            del self._wrong[address]
            return False
        return entry[1] >= GUESSES_ALLOWED

    def wrong(self, address: str, path: str) -> None:
        now = self._monotonic()
        start, count, logged = self._wrong.pop(address, (now, 0, False))
        if now - start >= GUESS_WINDOW:
            start, count, logged = now, 0, False
        count += 1
        if not logged:
            log.warning("web: a wrong token from %s (%s); after %d in a minute that address is refused for the "
                        "rest of it", address, path[:200], GUESSES_ALLOWED)
            logged = True
        elif count == GUESSES_ALLOWED:
            log.warning("web: %d wrong tokens from %s within a minute: refused until it is over", count, address)
        self._wrong[address] = (start, count, logged)
        while len(self._wrong) > MAX_TRACKED:
            del self._wrong[next(iter(self._wrong))]


class WebAccess:
    """The web server's one access rule for its pages and API (the notify API has its own tokens)."""

    def __init__(self, settings: WebSettings, guard: RequestGuard, monotonic: Callable[[], float] = time.monotonic
                 ) -> None:
        self.settings = settings
        self.guard = guard
        self.token: str | None = None
        self.metrics_token: str | None = None
        self.guesses = TokenGuesses(monotonic)
        self._local_uids = account_uids(settings.local_users)
        self._proxy_uid = pwd.getpwnam(settings.proxy_user).pw_uid if settings.proxy_user else None
        self._refused_accounts: set[int] = set()        # logged once each

    def read_tokens(self, base_dir: Path) -> None:
        self.token = read_secret(self.settings, "token", base_dir)
        self.metrics_token = read_secret(self.settings, "metrics_token", base_dir)

    def authorised(self, request: web.Request) -> bool:
        if self.token is None:
            return self.settings.loopback and self.tokenless_refusal(request, log_it=request.path != "/health") is None
        if self.guesses.blocked(self.client(request)):
            return False
        if offered(request, self.token):
            return True
        cookie = request.cookies.get(COOKIE, "")
        if cookie and hmac.compare_digest(cookie.encode(), self.session().encode()):
            return True
        self.count_guess(request)
        return False

    def count_guess(self, request: web.Request) -> None:
        """A token offered and found wrong (here or by the notify API): counted for its sender."""
        if _tokens_in(request):
            self.guesses.wrong(self.client(request), request.path)

    def metrics_allowed(self, request: web.Request) -> bool:
        """Prometheus's scrape: the pages' access, or `[web] metrics_token` (then required, even
        on loopback), so a scraper can be given a token that opens nothing else."""
        if self.metrics_token is None:
            return self.authorised(request)
        if self.guesses.blocked(self.client(request)):
            return False
        if offered(request, self.metrics_token):
            return True
        if self.token is not None:
            return self.authorised(request)       # the web token opens /metrics too (and counts a guess)
        self.count_guess(request)
        return False

    def refusal(self, request: web.Request, caller: str | None = None) -> str:
        """Why `request` (already found not authorised) is refused, for a script or a page: what
        to send, or, on a hub with no token, why this caller (`caller`, "this request" when not
        given) is not the machine's own. Its words are the hub's language where one is spoken
        (chatops.i18n.speaking): the page's; English for scripts."""
        if self.guesses.blocked(self.client(request)):
            return "too many wrong tokens from this address; wait a minute"
        if self.token is not None:
            return "token required: Authorization: Bearer TOKEN (the [web] token)"
        return not_its_own(self.tokenless_refusal(request) or BEYOND, caller or _("this request"))

    def status(self, request: web.Request) -> int:
        """401, or 429 for an address refused for guessing."""
        return 429 if self.guesses.blocked(self.client(request)) else 401

    def tokenless_refusal(self, request: web.Request, log_it: bool = False) -> str | None:
        """Why a loopback server without a token does not answer `request`, or None when it does.

        Loopback without a token is this machine's own browser, run by the hub's own account
        (or root, or one of `[web] local_users`): not the Internet coming in through a reverse
        proxy or forwarder on this machine (chatops.web_guard.RequestGuard.from_beyond), nor
        another local account, which would otherwise act as the admin the web chat is."""
        if self.guard.from_beyond(request):
            if log_it:
                self.guard.said.warning("beyond", request.remote or "?", "web: refused %s %s: it came from beyond "
                                        "this machine (a proxy's header, HTTP/1.0, or Host %r, not a loopback name), "
                                        "and [web] has no token", request.method, request.path[:200],
                                        request.headers.get("Host", "")[:100])
            return BEYOND
        uid = _owner(request)
        if uid is None:
            # Where the kernel shows owners (Linux), an owner it cannot find is a connection gone
            # already (a client that sent its request, then reset at once, while the request
            # waits here): refused, never taken for the hub's own. Elsewhere, loopback alone, as
            # docs/deploy.md says.
            if kernel_tells_owners():
                if log_it:
                    self.guard.said.warning("gone", request.remote or "?", "web: refused %s %s: its connection was "
                                            "gone before its account could be read", request.method, request.path[:200])
                return "(unknown)"
            return None
        if uid in self._local_uids:
            return None
        if log_it and uid not in self._refused_accounts and len(self._refused_accounts) < 100:
            self._refused_accounts.add(uid)
            log.warning("web: refused %s %s from the local account %s: without a token, the web server answers "
                        "the hub's own account, root and [web] local_users only", request.method,
                        request.path[:200], account_name(uid))
        return account_name(uid)

    def client(self, request: web.Request) -> str:
        """Who sent `request`, for the brake on wrong tokens: its peer; behind the reverse proxy of
        `[web] proxy_user` (a loopback connection that account owns), the address the proxy appended
        last to X-Forwarded-For (a client can write the header itself, but only before the proxy's
        entry). Anyone else's header is not believed: a local account would lock out the address
        it names, or escape the brake by naming a new one at each guess."""
        known = request.get(_CLIENT)
        if known is not None:           # asked up to four times a request: /proc/net/tcp read once
            return str(known)
        client = remote = request.remote or "?"
        forwarded = request.headers.get("X-Forwarded-For", "")
        if forwarded and self._proxy_uid is not None and is_loopback(remote):
            uid = _owner(request)
            if uid == self._proxy_uid or (uid is None and not kernel_tells_owners()):
                client = forwarded.rsplit(",", 1)[-1].strip()[:64] or remote
        request[_CLIENT] = client
        return client

    def session(self) -> str:
        """The cookie's value: derived from the token, so the browser's cookie store never holds
        the token itself (which also opens the API and, without metrics_token, /metrics)."""
        assert self.token is not None
        return hmac.new(self.token.encode(), b"chatops web session", "sha256").hexdigest()

    def secure_cookie(self, request: web.Request) -> bool:
        """Whether the cookie is to be `Secure`: the request came by https, through a TLS proxy
        saying so, or for the host of an https `public_url` (a proxy that says nothing, nginx's
        default); never otherwise, since a browser drops a Secure cookie over plain HTTP."""
        if request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https":
            return True
        public = self.settings.public_url or ""
        return public.startswith("https://") and self.guard.is_public_host(request.headers.get("Host", ""))


# `WebAccess.client`'s answer, kept on the request (a typed key from aiohttp 3.12, which warns of others)
_CLIENT = web.RequestKey("chatops_client", str) if hasattr(web, "RequestKey") else "chatops_client"


def _owner(request: web.Request) -> int | None:
    """The account owning the other end of `request`'s loopback connection (chatops.peer_account)."""
    transport = request.transport
    peer = transport.get_extra_info("peername") if transport is not None else None
    own = transport.get_extra_info("sockname") if transport is not None else None
    return owner_of(peer[:2], own[:2]) if peer and own else None


def shown_client(request: web.Request) -> str:
    """`request`'s peer for a log line, with the X-Forwarded-For it claims (believed or not)."""
    forwarded = request.headers.get("X-Forwarded-For", "")
    return f"{request.remote or '?'}" + (f" (forwarded for {forwarded[-64:]!r})" if forwarded else "")


def _tokens_in(request: web.Request) -> bool:
    header = request.headers.get("Authorization", "")
    return bool(request.query.get("token")) or header[:7].lower() == "bearer "


def offered(request: web.Request, token: str) -> bool:
    """Whether `request` carries `token`, as `?token=` or `Authorization: Bearer` (another kind of
    Authorization, a reverse proxy's Basic login, is not the hub's to judge and never hides `?token=`)."""
    header = request.headers.get("Authorization", "")
    given = [request.query.get("token", ""), header[7:].strip() if header[:7].lower() == "bearer " else ""]
    return any(o and hmac.compare_digest(o.encode(), token.encode()) for o in given)


def not_its_own(account: str, caller: str, key: str = "token_file (docs/deploy.md)",
                local_users: bool = True) -> str:
    """The one wording of a tokenless hub's refusal (the page, the API, the scrape): the request
    came from beyond this machine (`account` is BEYOND), or `caller` runs as `account`, another
    one; the fix is the `[web]` secret `key`, or naming that account in `local_users` when fit."""
    if account == BEYOND:
        return _("This hub answers its own machine only: this request came through a proxy (or in HTTP/1.0, or "
                 "for a host that is not a loopback name), and the hub has no token. Give [web] a {key}.").format(
                     key=key)
    refused = _("Without a token, this hub answers its own account on this machine only (and root, and [web] "
                "local_users), and {caller} runs as {account}.").format(caller=caller, account=account)
    fix = _("Add local_users = [\"{account}\"] to [web], or give [web] a {key}.") if local_users else \
        _("Give [web] a {key}.")
    return f"{refused} {fix.format(account=account, key=key)}"

