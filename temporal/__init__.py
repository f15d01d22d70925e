"""The only place that builds a Temporal ``Client`` or ``Worker``."""
