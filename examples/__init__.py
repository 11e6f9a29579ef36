"""Example handlers for the demo (`python scripts/demo.py`)."""
