"""Peer systems measured on the same workload as job-orchestrator."""
