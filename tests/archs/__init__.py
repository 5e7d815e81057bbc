"""Tests of ``restorelab.archs``."""
