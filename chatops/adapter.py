"""What an adapter is to the hub: a small Protocol, and the capabilities it declares."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from .health import Health
from .message import Address, Message, Reply

if TYPE_CHECKING:
    from .hub import Hub

# The adapter whose run() the current task comes from: the hub sets it as it starts the adapter,
# and the tasks and callbacks the adapter makes inherit it.
RUNNING_ADAPTER: ContextVar[str | None] = ContextVar("chatops_running_adapter", default=None)


def from_where_it_came(message: Message) -> Message:
    """`message` addressed to the adapter that handed it over. One addressed as another
    adapter's (`Address("web", ...)` or a name no adapter has, from a TCP plugin) would be
    judged by that network's patterns and skip the check that its sender is of the adapter's
    network: readdressed, its sender is judged by the network it came in on (a sender of another
    network is then a stranger, logged) and the answer goes back where the line came from."""
    caller = RUNNING_ADAPTER.get()
    if caller is None or caller == message.address.adapter:
        return message
    return replace(message, address=replace(message.address, adapter=caller))


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a network can take. The core fits every reply to it before `send` (chatops.render.fit):
    an adapter never cuts text at its limit or turns pictures into links itself; it may still cut
    finer where its network measures otherwise (IRC lines in bytes, Slack after escaping)."""

    max_text: int = 4000           # longer text goes as several messages (chatops.render.fit)
    size: Callable[[str], int] = len   # how the network counts `max_text` (Slack: once escaped)
    images: bool = False           # can carry an image itself (upload); else the core sends a link
    threads: bool = False
    markup: str = "plain"
    forgeable_sender: bool = False  # senders can be spoofed (SMS): users with a PIN must give it
    cut_long_text: bool = False    # each message costs (SMS): one message cut short, not several
    reads_answers: bool = True     # people can answer the hub there; else (email) an alert says
                                   # to acknowledge it elsewhere instead of "answer ack 12"
    keeps_messages: bool = True    # a message for someone not there waits for them; else (the web
                                   # chat, with no page open) a timer's later result goes to the
                                   # owner's other networks
    pictures_apart: bool = False   # a picture is a message of its own (Telegram's photo): the core
                                   # sends it as a piece of its own, before the words, so that one the
                                   # network refuses leaves the words and a retry does not send it twice
    names_pass_on: bool = False    # a direct chat's name may be someone else's later (an IRC nick):
                                   # a timer's later result goes to the owner as an alert does,
                                   # their identity checked when it is sent


@runtime_checkable
class Adapter(Protocol):
    """One network connection. `run` connects, receives and reconnects until cancelled;
    `send` delivers one reply (raising when it cannot, so the outbox retries)."""

    name: str
    network: str
    capabilities: Capabilities
    health: Health

    async def run(self, hub: Hub) -> None: ...

    async def send(self, address: Address, reply: Reply) -> None: ...

    async def confirm_delivery(self) -> None: ...

    def status_note(self) -> str | None: ...


class AdapterBase:
    """The optional hooks with their do-nothing defaults: adapters inherit this and override what
    their network needs, so the core calls hooks instead of probing for them."""

    def __init__(self, name: str, settings: object) -> None:
        """What every adapter keeps (a plugin's `__init__` calls this first)."""
        self.name, self.settings, self.health = name, settings, Health()

    def __getattr__(self, attribute: str) -> object:
        # An adapter whose __init__ made no Health of its own gets one on first use: `status`,
        # /health and the outbox read it, and its absence once stopped the whole hub.
        if attribute == "health":
            health = self.__dict__["health"] = Health()
            return health
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {attribute!r}")

    async def confirm_delivery(self) -> None:
        """Wait until what `send` wrote has surely reached the server (a network without
        acknowledgements, IRC, proves it with a PING round trip). Default: nothing to wait for."""

    def status_note(self) -> str | None:
        """One more line for `status` (rooms not joined, messages waiting...), or None."""
        return None


class NotLoaded(AdapterBase):
    """An enabled network whose plugin failed to load: in the hub's adapters all the same, down
    with the reason, so /health, the metrics, Home Assistant and the outbox say so (it vanished
    from them, `status` alone telling). Its messages wait, as for any network that is down."""

    capabilities = Capabilities()

    def __init__(self, name: str, network: str, why: str) -> None:
        super().__init__(name, None)
        self.network = network
        self.why = why
        self.health.down(f"plugin NOT LOADED: {why}")

    async def run(self, hub: Hub) -> None:
        """Nothing to run: it stays down until the plugin is fixed and the hub restarted."""

    async def send(self, address: Address, reply: Reply) -> None:
        raise ConnectionError(f"{self.name}: its plugin is not loaded ({self.why}); fix it and restart the hub")
