"""The exception types the CLI turns into one line on stderr and a non-zero exit."""


class UserError(Exception):
    """Bad input or a bad flag value: the message is meant for the user, not a traceback."""


class ValidationFailed(UserError):
    """The catalog broke the schema or the quarantine limit: nothing was published."""


class LockHeld(UserError):
    """Another run holds the state folder's lock: temporary, so a scheduler retries it (exit 75)."""
