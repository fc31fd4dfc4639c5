"""forestsync flows."""

import os

# Polars' allocator (jemalloc) hands freed pages back to the OS after half a second; a sync frees
# and reuses gigabytes between its steps, and every page taken back costs a fault (microseconds on a
# VM: measured, a quarter of a delta sync of a million users). jemalloc's own default, ten seconds,
# keeps them through a sync. It takes effect only before Polars is first imported (the CLI, the
# Prefect flows and the bench import this package first); an administrator's own setting wins.
MALLOC_CONF = "dirty_decay_ms:10000,muzzy_decay_ms:10000"
os.environ.setdefault("_RJEM_MALLOC_CONF", MALLOC_CONF)
