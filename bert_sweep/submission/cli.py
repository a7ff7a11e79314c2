"""`python -m bert_sweep.submit [overrides]` (also `python -m bert_sweep.submission`).

The config is conf/submit.yaml composed with Hydra's Compose API and the command line's
overrides (the same `key=value` syntax as the main command). Compose rather than `@hydra.main`:
the rerun composes conf/config.yaml for the candidate itself, which a running Hydra app would
forbid, and the submission folder must not receive Hydra's `.hydra/` dot-folder.

Exit status: 0 when the tree passed validation (and the official checker, if run) and the
tarball was written; 1 when the tree was written but failed a check; 2 for a refusal or bad
input (one line: what and why).
"""

from __future__ import annotations

import sys

from bert_sweep.errors import BertSweepError, ConfigError

EXIT_FAILED_CHECKS = 1
EXIT_REFUSED = 2
CONFIG_NAME = "submit"
# Lines of OmegaConf/Hydra messages that add nothing for a user.
_NOISE = ("full_key:", "object_type=", "reference_type=", "To append to your config")


def _one_line(exc: BaseException) -> str:
    """The message and its cause's, without OmegaConf's key/type trailer lines."""
    parts = []
    for item in (exc, exc.__cause__):
        if item is None:
            continue
        lines = [" ".join(line.split()) for line in str(item).strip().splitlines()]
        parts += [ln for ln in lines if ln and not ln.startswith(_NOISE)]
    return ": ".join(parts) or type(exc).__name__


def load_config(overrides: list[str]):
    """conf/submit.yaml + overrides, validated into a SubmitConfig (ConfigError, one line)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from bert_sweep.config import config_dir
    from bert_sweep.submission.config import SubmitConfig, register_submit_config

    register_submit_config()
    if GlobalHydra.instance().is_initialized():
        GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(str(config_dir()), version_base="1.3", job_name="submit"):
            cfg = compose(CONFIG_NAME, overrides=list(overrides))
        obj = OmegaConf.to_object(cfg)
    except (HydraException, OmegaConfBaseException) as exc:
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, BertSweepError):
            raise cause from None
        raise ConfigError(f"submit config: {_one_line(exc)}") from None
    if not isinstance(obj, SubmitConfig):
        raise ConfigError("conf/submit.yaml: expected `defaults: [base_submit, _self_]`")
    return obj


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in args):
        print(f"{__doc__}\nOptions and defaults: conf/submit.yaml")
        return 0
    try:
        from bert_sweep.submission.package import submit

        cfg = load_config(args)
        outcome = submit(cfg)
    except BertSweepError as exc:
        print(f"bert_sweep.submit: error: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    return 0 if outcome.ok else EXIT_FAILED_CHECKS


if __name__ == "__main__":
    sys.exit(main())
