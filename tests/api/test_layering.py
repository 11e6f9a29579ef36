"""Routes and pages go through services: only the wiring (app.py, server.py) imports the store.

A scan of the source, not of sys.modules: the services the routes use import the store
themselves, so what matters is which of the api package's modules name it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import job_orchestrator.api

API = Path(job_orchestrator.api.__file__).parent
WIRING = {"app.py", "server.py"}
STORE = "job_orchestrator.store"


def imported_modules(source: str, module: str) -> set[str]:
    """Every module ``source`` imports, at any depth (function bodies too), as absolute names."""
    package = module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importing module's package
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def store_imports(source: str, module: str) -> set[str]:
    return {
        name
        for name in imported_modules(source, module)
        if name == STORE or name.startswith(f"{STORE}.")
    }


def api_modules() -> dict[str, Path]:
    return {
        "job_orchestrator.api." + ".".join(path.relative_to(API).with_suffix("").parts): path
        for path in sorted(API.rglob("*.py"))
    }


def test_only_the_wiring_modules_import_the_store() -> None:
    offenders = {
        module: sorted(store_imports(path.read_text(), module))
        for module, path in api_modules().items()
        if path.relative_to(API).as_posix() not in WIRING
    }
    assert {module: names for module, names in offenders.items() if names} == {}


def store_attributes(source: str) -> int:
    """How often ``source`` reaches for ``something.store`` (e.g. ``service.store.ping()``)."""
    return sum(
        isinstance(node, ast.Attribute) and node.attr == "store"
        for node in ast.walk(ast.parse(source))
    )


def test_no_route_or_page_reaches_through_a_service_to_its_store() -> None:
    reaching = {
        module: store_attributes(path.read_text())
        for module, path in api_modules().items()
        if path.relative_to(API).as_posix() not in WIRING
    }
    assert {module: n for module, n in reaching.items() if n} == {}
    assert store_attributes("await deps.service(request).store.ping()") == 1


def test_the_scan_sees_every_module_and_the_wiring_itself() -> None:
    # Guards the test above against passing vacuously (a wrong folder, a scan that finds nothing).
    modules = api_modules()
    assert {"job_orchestrator.api.auth", "job_orchestrator.api.ui.pages"} <= modules.keys()
    assert "job_orchestrator.api.routes.ops" in modules
    app = modules["job_orchestrator.api.app"]
    assert store_imports(app.read_text(), "job_orchestrator.api.app")


def test_the_scan_catches_every_form_of_store_import() -> None:
    module = "job_orchestrator.api.routes.ops"
    for source in (
        "import job_orchestrator.store",
        "from job_orchestrator.store.base import Store",
        "from job_orchestrator import store",
        "def f():\n    from job_orchestrator.store import open_store",
        "from ...store import Store",
    ):
        assert store_imports(source, module), source
    assert not store_imports("from job_orchestrator.services.keys import KeyService", module)
    assert not store_imports("from job_orchestrator import storefront", module)
