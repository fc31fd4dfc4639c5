"""forestsync transforms."""
