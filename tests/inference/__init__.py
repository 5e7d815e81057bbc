"""Tests of ``restorelab.inference``."""
