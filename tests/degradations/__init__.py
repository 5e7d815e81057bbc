"""Tests of ``restorelab.degradations``."""
