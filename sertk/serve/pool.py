"""A bounded pool of inference threads: full means "try again later", never a queue.

``slots`` inferences run at once, each in a thread of its own (the event loop keeps answering
/health and refusing requests meanwhile; torch releases the GIL while it computes). A request
that finds every slot taken is refused at once (:class:`PoolFull`, answered 503 with
``Retry-After``): there is no waiting line whose length a burst of clients could grow.

A request that runs past its deadline is answered 504 at the deadline; its thread keeps the slot
until it has actually stopped, so the pool's bound holds, and :func:`deadline_predictor` makes
it stop at the next model call (each batch of windows checks the deadline).
"""
from __future__ import annotations

import asyncio
import copy
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, TypeVar

T = TypeVar("T")


class PoolFull(Exception):
    """Every inference slot is taken."""


class DeadlinePassed(Exception):
    """The request's time ran out; the work stopped at its next model call."""


class InferencePool:
    """Run blocking inference calls in at most ``slots`` threads at a time."""

    def __init__(self, slots: int):
        if slots < 1:
            raise ValueError(f"the inference pool needs at least one slot, got {slots}")
        self.slots = slots
        self._free = threading.BoundedSemaphore(slots)
        self._executor = ThreadPoolExecutor(max_workers=slots, thread_name_prefix="sertk-infer")

    def acquire(self) -> None:
        """Take a slot now or raise :class:`PoolFull` (never waits)."""
        if not self._free.acquire(blocking=False):
            raise PoolFull()

    def release(self) -> None:
        self._free.release()

    async def run(self, fn: Callable[[], T], timeout: float) -> T:
        """Run ``fn()`` in a pool thread on a slot taken with :meth:`acquire`; the slot is given
        back when ``fn`` returns, even after the caller stopped waiting (which it does, with
        ``asyncio.TimeoutError``, after ``timeout`` seconds)."""
        try:
            future = self._executor.submit(fn)
        except BaseException:
            self.release()
            raise
        future.add_done_callback(lambda _: self.release())
        return await asyncio.wait_for(asyncio.wrap_future(future), timeout)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def deadline_predictor(predictor, deadline: float):
    """A shallow copy of ``predictor`` (the model is shared) whose every model call first
    checks ``deadline`` (a :func:`time.monotonic` time) and raises :class:`DeadlinePassed`
    once it has passed."""
    view = copy.copy(predictor)
    outputs = predictor.outputs  # the one method through which every path calls the model

    def checked(waves):
        if time.monotonic() > deadline:
            raise DeadlinePassed()
        return outputs(waves)

    view.outputs = checked
    return view
