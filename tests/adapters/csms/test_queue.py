"""The per-charger command queue: one call in flight, sent at once when idle.

A fake endpoint stands for ``EndpointMixin.begin_call``: it records when each
frame is written and hands back the future the charger's answer settles.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest
from ocpp.exceptions import NotSupportedError

from evsite.adapters.csms.queue import CommandQueue
from evsite.errors import ChargerError
from tests.conftest import wait_until


class Endpoint:
    """Writes frames (never more than one unanswered) and answers on demand."""

    def __init__(self) -> None:
        self.written: list[Any] = []
        self.answers: list[asyncio.Future[Any]] = []
        self.in_flight = 0
        self.peak = 0
        self.drain: asyncio.Event | None = None  # set: writes wait for it

    async def begin(self, payload: Any) -> asyncio.Future[Any]:
        if self.drain is not None:
            await self.drain.wait()
        self.written.append(payload)
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        answer.add_done_callback(self._over)
        self.answers.append(answer)
        return answer

    def _over(self, _: asyncio.Future[Any]) -> None:
        self.in_flight -= 1

    def answer(self, index: int, value: Any = "ok") -> None:
        self.answers[index].set_result(value)


async def test_an_idle_queue_writes_the_frame_before_start_returns() -> None:
    endpoint = Endpoint()
    queue = CommandQueue("CP1", endpoint.begin)
    answer = await queue.start("first")
    assert endpoint.written == ["first"]  # no hop through another task
    assert queue.pending == 1
    endpoint.answer(0, "done")
    assert await answer == "done"
    assert queue.pending == 0


async def test_one_call_in_flight_the_rest_in_order() -> None:
    endpoint = Endpoint()
    queue = CommandQueue("CP1", endpoint.begin)
    answers = [await queue.start(f"call{i}") for i in range(3)]
    assert endpoint.written == ["call0"]
    assert queue.pending == 3
    for i in range(3):
        await wait_until(lambda i=i: len(endpoint.written) == i + 1)
        assert endpoint.in_flight == 1
        endpoint.answer(i, i)
        assert await answers[i] == i
    assert endpoint.written == ["call0", "call1", "call2"]
    assert endpoint.peak == 1


async def test_a_socket_that_must_drain_sends_from_the_queue_not_the_caller() -> None:
    endpoint = Endpoint()
    ready = False
    queue = CommandQueue("CP1", endpoint.begin, ready=lambda: ready)
    answer = await queue.start("waits")
    assert endpoint.written == []  # the caller did not wait for the socket
    await wait_until(lambda: endpoint.written == ["waits"])
    endpoint.answer(0)
    assert await answer == "ok"
    ready = True
    await queue.start("now")
    assert endpoint.written == ["waits", "now"]


async def test_no_answer_in_time_fails_the_call_and_the_next_one_goes() -> None:
    endpoint = Endpoint()
    queue = CommandQueue("CP1", endpoint.begin)
    late = await queue.start("late", timeout_s=0.05)
    following = await queue.start("next")
    with pytest.raises(ChargerError, match=r"no answer within 0\.05 s"):
        await late
    assert endpoint.answers[0].cancelled()  # the endpoint stops waiting for it
    await wait_until(lambda: endpoint.written == ["late", "next"])
    endpoint.answer(1)
    assert await following == "ok"


async def test_a_frame_stuck_in_the_socket_times_out_and_is_abandoned() -> None:
    endpoint = Endpoint()
    endpoint.drain = asyncio.Event()  # the charger reads nothing
    queue = CommandQueue("CP1", endpoint.begin, ready=lambda: False)
    stuck = await queue.start("stuck", timeout_s=0.05)
    with pytest.raises(ChargerError, match="no answer within"):
        await stuck
    assert queue.pending == 0
    await queue.close()


async def test_call_errors_and_bad_answers_fail_only_their_call() -> None:
    endpoint = Endpoint()
    queue = CommandQueue("CP1", endpoint.begin)
    refused = await queue.start("refused")
    endpoint.answers[0].set_exception(NotSupportedError(description="nope"))
    with pytest.raises(ChargerError, match="CallError NotSupported: nope"):
        await refused
    broken = await queue.start("broken")
    endpoint.answers[1].set_exception(ValueError("status 'Maybe' is not allowed"))
    with pytest.raises(ChargerError, match="failed: status 'Maybe'"):
        await broken
    fine = await queue.start("fine")
    endpoint.answer(2)
    assert await fine == "ok"


async def test_close_fails_the_call_in_flight_and_the_queued_ones_at_once() -> None:
    endpoint = Endpoint()
    queue = CommandQueue("CP1", endpoint.begin)
    answers = [await queue.start(f"call{i}") for i in range(3)]
    await queue.close("disconnected")
    for answer in answers:
        with pytest.raises(ChargerError, match="disconnected"):
            await answer
    assert endpoint.answers[0].cancelled()
    assert endpoint.written == ["call0"]
    with pytest.raises(ChargerError, match="is disconnected"):
        await queue.start("after")


async def test_a_full_queue_refuses_more() -> None:
    endpoint = Endpoint()
    queue = CommandQueue("CP1", endpoint.begin, max_queued=2)
    in_flight = [await queue.start(f"call{i}") for i in range(3)]  # 1 + 2 queued
    with pytest.raises(ChargerError, match="queue is full"):
        await queue.start("one too many")
    await queue.close()
    for answer in in_flight:
        with pytest.raises(ChargerError):
            await answer


async def test_a_caller_that_gives_up_leaves_no_unretrieved_error(caplog) -> None:
    """Nobody awaits these failed answers: asyncio must not log them."""
    endpoint = Endpoint()
    queue = CommandQueue("CP1", endpoint.begin)
    await queue.start("abandoned", timeout_s=0.01)
    await wait_until(lambda: queue.pending == 0)
    await queue.start("dropped")
    await queue.close()
    endpoint.answers.clear()
    gc.collect()
    await asyncio.sleep(0)
    assert "never retrieved" not in caplog.text
