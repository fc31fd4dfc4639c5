"""Vectorized sync stages: scope, join, projection, attribute flow, precedence, diff, obsoletion."""
