"""Tests of ``restorelab.data``."""
