"""Per co-signer queue of work items, handed out as the answer to a held long poll.

Work waits here until the co-signer polls; a poll that finds the box empty waits for the first item (or
the long-poll interval). Items are taken only when a poll answers, and put back at the front when that
answer could not be sent, so a broken connection loses nothing the SaaS still wants delivered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

import anyio

from cosigner_ha import wire
from cosigner_ha.env import scopes

PRUNE_ABOVE = 64


class Mailbox:
    def __init__(self, *, still_wanted: Callable[[wire.WorkItem], bool] = lambda item: True) -> None:
        self._items: list[wire.WorkItem] = []
        #: What an arriving item calls: the `set` of each waiting poll's flag.
        self._waiters: list[Callable[[], object]] = []
        self._still_wanted = still_wanted

    def __len__(self) -> int:
        return len(self._items)

    @property
    def items(self) -> tuple[wire.WorkItem, ...]:
        return tuple(self._items)

    def put(self, item: wire.WorkItem) -> None:
        if len(self._items) >= PRUNE_ABOVE:  # a node that stopped polling: drop what expired meanwhile
            self._items = [queued for queued in self._items if self._still_wanted(queued)]
        self._items.append(item)
        self._wake()

    def put_back(self, items: Iterable[wire.WorkItem]) -> None:
        """Items a poll took but could not deliver go back to the front, in their order."""
        back = list(items)
        if back:
            self._items[:0] = back
            self._wake()

    def drop(self, predicate: Callable[[wire.WorkItem], bool]) -> int:
        """Remove queued items that no longer matter (a closed session's round two, say)."""
        before = len(self._items)
        self._items = [item for item in self._items if not predicate(item)]
        return before - len(self._items)

    def take(self) -> list[wire.WorkItem]:
        """Everything queued that is still wanted (expired probes are dropped here), oldest first."""
        items = [item for item in self._items if self._still_wanted(item)]
        self._items = []
        return items

    async def wait(
        self, timeout: float, *, watch: Callable[[scopes.Flag, float], Awaitable[object]] | None = None
    ) -> list[wire.WorkItem]:
        """The queued items as soon as there are any, or an empty list after `timeout` seconds.

        `watch(arrived, seconds)` (the gateway watching the poll's connection) runs while the box is
        empty, in this task, and must end when `arrived` is set (work came) or its time is up; when it
        ends by itself (the connection ended or sent a frame) the wait goes on without it. A held poll
        thus costs no task of its own, and on trio no cancel scope: an arriving item sets a flag whose
        sleepers (the watch's receive, then this wait) wake, as the scope's cancellation woke them."""
        items = self.take()
        if items:  # the common case under load
            return items
        deadline = anyio.current_time() + timeout
        while True:
            arrived = scopes.Flag()
            self._waiters.append(arrived.set)
            if watch is not None:
                await watch(arrived, timeout)
                watch = None
            if not arrived.is_set():
                await arrived.wait(deadline - anyio.current_time())
            items = self.take()
            if not arrived.is_set():  # the deadline ended it, not an item
                self._waiters.remove(arrived.set)
                return items
            if items:
                return items
            # Woken, but another poll of this box took what woke this one: wait out the rest.
            timeout = deadline - anyio.current_time()
            if timeout <= 0:
                return items

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for wake in waiters:
            wake()
