"""The errors ecalib raises for its users: what was wrong and what is allowed, shown without a traceback.

Everything else that goes wrong (a bug here or in a library) keeps its traceback on the command line.
"""

from __future__ import annotations


class UserError(Exception):
    """Base of the errors caused by what the user asked for or gave (bad value, unusable file, busy run)."""


class UsageError(UserError, ValueError):
    """A value that is not allowed (the message lists what is)."""
