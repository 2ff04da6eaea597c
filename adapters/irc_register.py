"""Getting onto an IRC network and staying ourselves there: IRCv3 capability negotiation,
SASL PLAIN, the welcome and ISUPPORT numerics, nick fallback, and taking our first-choice
nick back when it is freed.

irc3's plugins are not loaded, so each step here answers one server line. A SASL refusal
ends the connection as fatal: retrying with the same password cannot fix it.
"""

from __future__ import annotations

import base64
import logging
from typing import TYPE_CHECKING, Any

from irc3.utils import IrcString

from adapters.irc_lines import NICK_ERRORS, WANTED_CAPS, split_params

if TYPE_CHECKING:
    from adapters.irc import Adapter
    from adapters.irc_link import Link

log = logging.getLogger(__name__)


class Registration:
    """The registration dialogue of `adapter`, run again on each new link."""

    def __init__(self, adapter: Adapter) -> None:
        self.adapter = adapter
        self.sasl: tuple[str, str] | None = None       # (account, password) when SASL is configured

    def on_numeric(self, link: Link, code: str, me: str, args: list[str]) -> None:
        """Welcome (001), ISUPPORT (005), nick refused, SASL outcome, our host changed (396)."""
        if code == "001":
            self.set_nick(link, str(me))
            last = args[-1].split()[-1] if args and args[-1].split() else ""
            if "!" in last and "@" in last and link.is_me(IrcString(last).nick):
                link.mask = last
            if not link.registered.done():
                link.registered.set_result(None)
        elif code == "005":
            for token in args[:-1]:
                name, _, value = token.partition("=")
                if name.startswith("-"):
                    link.isupport.pop(name[1:], None)
                else:
                    link.isupport[name] = value
            link.casemapping_changed()
        elif code in NICK_ERRORS and not link.registered.done():
            self.next_nick(link, code, args)
        elif code in ("900", "903", "907"):
            if code == "900" and len(args) >= 2:
                link.mask, link.account = args[0], args[1]
                link.identified.set()
            if code != "900":
                self.cap_end(link)
        elif code in ("902", "904", "905", "906"):
            detail = args[-1] if args else code
            link.fail(f"SASL login as {self.sasl[0] if self.sasl else '?'} refused ({code} {detail}); "
                      "check sasl_username and the password", fatal=True, quit=True)
        elif code == "396" and args and link.mask:
            link.mask = link.mask.split("@")[0] + "@" + args[0]

    def set_nick(self, link: Link, nick: str) -> None:
        """The server now calls us `nick`; irc3 reads its config to tell its own lines apart."""
        link.nick = nick
        assert self.adapter.bot is not None
        self.adapter.bot.config["nick"] = link.nick

    def next_nick(self, link: Link, code: str, args: list[str]) -> None:
        """Our nick was refused during registration: try the next one, then numbered ones."""
        nicks = self.adapter.nicks
        link.nick_tries += 1
        if link.nick_tries > 20:
            link.fail(f"no usable nick after 20 tries (last: {code} {' '.join(args)})", quit=True)
            return
        if link.nick_tries < len(nicks):
            nick = nicks[link.nick_tries]
        else:
            suffix = str(link.nick_tries - len(nicks) + 1)
            nick = nicks[0][: 8 - len(suffix)] + "_" + suffix
        log.info("IRC %s: nick %s unavailable (%s), trying %s", self.adapter.name, link.nick, code, nick)
        link.nick = nick
        link.out.send_urgent(f"NICK {nick}")

    def reclaim(self, link: Link, freed: str) -> None:
        """Take our first-choice nick back when its holder leaves it."""
        nicks = self.adapter.nicks
        primary = nicks[0] if nicks else None
        if primary and link.registered.done() and link.fold(freed) == link.fold(primary) \
                and not link.is_me(primary):
            link.out.enqueue([f"NICK {primary}"])

    def on_cap(self, link: Link, me: str, sub: str, params: str = "", **_: Any) -> None:
        """CAP LS/NEW/ACK/NAK/DEL: ask for the account capabilities (and SASL when configured)."""
        args = split_params(params or "")
        sub = sub.upper()
        caps = args[-1].split() if args else []
        if sub in ("LS", "NEW"):
            for token in caps:
                name, _, value = token.partition("=")
                link.offered[name] = value
            if sub == "LS" and args and args[0] == "*":
                return                                   # more LS lines follow
            wanted = [c for c in WANTED_CAPS if c in link.offered and c not in link.caps]
            if self.sasl and "sasl" in link.offered and not link.registered.done():
                wanted.append("sasl")
            elif self.sasl and sub == "LS":
                self._without_login(link, "the server offers no SASL")
            if wanted:
                link.out.send_urgent(f"CAP REQ :{' '.join(wanted)}")
            elif sub == "LS":
                self.cap_end(link)
        elif sub == "ACK":
            for name in caps:
                if name.startswith("-"):
                    link.caps.discard(name[1:])
                else:
                    link.caps.add(name)
            if "sasl" in caps and self.sasl:
                link.out.send_urgent("AUTHENTICATE PLAIN")
            else:
                self.cap_end(link)
        elif sub == "NAK":
            if self.sasl and "sasl" in caps:
                self._without_login(link, "the server refused to start SASL (CAP NAK)")
            self.cap_end(link)
        elif sub == "DEL":
            for name in caps:
                link.caps.discard(name)
                link.offered.pop(name, None)

    def _without_login(self, link: Link, why: str) -> None:
        """SASL configured but not to be had: said in the log and by `status`, not skipped in silence."""
        link.login_missing = f"not logged in: {why} (sasl_password is set)"
        log.warning("IRC %s: %s; continuing without login", self.adapter.name, link.login_missing)

    def cap_end(self, link: Link) -> None:
        if not link.cap_ended and not link.registered.done():
            link.cap_ended = True
            link.out.send_urgent("CAP END")

    def on_authenticate(self, link: Link, data: str, **_: Any) -> None:
        """The server's go-ahead (`AUTHENTICATE +`): send the PLAIN payload in 400-byte chunks."""
        if self.sasl is None or data != "+":
            return
        user, password = self.sasl
        payload = base64.b64encode(f"{user}\0{user}\0{password}".encode()).decode("ascii")
        chunks = [payload[i:i + 400] for i in range(0, len(payload), 400)]
        if len(chunks[-1]) == 400:
            chunks.append("+")
        for chunk in chunks:
            link.out.send_urgent(f"AUTHENTICATE {chunk}")
