"""Write throttling as Graph's identity limits apply it: N writes per app and tenant in any S-second window.

The default budget is the one the issue names (3,000 writes per 150 s). A refused write gets 429 with
``Retry-After``: whole seconds until the oldest write of the window leaves it, as the header carries
delta-seconds only.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

DEFAULT_WRITES = 3000
DEFAULT_WINDOW_S = 150.0


@dataclass(frozen=True)
class ThrottleConfig:
    writes: int = DEFAULT_WRITES
    window_s: float = DEFAULT_WINDOW_S
    enabled: bool = True

    @property
    def writes_per_s(self) -> float:
        return self.writes / self.window_s


@dataclass
class WriteThrottle:
    config: ThrottleConfig = field(default_factory=ThrottleConfig)
    clock: Callable[[], float] = time.monotonic
    _windows: dict[str, deque[float]] = field(default_factory=dict)
    accepted: int = 0
    refused: int = 0

    def acquire(self, key: str) -> float | None:
        """Count one write for ``key`` (app and tenant); None if admitted, else seconds to wait."""
        if not self.config.enabled:
            self.accepted += 1
            return None
        now = self.clock()
        window = self._windows.setdefault(key, deque())
        horizon = now - self.config.window_s
        while window and window[0] <= horizon:
            window.popleft()
        if len(window) >= self.config.writes:
            self.refused += 1
            return window[0] + self.config.window_s - now
        window.append(now)
        self.accepted += 1
        return None


def retry_after_header(wait_s: float) -> str:
    return str(max(1, math.ceil(wait_s)))
