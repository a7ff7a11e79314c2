"""User-facing errors: each prints as one line naming the field or file and what was expected."""


class BertSweepError(Exception):
    """Base class of errors the CLI reports as a single line (no traceback) with exit code 2."""


class ConfigError(BertSweepError):
    """A config value is out of range or unknown; the message names the field and allowed values."""


class AssetError(BertSweepError):
    """A model, vocab or dataset file is missing, corrupt, or fails its checksum."""


class BackendUnavailableError(BertSweepError):
    """The chosen backend's engine cannot run on this machine (package or hardware missing)."""


class HarnessError(BertSweepError):
    """A loadgen test process failed or produced unreadable logs."""


def field_error(field: str, value: object, expected: str) -> ConfigError:
    """Build the standard one-line message: `<field>=<value>: expected <expected>`."""
    return ConfigError(f"{field}={value!r}: expected {expected}")
