"""Console entry points; each one is a Hydra app over ``configs/``."""

import functools
import os
import sys
from contextlib import contextmanager

CONFIG_PATH = "pkg://configs"


def reports_user_errors(main):
    """Wrap a console script's ``main``: a bad input (``ValueError``, ``FileNotFoundError``, whose
    messages name the field or file) ends in one line on stderr and exit status 2, not a traceback.
    ``HYDRA_FULL_ERROR=1`` shows the traceback as usual."""

    @functools.wraps(main)
    def run(cfg):
        try:
            return main(cfg)
        except (ValueError, FileNotFoundError) as e:
            if os.environ.get("HYDRA_FULL_ERROR") == "1":
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
