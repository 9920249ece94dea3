"""``vlm2-eqa-export``: an EQA split in lmms-eval's layout, for outside video models (``configs/eqa_export.yaml``).

Writes ``<out_dir>/vsibench`` and ``<out_dir>/vstibench`` (docs, mp4 videos, task yaml) and a
README with the lmms-eval command (:mod:`vlm2_agent.eqa.lmms_eval`); ``vlm2-eqa-eval
predictions=<samples file>`` scores what lmms-eval writes back.

Example (shell)::

    python -m vlm2_agent.cli.eqa_export split=test out_dir=exports/lmms_eval/test
"""

from __future__ import annotations

from omegaconf import DictConfig

from vlm2_agent.cli import abs_path, run_logger, vlm2_app


def run(cfg: DictConfig) -> dict:
    from vlm2_agent.eqa.lmms_eval import export
    from vlm2_agent.eqa.question import load_jsonl
    from vlm2_agent.eqa.store import EpisodeStore

    split_dir = abs_path(cfg.data_root) / cfg.split
    qpath = split_dir / "questions.jsonl"
    if not qpath.is_file():
        raise FileNotFoundError(f"questions file {qpath} does not exist; build it with "
                                f"vlm2-eqa-build eqa.split={cfg.split}")
    return export(load_jsonl(qpath), EpisodeStore(split_dir / "episodes"), abs_path(cfg.out_dir),
                  progress=bool(cfg.progress))


@vlm2_app("eqa_export")
def main(cfg: DictConfig) -> None:
    with run_logger(cfg) as (_, logger):
        r = run(cfg)
        logger.log({"export/videos": r["videos"], **{f"export/{t}": n for t, n in r["docs"].items()}})
    docs = ", ".join(f"{n} {t} docs" for t, n in r["docs"].items())
    print(f"wrote {r['videos']} videos and {docs} to {r['out']}")
    print(f"next: see {r['out'] / 'README.md'}")


if __name__ == "__main__":
    main()
