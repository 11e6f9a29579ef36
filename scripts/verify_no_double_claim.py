"""`orchestrator verify no_double_claim`: see src/job_orchestrator/verify. Arguments are passed on
(--url, --database-url, --backend, --quick, --keep)."""

import sys

from job_orchestrator.verify.cli import main

if __name__ == "__main__":
    main(["no_double_claim", *sys.argv[1:]])
