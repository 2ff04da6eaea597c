"""Slack's rate limits: a 429's Retry-After waited out by slack_sdk's retry machinery, with a log
line per wait and tolerance of a malformed header (the Slack adapter's, apart from its logic)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (AsyncConnectionErrorRetryHandler,
                                                         AsyncRateLimitErrorRetryHandler)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

log = logging.getLogger("adapters.slack")


def retry_after(headers: Any, default: float = 1.0) -> float:
    """Seconds from a Retry-After header (a dict of lists or of strings, any case)."""
    for key, value in dict(headers or {}).items():
        if key.lower() == "retry-after":
            value = value[0] if isinstance(value, (list, tuple)) else value
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                return default
    return default


class RetryAfterHandler(AsyncRateLimitErrorRetryHandler):
    """Waits out a 429's Retry-After, then retries the same call (up to `max_retry_count` times).

    slack_sdk's handler, plus a log line per wait (an owner wonders why the bot is slow) and
    tolerance of a malformed or fractional header, which its `int()` would turn into a crash.
    """

    async def prepare_for_next_attempt_async(self, *, state: RetryState, request: HttpRequest,
                                             response: HttpResponse | None = None,
                                             error: Exception | None = None) -> None:
        if response is None:
            raise error  # type: ignore[misc]
        delay = retry_after(response.headers)
        log.warning("Slack rate-limited %s; retrying in %.1fs (attempt %d)", request.url.rsplit("/", 1)[-1],
                    delay, state.current_attempt + 1)
        state.next_attempt_requested = True
        await asyncio.sleep(delay)
        state.increment_current_attempt()


def retry_handlers(max_retries: int) -> list[AsyncRetryHandler]:
    return [AsyncConnectionErrorRetryHandler(max_retry_count=2), RetryAfterHandler(max_retry_count=max_retries)]
