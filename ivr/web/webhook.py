"""The webhook client: posts one alert, signed (see ``ivr.domain.alert_push``).

The secret is held as bytes and never logged; errors name the status or the network failure,
never the secret or the body. Redirects are not followed (a signed body goes only where it was
configured to go).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import aiohttp
from yarl import URL

from ivr.domain.alert_push import (
    KEY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    OutboxItem,
    body_of,
    sign,
)


class WebhookError(RuntimeError):
    pass


class AiohttpWebhookSender:
    def __init__(
        self,
        url: str,
        secret: bytes,
        timeout_s: float = 10.0,
        unix_time: Callable[[], float] = time.time,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError("the webhook URL must be http:// or https://")
        if not secret:
            raise ValueError("the webhook needs a signing secret")
        self._url = url
        self._secret = secret
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._unix_time = unix_time
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        """Scheme, host and port only: never the secret, nor credentials or a token that a
        URL may carry in its user info, path or query."""
        url = URL(self._url)
        return f"AiohttpWebhookSender('{url.scheme}://{url.host}:{url.port}')"

    async def send(self, item: OutboxItem) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        body = body_of(item)
        stamp = int(self._unix_time())
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            TIMESTAMP_HEADER: str(stamp),
            SIGNATURE_HEADER: sign(self._secret, stamp, body),
            KEY_HEADER: item.key,
        }
        try:
            async with self._session.post(
                self._url, data=body, headers=headers, allow_redirects=False
            ) as response:
                if not 200 <= response.status < 300:
                    raise WebhookError(f"receiver answered HTTP {response.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise WebhookError(f"{type(exc).__name__}: {exc}"[:200]) from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
