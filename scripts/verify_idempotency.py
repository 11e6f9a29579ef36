"""`orchestrator verify idempotency`: see src/job_orchestrator/verify. Arguments are passed on
(--url, --database-url, --backend, --quick, --keep)."""

import sys

from job_orchestrator.verify.cli import main

if __name__ == "__main__":
    main(["idempotency", *sys.argv[1:]])
