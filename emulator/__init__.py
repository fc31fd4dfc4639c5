"""forestsync emulator."""
