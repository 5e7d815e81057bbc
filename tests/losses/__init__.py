"""Tests of ``restorelab.losses``."""
