"""forestsync flows."""
