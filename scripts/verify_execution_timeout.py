"""`orchestrator verify execution_timeout`: see src/job_orchestrator/verify. Arguments are passed on
(--url, --database-url, --backend, --quick, --keep)."""

import sys

from job_orchestrator.verify.cli import main

if __name__ == "__main__":
    main(["execution_timeout", *sys.argv[1:]])
