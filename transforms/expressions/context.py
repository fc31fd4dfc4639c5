"""Per-evaluation context handed to functions that read the clock or need randomness."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass
class EvalContext:
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    rng: random.Random = field(default_factory=random.Random)


@dataclass
class CompileContext:
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    seed: int = field(default_factory=lambda: random.randrange(2**31))
    counter: int = 0

    def next_seed(self) -> int:
        self.counter += 1
        return self.seed + self.counter * 7919
