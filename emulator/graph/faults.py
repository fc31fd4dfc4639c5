"""Fault injection, set when the emulator starts: throttling, unavailability, timeouts, dropped connections.

``throttle`` and ``unavailable`` answer before the request is processed (nothing was written);
``timeout`` and ``drop`` happen after it was processed, so the client loses the response of a write
that took effect, which is what idempotent retries must survive.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import Enum


class Fault(Enum):
    THROTTLE = "throttle"  # 429 with Retry-After
    UNAVAILABLE = "unavailable"  # 503 with Retry-After
    TIMEOUT = "timeout"  # processed, then the response is held past the client's timeout
    DROP = "drop"  # processed, then the connection is closed mid-response


@dataclass(frozen=True)
class FaultConfig:
    rate_429: float = 0.0
    rate_503: float = 0.0
    rate_timeout: float = 0.0
    rate_drop: float = 0.0
    timeout_delay_s: float = 5.0
    retry_after_s: int = 1
    seed: int | None = None

    @property
    def total(self) -> float:
        return self.rate_429 + self.rate_503 + self.rate_timeout + self.rate_drop

    @classmethod
    def uniform(cls, rate: float, **kwargs: float | int | None) -> FaultConfig:
        """``rate`` split evenly over the four faults."""
        quarter = rate / 4
        return cls(rate_429=quarter, rate_503=quarter, rate_timeout=quarter, rate_drop=quarter, **kwargs)  # type: ignore[arg-type]


@dataclass
class FaultInjector:
    config: FaultConfig = field(default_factory=FaultConfig)
    injected: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.config.total > 1.0:
            raise ValueError("fault rates add up to more than 1")
        # Separate streams: the n-th request draws the same fault whatever the batches around it hold.
        self._rng = random.Random(self.config.seed)
        self._item_rng = random.Random(None if self.config.seed is None else self.config.seed + 1)

    def draw(self, *, allow_after: bool = True) -> Fault | None:
        """The fault for one request, if any; ``allow_after=False`` for sub-requests of a batch."""
        if self.config.total == 0:
            return None
        x = (self._rng if allow_after else self._item_rng).random()
        c = self.config
        for fault, rate in (
            (Fault.THROTTLE, c.rate_429),
            (Fault.UNAVAILABLE, c.rate_503),
            (Fault.TIMEOUT, c.rate_timeout if allow_after else 0.0),
            (Fault.DROP, c.rate_drop if allow_after else 0.0),
        ):
            if x < rate:
                self.injected[fault.value] = self.injected.get(fault.value, 0) + 1
                return fault
            x -= rate
        return None
