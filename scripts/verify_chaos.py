"""`orchestrator verify chaos`: see src/job_orchestrator/verify. Arguments are passed on
(--url, --database-url, --backend, --quick, --keep, --jobs, --workers, --duration)."""

import sys

from job_orchestrator.verify.cli import main

if __name__ == "__main__":
    main(["chaos", *sys.argv[1:]])
