"""`python -m bert_sweep.submit [overrides]` (also `python -m bert_sweep.submission`).

The config is conf/submit.yaml composed with Hydra's Compose API and the command line's
overrides (the same `key=value` syntax as the main command). Compose rather than `@hydra.main`:
the rerun composes conf/config.yaml for the candidate itself, which a running Hydra app would
forbid, and the submission folder must not receive Hydra's `.hydra/` dot-folder.

Exit status (the codes of `python -m bert_sweep`, bert_sweep/exits.py): 0 when the tree passed
validation (and the official checker, if run) and the tarball was written; 3 when the tree was
written but failed a check; 2 for a refusal or bad input (one line: what and why; an output
folder this command created and left empty is removed); 1 for an internal error (traceback in
the output folder's error.log); 130 for Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import traceback
from pathlib import Path

from bert_sweep import exits
from bert_sweep.errors import BertSweepError, ConfigError, one_line

EXIT_FAILED_CHECKS = exits.EXIT_FAILED
EXIT_REFUSED = exits.EXIT_USAGE
CONFIG_NAME = "submit"


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
        raise ConfigError(f"submit config: {one_line(exc)}") from None
    if not isinstance(obj, SubmitConfig):
        raise ConfigError("conf/submit.yaml: expected `defaults: [base_submit, _self_]`")
    return obj


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in args):
        print(f"{__doc__}\nOptions and defaults: conf/submit.yaml")
        return 0
    exits.handle_sigterm()
    out, existed = None, True
    try:
        from bert_sweep.submission.package import default_output_dir, submit

        cfg = load_config(args)
        out = Path(cfg.output_dir) if cfg.output_dir else default_output_dir()
        existed = out.exists()
        outcome = submit(dataclasses.replace(cfg, output_dir=str(out)))
    except BertSweepError as exc:
        if not existed:
            _remove_empty(out)
        print(f"bert_sweep.submit: error: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except KeyboardInterrupt as exc:
        print(f"bert_sweep.submit: {exits.interrupt_reason(exc)}", file=sys.stderr)
        return exits.EXIT_INTERRUPTED
    except Exception as exc:
        where = _save_traceback(out)
        line = one_line(exc, with_type=True, first_line=True)
        print(f"bert_sweep.submit: error: {line} (traceback in {where})", file=sys.stderr)
        return exits.EXIT_CRASH
    return 0 if outcome.ok else EXIT_FAILED_CHECKS


def _remove_empty(folder: Path | None) -> None:
    """Remove `folder` and the folders under it if none of them holds a file (nothing to see)."""
    if folder is None or not folder.is_dir():
        return
    for root, _dirs, files in os.walk(folder, topdown=False):
        if files:
            return
        try:
            Path(root).rmdir()
        except OSError:
            return


def _save_traceback(out: Path | None) -> Path:
    import tempfile

    text = traceback.format_exc()
    if out is not None and out.is_dir():
        path = out / "error.log"
    else:
        fd, name = tempfile.mkstemp(prefix="bert_sweep-submit-", suffix=".log")
        os.close(fd)
        path = Path(name)
    path.write_text(text)
    return path


if __name__ == "__main__":
    sys.exit(main())
