"""The errors a user can act on: printed by the `course` command as one message, never a traceback."""
from __future__ import annotations


class UserError(Exception):
    """A mistake in how the command was called or the course was set up; the message says what to do."""


class ConfigError(UserError, ValueError):
    """course_config.py is missing a setting or holds an invalid value."""
