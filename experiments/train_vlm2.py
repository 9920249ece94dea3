"""Train VLM2 on the EQA store (same as the ``vlm2-train`` console script; Hydra overrides as arguments).

    python experiments/train_vlm2.py train=cpu_small memory=dual logger=none
"""

from vlm2_agent.cli.train import main

if __name__ == "__main__":
    main()
