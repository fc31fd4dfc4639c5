"""The one exception tree of forestsync.

Every error the engine raises derives from :class:`ForestsyncError` and says whether retrying the same
operation can succeed (``transient``) so that retries are mechanical, never guessed from messages.
It lives in ``transforms`` because the pure core raises these too; ``flows`` extends the tree.
"""

from __future__ import annotations

from typing import ClassVar


class ForestsyncError(Exception):
    """Root of every forestsync error."""

    transient: ClassVar[bool] = False


class TerminalError(ForestsyncError):
    """Retrying the same operation with the same input fails the same way."""

    transient = False


class TransientError(ForestsyncError):
    """A passing condition (throttling, a dropped connection); the operation may be retried."""

    transient = True


class InputError(TerminalError, ValueError):
    """Bad input: a file, an expression, a rule or a value that cannot be used as given."""
