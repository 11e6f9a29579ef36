"""A thin entry point to ``job_orchestrator.verify``: ``orchestrator verify chaos``.
Kept because the brief names this script; nothing is checked here. Arguments are passed on
(--url, --database-url, --backend, --quick, --keep, --jobs, --workers, --duration)."""

import sys

from job_orchestrator.verify.cli import main

if __name__ == "__main__":
    main(["chaos", *sys.argv[1:]])
