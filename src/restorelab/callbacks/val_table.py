"""Old path of :class:`restorelab.training.callbacks.val_table.ValidationTable` (saved configs)."""

from restorelab.training.callbacks.val_table import ValidationTable

__all__ = ["ValidationTable"]
