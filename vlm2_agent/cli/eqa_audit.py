"""``vlm2-eqa-audit``: the blind audit of a built EQA split (``configs/eqa_audit.yaml``).

Writes ``audit.md`` (the table per task and horizon counts), ``audit.json`` (every row, interval
and count), ``audit.png`` (reference, best blind model and oracle per task) and
``answers_<name>.png`` (answer-content histograms per question type) to ``out_dir``, and prints
the Markdown.

Example (shell)::

    python -m vlm2_agent.cli.eqa_audit
    python -m vlm2_agent.cli.eqa_audit compare_root=data_v1/eqa out_dir=results/eqa_v2/audit
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from vlm2_agent.cli import abs_path, vlm2_app


def run(cfg: DictConfig, out_dir: Path) -> dict:
    """Audit the split (and the comparison build); returns ``{name: result}``."""
    from vlm2_agent.eqa.audit import audit_split
    from vlm2_agent.eqa.audit.report import counts_markdown, markdown, plot_answer_histograms, plot_audit, save_json
    from vlm2_agent.eqa.question import BENCHMARK_VERSION, load_jsonl

    runs = {BENCHMARK_VERSION: dict(data_root=abs_path(cfg.data_root), scenes_root=abs_path(cfg.scenes_root),
                                    with_oracle=bool(cfg.oracle), accept_versions=(BENCHMARK_VERSION,))}
    if cfg.compare_root:
        runs[str(cfg.compare_version)] = dict(data_root=abs_path(cfg.compare_root), with_oracle=False,
                                              accept_versions=(str(cfg.compare_version),))
    results, text = {}, []
    for name, kw in runs.items():
        res = audit_split(split=cfg.split, train_split=cfg.train_split, folds=int(cfg.folds), reps=int(cfg.bootstrap),
                          seed=int(cfg.seed), **kw)
        results[name] = res
        title = f"{name} {cfg.split} ({res['n']} questions; blind models fit on {res['n_train']} {cfg.train_split} questions)"
        text += [markdown(res, title), f"Questions per task and horizon ({name} {cfg.split}):", "",
                 counts_markdown(res)]
        if res["oracle_problems"]:
            text += [f"Oracle could not answer {len(res['oracle_problems'])} questions, e.g.:", "",
                     *(f"- {p}" for p in res["oracle_problems"][:10]), ""]
        qs = load_jsonl(kw["data_root"] / cfg.split / "questions.jsonl", kw["accept_versions"])
        plot_answer_histograms(qs, out_dir / f"answers_{name}.png", title=f"answer content, {name} {cfg.split}")
    md = "\n".join(text)
    (out_dir / "audit.md").write_text(md)
    # per-question scores stay out of the JSON (a few MB; the command reproduces them)
    save_json({k: {kk: vv for kk, vv in v.items() if kk not in ("scores", "ids")} for k, v in results.items()},
              out_dir / "audit.json")
    plot_audit({f"{k} {cfg.split}": v for k, v in results.items()}, out_dir / "audit.png")
    print(md)
    print(f"audit: {out_dir / 'audit.md'}  {out_dir / 'audit.json'}  {out_dir / 'audit.png'}")
    return results


@vlm2_app("eqa_audit")
def main(cfg: DictConfig) -> None:
    out_dir = abs_path(cfg.out_dir) if cfg.out_dir else Path(hydra.core.hydra_config.HydraConfig.get().runtime.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    run(cfg, out_dir)


if __name__ == "__main__":
    main()
