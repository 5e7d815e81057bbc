"""Tests of ``restorelab.ops``."""
