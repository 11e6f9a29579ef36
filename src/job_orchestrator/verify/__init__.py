"""The verification suite: the seed's guarantees checked against a real server, through the API.

Each scenario starts (or targets, with ``--url``) a real server, runs real worker processes
through the SDK (``python -m job_orchestrator.verify.worker``), and checks the outcome through
the HTTP API and an effects ledger of its own (an append-only file, independent of the
orchestrator's database). Nothing here imports the server's store: the point is to verify what
a user of the API can see.

    orchestrator verify [all|e2e|lease_expiry|...|chaos] [--url URL] [--backend postgres|sqlite]
"""

from __future__ import annotations
