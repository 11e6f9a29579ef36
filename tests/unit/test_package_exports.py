from __future__ import annotations

import job_orchestrator
import job_orchestrator.sdk


def test_the_package_re_exports_exactly_the_sdk() -> None:
    assert sorted(job_orchestrator.__all__) == sorted(job_orchestrator.sdk.__all__)
    for name in job_orchestrator.__all__:
        assert getattr(job_orchestrator, name) is getattr(job_orchestrator.sdk, name)
