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


# Lines of OmegaConf/Hydra messages that add nothing for a user.
_NOISE = ("full_key:", "object_type=", "reference_type=", "To append to your config")


def one_line(exc: BaseException, with_type: bool = False, first_line: bool = False) -> str:
    """An exception as one line: its message and its cause's, without OmegaConf's trailer lines.

    `with_type` prefixes the exception's type (`ValueError: ...`), for errors that are not ours;
    `first_line` keeps only the first line of each message (engine errors can run to pages).
    """
    parts: list[str] = []
    for item in (exc, exc.__cause__ or exc.__context__):
        if item is None:
            continue
        lines = [" ".join(line.split()) for line in str(item).strip().splitlines()]
        lines = [ln for ln in lines if ln and not ln.startswith(_NOISE)]
        text = (lines[:1] if first_line else [" ".join(lines)]) if lines else []
        parts += [t for t in text if t and t not in parts]
    text = ": ".join(parts)
    if with_type:
        return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text or type(exc).__name__
