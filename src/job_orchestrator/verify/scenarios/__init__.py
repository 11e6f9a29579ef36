"""The six seed verifications, each a real multi-process scenario.

A scenario gets a ``Run`` (the server's URL, the backend, a work directory, the processes it
may start) and returns a ``Result``. Each one uses a queue of its own, so several scenarios
share one server and a scenario can run against a deployment that has other work on it.
"""

from job_orchestrator.verify.scenarios.common import (
    REGISTRY,
    Outcome,
    Result,
    Run,
    Scenario,
    ScenarioFn,
    Sizes,
    scenario,
)

# Importing a scenario's module registers it: `orchestrator verify` lists and runs them in
# this order, so the imports keep it rather than the alphabet.
# isort: off
from job_orchestrator.verify.scenarios import (
    e2e,
    lease_expiry,
    no_double_claim,
    retry_dlq,
    idempotency,
    execution_timeout,
    schedules,
)
# isort: on

__all__ = [
    "REGISTRY",
    "Outcome",
    "Result",
    "Run",
    "Scenario",
    "ScenarioFn",
    "Sizes",
    "e2e",
    "execution_timeout",
    "idempotency",
    "lease_expiry",
    "no_double_claim",
    "retry_dlq",
    "scenario",
    "schedules",
]
