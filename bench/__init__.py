"""Benchmark harness: job-orchestrator against peer job queues (issue 7)."""
