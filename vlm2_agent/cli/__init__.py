"""Console entry points; each one is a Hydra app over ``configs/``."""

CONFIG_PATH = "pkg://configs"


def abs_path(path: str):
    """``path`` resolved against the directory the command was started in (Hydra changes into its
    run directory); unchanged outside a Hydra app."""
    from pathlib import Path

    import hydra

    if hydra.core.hydra_config.HydraConfig.initialized():
        return Path(hydra.utils.to_absolute_path(path))
    return Path(path)
