"""Finding the error that matters inside what a task group raised.

A command run under anyio gets its tasks' errors wrapped in exception groups, however deep; to answer a
person ("error: port 8443 is in use", exit 2) it needs the first one of the kinds it knows how to explain.
"""

from __future__ import annotations


def first_of(exc: BaseException, kinds: tuple[type[BaseException], ...]) -> BaseException | None:
    """`exc` itself, or the first exception of `kinds` in its groups (depth first), or None."""
    if isinstance(exc, kinds):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            if (found := first_of(inner, kinds)) is not None:
                return found
    return None
