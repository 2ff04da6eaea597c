"""The legacy RTM API (classic Slack apps) behind one thread boundary.

slack_sdk.rtm_v2.RTMClient is thread-based: a sync WebClient, worker threads, interval
runners. Here it is opened and closed with `asyncio.to_thread`, and its callbacks only hop
back to the loop with `call_soon_threadsafe`; nothing else touches it from the loop.
Replies do not use it: they go through the adapter's AsyncWebClient like in Socket Mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from slack_sdk.rtm_v2 import RTMClient

if TYPE_CHECKING:
    from .slack import Adapter

log = logging.getLogger(__name__)


class RtmConnection:
    """One RTMClient's life: open(), pong_time()/alive() for the watchdog, close()."""

    def __init__(self, adapter: Adapter, token: str) -> None:
        self._adapter = adapter
        self._token = token
        self._rtm: RTMClient | None = None
        self._connecting: asyncio.Future[None] | None = None

    async def open(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        adapter = self._adapter

        def to_loop(fn: Callable[..., Any], *args: Any) -> None:
            with contextlib.suppress(RuntimeError):          # the loop is closing: nothing to deliver to
                loop.call_soon_threadsafe(fn, *args)

        def on_event(client: RTMClient, event: dict) -> None:   # worker thread
            to_loop(adapter.deliver_rtm, event)

        def on_frame(raw: str) -> None:                      # receiver thread; a float store is atomic
            adapter.heard_at = time.monotonic()

        def on_close(code: int, reason: str | None) -> None:
            to_loop(adapter.health.down, f"RTM connection closed ({code}); reconnecting")

        def connect() -> None:
            rtm = RTMClient(token=self._token, base_url=adapter.settings.base_url,
                            ping_interval=adapter.settings.ping_interval,  # type: ignore[arg-type]
                            timeout=int(adapter.settings.timeout), auto_reconnect_enabled=True,
                            concurrency=1)                   # one worker: events stay in order
            rtm.on("hello")(on_event)
            rtm.on("message")(on_event)
            rtm.on_message_listeners.append(on_frame)
            rtm.on_close_listeners.append(on_close)
            self._rtm = rtm
            rtm.connect()

        self._connecting = loop.run_in_executor(None, connect)
        async with asyncio.timeout(timeout):
            await asyncio.shield(self._connecting)

    def pong_time(self) -> float | None:
        session = self._rtm.current_session if self._rtm else None
        return session.last_ping_pong_time if session is not None else None

    def alive(self) -> bool:
        return self._rtm is not None and self._rtm.is_connected()

    async def close(self, grace: float = 2.0) -> None:
        """Stop auto-reconnect first (else its monitor reconnects after close), then close in a thread."""
        rtm = self._rtm
        if rtm is not None:
            rtm.auto_reconnect_enabled = False
            rtm.default_auto_reconnect_enabled = False
        if self._connecting is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(grace):
                    await asyncio.shield(self._connecting)
        rtm = self._rtm
        if rtm is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(grace):
                    await asyncio.to_thread(_shutdown, rtm)


def _shutdown(rtm: RTMClient) -> None:
    """RTMClient.close() waits up to 3 s for a blocked recv and leaves its threads running; this does not."""
    rtm.auto_reconnect_enabled = False
    rtm.closed = True
    if rtm.current_session_state is not None:
        rtm.current_session_state.terminated = True
    session = rtm.current_session
    if session is not None:
        sock = session.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)              # wakes the receiver thread out of recv()
        with contextlib.suppress(Exception):
            session.close()
    for runner in (rtm.current_session_runner, rtm.current_app_monitor, rtm.message_processor):
        runner.event.set()
    rtm.message_workers.shutdown(wait=False)
