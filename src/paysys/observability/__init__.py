"""Observability: structured logs, traces and the AWS call counters, configured in one place."""
