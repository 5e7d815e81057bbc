"""Tests of ``restorelab.runs``."""
