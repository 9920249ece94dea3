"""Train a navigation policy with PPO; the same Hydra app as the ``vlm2-train-policy`` console script.

Usage:
    python experiments/train_policy.py                         # cpu_small: PointNav, VLM2 backbone
    python experiments/train_policy.py policy.extractor=cnn logger=none
    python experiments/train_policy.py policy=gpu policy.task=objectnav
"""

from vlm2_agent.cli.train_policy import main

if __name__ == "__main__":
    main()
