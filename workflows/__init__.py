"""Deterministic workflow code: no I/O, no clock, no randomness, no environment.

Everything third-party is imported inside ``workflow.unsafe.imports_passed_through()``
by the workflow definition modules (``thread.py``, ``run.py``).
"""
