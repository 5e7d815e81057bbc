"""Tests of ``restorelab.metrics``."""
