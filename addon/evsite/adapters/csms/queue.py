"""One command queue per charger connection: one OCPP call in flight.

OCPP-J allows one outstanding CALL per direction; the ``ocpp`` library enforces
it with a lock. Callers never touch that lock: they queue a job and await its
future, so a slow charger delays only its own commands. Every call has a
timeout; when the connection closes, queued and in-flight calls fail at once
with :class:`~evsite.errors.ChargerError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ocpp.exceptions import OCPPError

from evsite.errors import ChargerError

_LOGGER = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 30.0
MAX_QUEUED = 100


@dataclass(slots=True)
class _Job:
    payload: Any
    timeout_s: float
    future: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    @property
    def action(self) -> str:
        return type(self.payload).__name__


class CommandQueue:
    """Serialises calls to one charger through a worker task."""

    def __init__(
        self,
        charger_id: str,
        send: Callable[[Any], Awaitable[Any]],
        *,
        max_queued: int = MAX_QUEUED,
    ) -> None:
        """``send(payload)`` performs one call: ``cp.call(p, suppress=False)``."""
        self.charger_id = charger_id
        self._send = send
        self._queue: asyncio.Queue[_Job] = asyncio.Queue(max_queued)
        self._current: _Job | None = None
        self._closed: str | None = None
        self._task = asyncio.create_task(self._run(), name=f"ocpp-cmd-{charger_id}")

    @property
    def pending(self) -> int:
        """Calls queued or in flight."""
        return self._queue.qsize() + (1 if self._current is not None else 0)

    async def call(self, payload: Any, timeout_s: float = DEFAULT_TIMEOUT_S) -> Any:
        """Queue a call and wait for the charger's answer.

        Raises:
            ChargerError: not connected, queue full, timeout, CallError or the
                connection closed while waiting.
        """
        if self._closed is not None:
            raise ChargerError(f"charger '{self.charger_id}' is {self._closed}")
        job = _Job(payload, timeout_s)
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull as err:
            raise ChargerError(
                f"charger '{self.charger_id}': command queue is full"
            ) from err
        return await job.future

    async def _run(self) -> None:
        while True:
            job = await self._queue.get()
            if job.future.done():  # the caller gave up while it was queued
                continue
            self._current = job
            try:
                # asyncio.timeout, not wait_for: no extra task per call.
                async with asyncio.timeout(job.timeout_s):
                    result = await self._send(job.payload)
            except TimeoutError as err:
                _fail(
                    job, self._error(job, f"no answer within {job.timeout_s:g} s", err)
                )
            except OCPPError as err:
                _fail(
                    job,
                    self._error(job, f"CallError {err.code}: {err.description}", err),
                )
            except asyncio.CancelledError:
                raise
            except Exception as err:  # socket gone, our payload invalid...
                _LOGGER.debug(
                    "%s: %s failed", self.charger_id, job.action, exc_info=True
                )
                _fail(job, self._error(job, f"failed: {err}", err))
            else:
                if not job.future.done():
                    job.future.set_result(result)
            finally:
                self._current = None

    def _error(self, job: _Job, message: str, cause: BaseException) -> ChargerError:
        error = ChargerError(f"charger '{self.charger_id}': {job.action} {message}")
        error.__cause__ = cause
        return error

    async def close(self, reason: str = "disconnected") -> None:
        """Stop the worker; fail the in-flight call and everything queued."""
        if self._closed is not None:
            return
        self._closed = reason
        in_flight = self._current  # the worker clears it when cancelled
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        error = ChargerError(f"charger '{self.charger_id}' {reason}")
        if in_flight is not None:
            _fail(in_flight, error)
        while not self._queue.empty():
            _fail(self._queue.get_nowait(), error)


def _fail(job: _Job, error: ChargerError) -> None:
    if not job.future.done():
        job.future.set_exception(error)
