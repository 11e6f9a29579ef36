"""`orchestrator verify lease_expiry`: see src/job_orchestrator/verify. Arguments are passed on
(--url, --database-url, --backend, --quick, --keep)."""

import sys

from job_orchestrator.verify.cli import main

if __name__ == "__main__":
    main(["lease_expiry", *sys.argv[1:]])
