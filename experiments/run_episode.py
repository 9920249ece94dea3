"""Run one exploration episode; the same Hydra app as the ``vlm2-episode`` console script.

Usage:
    python experiments/run_episode.py task.tour=long seed=3 sim.resolution=[256,256]
"""

from vlm2_agent.cli.episode import main

if __name__ == "__main__":
    main()
