"""What a simulated link does to a frame (`LinkSpec`) and what it carried (`LinkStats`)."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LinkSpec:
    """One direction of a link between two hosts. Times in (simulated) seconds.

    A frame takes `latency` plus a uniform draw in `[0, jitter]`; with probability `loss` a
    transmission is lost and the frame is sent again `rto` later (repeatedly), so loss shows as delay:
    a connection is a reliable stream, like TCP, and keeps frames in order.
    """

    latency: float = 0.0
    jitter: float = 0.0
    loss: float = 0.0
    rto: float = 0.2

    def __post_init__(self) -> None:
        for name in ("latency", "jitter", "loss", "rto"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"LinkSpec.{name} must be a finite number, got {value!r}")
        if self.latency < 0:
            raise ValueError(f"LinkSpec.latency must be at least 0 seconds, got {self.latency!r}")
        if self.jitter < 0:
            raise ValueError(f"LinkSpec.jitter must be at least 0 seconds, got {self.jitter!r}")
        if not 0 <= self.loss < 1:
            raise ValueError(
                f"LinkSpec.loss must be a probability from 0 up to (not including) 1, got {self.loss!r}; "
                "to cut a link, partition it"
            )
        if self.rto <= 0:
            raise ValueError(f"LinkSpec.rto must be above 0 seconds, got {self.rto!r}")

    def draw_delay(self, rng: random.Random) -> tuple[float, int]:
        """One frame's transit time and how many transmissions were lost on the way.

        Draws nothing for a zero `jitter` or `loss`, one number for jitter, then one per transmission.
        """
        delay = self.latency
        if self.jitter:
            delay += rng.random() * self.jitter
        lost = 0
        if self.loss:
            while rng.random() < self.loss:
                lost += 1
        return delay + lost * self.rto, lost


@dataclass(slots=True)
class LinkStats:
    """Counters for one direction between two hosts; bytes are frame payloads, without framing."""

    frames_sent: int = 0
    bytes_sent: int = 0
    frames_delivered: int = 0
    bytes_delivered: int = 0
    retransmissions: int = 0
    frames_dropped: int = 0

    def copy(self) -> LinkStats:
        return LinkStats(
            self.frames_sent,
            self.bytes_sent,
            self.frames_delivered,
            self.bytes_delivered,
            self.retransmissions,
            self.frames_dropped,
        )
