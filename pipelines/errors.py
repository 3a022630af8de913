"""The exception types the CLI turns into one line on stderr and a non-zero exit, each with its exit code (one
meaning per code: README "Exit codes")."""
import os

EXIT_UNEXPECTED = 1  # a bug or a failed environment: Python's own exit code for an uncaught exception


class UserError(Exception):
    """Bad input or a bad flag value: the message is meant for the user, not a traceback. Permanent: a retry
    cannot help."""
    exit_code = 2


class ValidationFailed(UserError):
    """The catalog broke the schema or the quarantine limit: nothing was published. Permanent."""
    exit_code = 3


class LockHeld(UserError):
    """Another run holds the state folder's lock: temporary, so a scheduler retries it."""
    exit_code = os.EX_TEMPFAIL  # 75 (sysexits.h)


class Unavailable(UserError):
    """A service the job needs (a cluster, its worker pool, a job service) does not answer: temporary, so a
    scheduler retries it."""
    exit_code = os.EX_TEMPFAIL  # 75 (sysexits.h)


class JobFailed(Exception):
    """The runner ran the pipeline and it failed (a worker's error): nothing was published."""
    exit_code = EXIT_UNEXPECTED


class Terminated(Exception):
    """The process got SIGTERM (a scheduler's time limit, a shutdown): raised in the main thread so that the
    job's cleanup runs (its lock released, its staging removed, its cluster job cancelled) before it exits."""
    exit_code = 128 + 15  # what a shell reports for a process ended by SIGTERM
