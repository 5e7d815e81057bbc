"""Tests of ``restorelab.training``."""
