"""The ``orchestrator`` command (``main.py``)."""
