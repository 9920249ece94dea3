"""Console entry points; each one is a Hydra app over ``configs/``."""

CONFIG_PATH = "pkg://configs"
