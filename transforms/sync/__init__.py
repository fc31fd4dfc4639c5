"""The vectorized sync engine: ``run_sync(state, rules, ...) -> SyncResult``."""

from transforms.sync.engine import bind_rules, default_mv_ids, run_sync
from transforms.sync.exports import apply_export_results, record_exports
from transforms.sync.state import SyncResult, SyncState

__all__ = [
    "SyncResult",
    "SyncState",
    "apply_export_results",
    "bind_rules",
    "default_mv_ids",
    "record_exports",
    "run_sync",
]
