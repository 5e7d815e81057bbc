"""Tests of ``restorelab.commands``."""
