"""A thin entry point to ``job_orchestrator.verify``: ``orchestrator verify idempotency``.
Kept because the brief names this script; nothing is checked here. Arguments are passed on
(--url, --database-url, --backend, --quick, --keep)."""

import sys

from job_orchestrator.verify.cli import main

if __name__ == "__main__":
    main(["idempotency", *sys.argv[1:]])
