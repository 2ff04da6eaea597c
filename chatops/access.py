"""The one decision on who may run what: every way in (chat, SMS, web, HTTP API, Jabber-RPC,
ad-hoc commands, timers, automations) asks `Access.authorize` and nothing else.

In order: the sender's bucket (every line that reaches the router costs a token, whether it
runs, is refused or is unknown; admins and commands flagged `unmetered` are never throttled,
so nobody is locked out of silencing an alarm), the command's permission, `needs_user`, and,
on networks whose senders can be forged (SMS), the user's PIN word. The PIN is judged on the
very words the router runs, after it removed the prefix, a mention and quotes: there is no
second parser to get around.
"""

from __future__ import annotations

import hmac
import logging
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

from .auth import Auth, User, fold
from .command import CommandSpec
from .config import ConfigError, read_secret
from .i18n import N_, _
from .rate import SenderLimits

if TYPE_CHECKING:
    from .adapter import Capabilities

log = logging.getLogger(__name__)

RATE_LIMITED = N_("Too many commands; wait a minute and try again.")   # said once to a chat, to each button

PIN_FAILURES = 5               # wrong PINs per user per hour before PIN commands are refused outright
PIN_WINDOW = 3600.0


class Pin(Enum):
    """What the first word of a line was, for a user who has a PIN on a forgeable network."""

    NOT_ASKED = "not-asked"    # no PIN for this user, or a network that proves its senders
    GIVEN = "given"            # the first word was the PIN; it is removed before routing
    ABSENT = "absent"          # no PIN in front of the command
    WRONG = "wrong"            # a word in front of a command that is not the PIN: a guess


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a line is not run: `answer` for the sender (None: say nothing), `kind` and `detail`
    for the audit log."""

    kind: str
    answer: str | None
    detail: str


class Access:
    """Permissions, rate limits and PINs of one hub."""

    def __init__(self, auth: Auth, pins: dict[str, str], rate_limit: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.auth = auth
        self._pins = pins
        self._clock = clock
        self.limits = SenderLimits(rate_limit, clock=clock)
        self._failures: dict[str, deque[float]] = {}

    @classmethod
    def from_auth(cls, auth: Auth, base_dir: Path | None, rate_limit: float,
                  clock: Callable[[], float] = time.monotonic) -> Access:
        """Read every user's PIN word (`pin_env` / `pin_file`) once, at start. `clock` is the
        hub's monotonic clock: rate limits and the PIN lockout are durations."""
        pins: dict[str, str] = {}
        for name, user in auth.users.items():
            try:
                pin = read_secret(user.settings, "pin", base_dir)
            except ConfigError as exc:
                raise ConfigError([f"users.{name}.{problem}" for problem in exc.problems]) from None
            if pin:
                pins[name] = pin
        return cls(auth, pins, rate_limit, clock)

    # ---- the PIN --------------------------------------------------------------------------

    def pin_of(self, user: User | None, forgeable: bool) -> str | None:
        """The PIN `user` must give on this network, if any."""
        if user is None or not forgeable:
            return None
        return self._pins.get(user.name)

    def asks_pin(self, user_name: str, permission: str, capabilities: Capabilities) -> bool:
        """Whether `user_name` must put their PIN before a command needing `permission` on a
        network with these capabilities: an alert tells a PIN user on SMS `answer PIN ack 1`."""
        return self.pin_of(self.auth.users.get(user_name), capabilities.forgeable_sender) is not None \
            and self._pin_guards(permission)

    def _pin_guards(self, permission: str) -> bool:
        """The PIN guards what strangers may not do: reading needs none (`temp salon`)."""
        return permission not in self.auth.default_grants

    def take_pin(self, pin: str | None, words: list[str],
                 resolves: Callable[[list[str]], bool]) -> tuple[list[str], Pin]:
        """The words to route and what their first word was. `resolves(words)` tells whether
        words name a command (the router's own resolution)."""
        if pin is None or not words:
            return words, Pin.NOT_ASKED
        if hmac.compare_digest(fold(words[0].rstrip(":")).encode(), fold(pin).encode()):    # `Sésame: chauffage on`
            return words[1:], Pin.GIVEN
        if not resolves(words) and len(words) > 1 and resolves(words[1:]):
            return words[1:], Pin.WRONG
        return words, Pin.ABSENT

    def locked_out(self, user: User) -> bool:
        failures = self._failures.get(user.name)
        if not failures:
            return False
        while failures and self._clock() - failures[0] > PIN_WINDOW:
            failures.popleft()
        return len(failures) >= PIN_FAILURES

    def mask(self, user: User | None, text: str, guessed: str | None = None) -> str:
        """`text` with the user's PIN (and a wrong guess at it) hidden, for audit rows and logs:
        any word that holds it in a form `take_pin` accepts (`CAFE` for `café`, fullwidth digits).
        A stranger's line (`user` None: an unknown number) has every user's PIN hidden: someone
        texting from another phone writes their PIN all the same."""
        for secret in ([self._pins.get(user.name)] if user else list(self._pins.values())) + [guessed]:
            if secret:
                text = re.sub(re.escape(secret), "****", text, flags=re.IGNORECASE)
                folded = fold(secret)
                text = re.sub(r"\S+", lambda word: "****" if folded in fold(word.group()) else word.group(), text)
        return text

    # ---- the decision ---------------------------------------------------------------------

    def authorize(self, sender: str, user: User | None, spec: CommandSpec | None,
                  pin: Pin = Pin.NOT_ASKED, *, metered: bool = True, forgeable: bool = False,
                  word: str = "", said: str = "", shown_as: str = "", shared_by: tuple[str, ...] = ()
                  ) -> Refusal | None:
        """None when `user` (None: a stranger known as `sender`) may run `spec` now, else why
        not. `spec` None is an unknown command: it still costs the sender a token. `forgeable`:
        the line came by a network whose sender anyone can fake (SMS). `word`: the command's
        word as typed (`dans` for `in`), which a refusal names; `said`, the command line as typed
        (`chauffage on`, a device's shorthand), which the PIN's refusal gives back with the PIN.
        `shown_as`: the stranger's name in a room, where "you" would not say whom it refuses.
        `shared_by`: the users whose patterns all take this stranger (so it is none of them): the
        refusal says so, rather than "add you to [users]" to someone who is there twice."""
        grants = self.auth.grants_for(user)
        admin = "*" in grants
        # `unmetered` spares a user's acknowledgement during a storm of alerts; a stranger's
        # lines all cost their bucket, or refusals of `ack` would be answered without limit.
        # An admin is unmetered only where the sender is proven: a forged admin number could
        # otherwise flood wrong PINs into the audit log and the replies without end.
        if metered and not (admin and not forgeable) and \
                not (spec is not None and spec.unmetered and user is not None and not forgeable):
            verdict = self.limits.take(user.name if user else sender)
            if verdict != SenderLimits.ALLOWED:
                answer = _(RATE_LIMITED) \
                    if verdict == SenderLimits.FIRST_REFUSAL else None
                return Refusal("rate-limited", answer, spec.name if spec else "unknown command")
        if spec is None:
            return None
        if not (admin or spec.permission in grants) or (spec.needs_user and user is None):
            # A command that needs another word's permission (`dim` needs `switch`) says which:
            # that word is what the owner grants in [roles], not the command's name.
            # A device's shorthand (`lampe 40%`) has no command word: the line as said, not `set`.
            typed = word.lower() or (f"'{said}'" if said else spec.name)
            command = typed if spec.permission == typed else \
                _("{command} (it needs the {permission} permission)").format(command=typed, permission=spec.permission)
            if user is None:
                fix = _("You match [users] {names} in config.toml, so the hub takes you for none of them: each "
                        "person needs patterns no one else's take.").format(names=", ".join(shared_by)) \
                    if len(shared_by) > 1 else _("Ask the hub's owner to add you to [users] in config.toml.")
                answer = (_("Sorry, {who} may not use {command}.").format(who=shown_as, command=command) if shown_as
                          else _("Sorry, you may not use {command}.").format(command=command)) + " " + fix
            else:
                answer = _("Sorry, {who} may not use {command}.").format(who=user.name, command=command) + " " + \
                    _("None of their roles grants {permission}: an admin can add it to one in [roles] of "
                      "config.toml.").format(permission=spec.permission)
            return Refusal("refused", answer, f"{spec.name}: not permitted")
        if user is None or pin is Pin.NOT_ASKED:
            return None
        needs_pin = self._pin_guards(spec.permission)
        if pin is Pin.WRONG:
            self._failures.setdefault(user.name, deque()).append(self._clock())
            return Refusal("pin-wrong", _("Wrong PIN; nothing was done."), f"{spec.name}: wrong PIN ({user.name})")
        if not needs_pin:
            return None
        if self.locked_out(user):
            return Refusal("pin-locked", _("Too many wrong PINs; try again in an hour."),
                           f"{spec.name}: locked out ({user.name})")
        if pin is Pin.ABSENT:
            return Refusal("pin-missing", _("This command needs your PIN first: send \"PIN {command}\", your PIN "
                                            "word in front.").format(command=said or word.lower() or spec.name),
                           f"{spec.name}: missing PIN ({user.name})")
        return None
