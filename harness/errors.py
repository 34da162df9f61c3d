"""User-facing errors.

Anything raised as a `HarnessError` is bad input the user can fix (a YAML key, a dataset row,
a missing path). The CLI prints its message on one line and exits with status 2, without a
traceback; every other exception is a bug and keeps its traceback.
"""


class HarnessError(Exception):
    """Bad input: printed as `error: <message>`, exit code 2."""


class ConfigError(HarnessError):
    """A config file or override is invalid. The message names the file and the dotted key."""


class DataError(HarnessError):
    """A dataset is unusable. The message names the file, the row and the reason."""
