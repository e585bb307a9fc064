"""One command queue per charger connection: one OCPP call in flight.

OCPP-J allows one outstanding CALL per direction. Callers queue a job and get
its future, so a slow charger delays only its own commands. A caller that
finds the queue idle sends its frame itself, before :meth:`CommandQueue.start`
returns (no hop through another task); queued jobs are started one at a time
as the call before them ends. Every call has a timeout (a timer on the job,
from before its frame is written until its answer); when the connection
closes, queued and in-flight calls fail at once with
:class:`~evsite.errors.ChargerError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from ocpp.exceptions import OCPPError

from evsite.adapters.csms.wire import action_of
from evsite.errors import ChargerError

_LOGGER = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 30.0
MAX_QUEUED = 100

# begin(payload) sends one CALL and returns the future of its result.
Begin = Callable[[Any], Awaitable["asyncio.Future[Any]"]]


@dataclass(slots=True)
class _Job:
    payload: Any
    timeout_s: float
    future: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    answer: asyncio.Future[Any] | None = None  # the endpoint's, once sent
    timer: asyncio.TimerHandle | None = None

    @property
    def action(self) -> str:
        return action_of(self.payload)


class CommandQueue:
    """Serialises calls to one charger: one in flight, the rest in order."""

    def __init__(
        self,
        charger_id: str,
        begin: Begin,
        *,
        ready: Callable[[], bool] = lambda: True,
        max_queued: int = MAX_QUEUED,
    ) -> None:
        """``begin`` sends a call (the endpoint's ``begin_call``).

        ``ready()`` says a frame can be written without waiting for the socket
        to drain: only then does a caller send from its own task.
        """
        self.charger_id = charger_id
        self._begin = begin
        self._ready = ready
        self._max_queued = max_queued
        self._waiting: deque[_Job] = deque()
        self._current: _Job | None = None
        self._closed: str | None = None
        self._starter: asyncio.Task[None] | None = None
        self._sending: _Job | None = None  # the job the starter task sends

    @property
    def pending(self) -> int:
        """Calls queued or in flight."""
        return len(self._waiting) + (1 if self._current is not None else 0)

    async def call(self, payload: Any, timeout_s: float = DEFAULT_TIMEOUT_S) -> Any:
        """Queue a call and wait for the charger's answer.

        Raises:
            ChargerError: not connected, queue full, timeout, CallError or the
                connection closed while waiting.
        """
        return await (await self.start(payload, timeout_s))

    async def start(
        self, payload: Any, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> asyncio.Future[Any]:
        """Queue a call; its frame is written before this returns if the queue is idle.

        Returns the future of the answer (it fails with ChargerError as
        :meth:`call` raises).

        Raises:
            ChargerError: not connected or queue full.
        """
        if self._closed is not None:
            raise ChargerError(f"charger '{self.charger_id}' is {self._closed}")
        job = _Job(payload, timeout_s)
        if self._current is None and not self._waiting and self._ready():
            await self._send(job)
            return job.future
        if len(self._waiting) >= self._max_queued:
            raise ChargerError(f"charger '{self.charger_id}': command queue is full")
        self._waiting.append(job)
        self._start_next()
        return job.future

    async def _send(self, job: _Job) -> None:
        """Make ``job`` the call in flight and write its frame."""
        self._current = job
        loop = asyncio.get_running_loop()
        job.timer = loop.call_later(job.timeout_s, self._expire, job)
        try:
            answer = await self._begin(job.payload)
        except asyncio.CancelledError:  # closed, timed out, or the caller's task
            reason = self._closed or "call cancelled"
            self._end(job, ChargerError(f"charger '{self.charger_id}' {reason}"))
            raise
        except Exception as err:  # socket gone, our payload invalid...
            _LOGGER.debug("%s: %s failed", self.charger_id, job.action, exc_info=True)
            self._end(job, self._error(job, f"failed: {err}", err))
            return
        if job.future.done():  # timed out or closed while the frame was written
            answer.cancel()
            return
        job.answer = answer
        answer.add_done_callback(partial(self._answered, job))

    def _answered(self, job: _Job, answer: asyncio.Future[Any]) -> None:
        if answer.cancelled():
            self._end(job, None)  # the timer or close() failed the job already
            return
        err = answer.exception()
        if err is None:
            if not job.future.done():
                job.future.set_result(answer.result())
            self._end(job, None)
        elif isinstance(err, OCPPError):
            message = f"CallError {err.code}: {err.description}"
            self._end(job, self._error(job, message, err))
        else:  # an answer that breaks the schema
            self._end(job, self._error(job, f"failed: {err}", err))

    def _expire(self, job: _Job) -> None:
        job.timer = None
        message = f"no answer within {job.timeout_s:g} s"
        self._end(job, self._error(job, message, TimeoutError(message)))
        starter = self._starter
        if job.answer is None and starter is not None and job is self._sending:
            starter.cancel()  # still writing its frame (the socket does not drain)

    def _end(self, job: _Job, error: ChargerError | None) -> None:
        """The call is over (idempotent): fail it if ``error``, start the next."""
        if error is not None:
            _fail(job, error)
        if job.timer is not None:
            job.timer.cancel()
            job.timer = None
        if job.answer is not None and not job.answer.done():
            job.answer.cancel()  # the endpoint stops waiting for it
        if self._current is job:
            self._current = None
            self._start_next()

    def _start_next(self) -> None:
        """Start the next queued call from a task (sending it may wait)."""
        if self._current is not None or self._closed is not None:
            return
        while self._waiting and self._waiting[0].future.done():
            self._waiting.popleft()  # the caller gave up while it was queued
        if not self._waiting:
            return
        job = self._current = self._sending = self._waiting.popleft()
        self._starter = asyncio.create_task(
            self._send(job), name=f"ocpp-cmd-{self.charger_id}"
        )

    def _error(self, job: _Job, message: str, cause: BaseException) -> ChargerError:
        error = ChargerError(f"charger '{self.charger_id}': {job.action} {message}")
        error.__cause__ = cause
        return error

    async def close(self, reason: str = "disconnected") -> None:
        """Fail the in-flight call and everything queued; start nothing more."""
        if self._closed is not None:
            return
        self._closed = reason
        error = ChargerError(f"charger '{self.charger_id}' {reason}")
        starter = self._starter
        if starter is not None and not starter.done():
            starter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starter
        if self._current is not None:
            self._end(self._current, error)
        while self._waiting:
            _fail(self._waiting.popleft(), error)


def _fail(job: _Job, error: ChargerError) -> None:
    if not job.future.done():
        job.future.set_exception(error)
        # Read once here: a caller that gave up (cancelled) must not leave an
        # "exception was never retrieved" log; one that awaits still gets it.
        job.future.exception()
