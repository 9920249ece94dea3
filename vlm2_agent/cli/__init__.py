"""Console entry points; each one is a Hydra app over ``configs/``."""

import functools
import os
import sys
from contextlib import contextmanager

CONFIG_PATH = "pkg://configs"


_RAISED_TO_US: list[bool] = []  # non-empty while vlm2_app has set HYDRA_FULL_ERROR for its own use


def vlm2_app(config_name: str):
    """The decorator of every console script: ``hydra.main`` over ``configs/<config_name>.yaml``,
    with each kind of bad input reported as one ``error: ...`` line and exit status 2:

    - a value the app checks (:func:`reports_user_errors`);
    - a key or type the config's schema refuses, or an override Hydra cannot parse or apply (Hydra
      would print these itself, and a few that OmegaConf trips over, such as ``+a.b=1`` under a
      null ``a``, as a traceback of its own internals).

    ``HYDRA_FULL_ERROR=1`` shows every traceback as usual.
    """
    import hydra

    def wrap(main):
        hydra_main = hydra.main(config_path=CONFIG_PATH, config_name=config_name, version_base="1.3")(
            reports_user_errors(main))

        @functools.wraps(main)
        def run(*args, **kwargs):
            if os.environ.get("HYDRA_FULL_ERROR") == "1" or args or kwargs:  # a caller passing a cfg: plain call
                return hydra_main(*args, **kwargs)
            os.environ["HYDRA_FULL_ERROR"] = "1"  # composition errors are raised to us instead of printed
            _RAISED_TO_US.append(True)
            try:
                return hydra_main()
            except Exception as e:
                if not from_config_machinery(e):
                    raise
                print(f"error: {config_error_text(e, sys.argv[1:])}\n(set HYDRA_FULL_ERROR=1 for the traceback)",
                      file=sys.stderr)
                raise SystemExit(2) from None
            finally:
                os.environ.pop("HYDRA_FULL_ERROR", None)
                _RAISED_TO_US.pop()

        return run

    return wrap


def from_config_machinery(e: BaseException) -> bool:
    """Raised while Hydra composed the config (its own errors, OmegaConf's, or an assertion inside them)."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    if isinstance(e, (HydraException, OmegaConfBaseException)):
        return True
    tb = e.__traceback__
    last = None
    while tb is not None:
        last, tb = tb.tb_frame.f_code.co_filename, tb.tb_next
    return isinstance(e, AssertionError) and last is not None and ("/omegaconf/" in last or "/hydra/" in last)


def config_error_text(e: BaseException, overrides: list[str]) -> str:
    """The message and its causes on one line: ``Error merging override train.lr=fast: Value 'fast' ...
    full_key: train.lr``; an assertion inside OmegaConf names the overrides it failed on."""
    parts: list[str] = [f"the overrides {overrides} could not be applied"] if isinstance(e, AssertionError) else []
    seen: set[int] = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        lines = [x.strip() for x in str(e).splitlines() if x.strip() and not x.strip().startswith(
            ("object_type=", "reference_type=", "Set the environment"))]
        text = " ".join(lines)
        if text and text not in parts and "$VALUE" not in text:  # OmegaConf's message template
            parts.append(text)
        e = e.__cause__ or e.__context__
    return ": ".join(parts) or "invalid configuration"


def reports_user_errors(main):
    """Wrap a console script's ``main``: a bad input (``ValueError``, ``FileNotFoundError``, whose
    messages name the field or file) ends in one line on stderr and exit status 2, not a traceback.
    ``HYDRA_FULL_ERROR=1`` shows the traceback as usual."""

    @functools.wraps(main)
    def run(cfg):
        try:
            return main(cfg)
        except (ValueError, FileNotFoundError) as e:
            if os.environ.get("HYDRA_FULL_ERROR") == "1" and not _RAISED_TO_US:
                raise
            print(f"error: {e}\n(set HYDRA_FULL_ERROR=1 for the traceback)", file=sys.stderr)
            raise SystemExit(2) from None

    return run


@contextmanager
def run_logger(cfg):
    """``(run_dir, logger)`` of a Hydra app's run: its output folder and the ``logger`` group's
    logger writing there, with the resolved config; the logger is finished however the block ends."""
    from pathlib import Path

    import hydra
    from omegaconf import OmegaConf

    from vlm2_base.logger import make_logger

    run_dir = Path(hydra.core.hydra_config.HydraConfig.get().runtime.output_dir)
    logger = make_logger(cfg.logger, run_dir, OmegaConf.to_container(cfg, resolve=True))
    try:
        yield run_dir, logger
    finally:
        logger.finish()


def abs_path(path: str):
    """``path`` resolved against the directory the command was started in (Hydra changes into its
    run directory); unchanged outside a Hydra app."""
    from pathlib import Path

    import hydra

    if hydra.core.hydra_config.HydraConfig.initialized():
        return Path(hydra.utils.to_absolute_path(path))
    return Path(path)
