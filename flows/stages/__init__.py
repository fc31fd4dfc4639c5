"""Run steps: import, sync, export, each one run-history row."""
