"""Pure domain logic: states, transitions, retry decisions. No I/O, no database."""
