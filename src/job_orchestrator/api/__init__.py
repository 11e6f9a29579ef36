"""The HTTP control plane (FastAPI): thin routes over the services."""
