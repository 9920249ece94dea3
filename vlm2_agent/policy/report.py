"""Reports of policy runs: learning-curve plots and Markdown tables of success / SPL.

Example:
    >>> print(markdown_table({"random": {"success": 0.0, "spl": 0.0, "soft_spl": 0.1, "reward": -1.0, "episodes": 5}}))
    | policy | success | SPL | soft SPL | return | episodes |
    |---|---|---|---|---|---|
    | random | 0.000 | 0.000 | 0.100 | -1.00 | 5 |
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vlm2_base.io import atomic_savefig


def read_curve(path: str | Path) -> list[dict[str, float]]:
    """Rows of a ``curve.jsonl`` written by :func:`vlm2_agent.policy.training.nav_metrics_callback`."""
    rows = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except ValueError as exc:
                    raise ValueError(f"{path}:{n}: not a JSON line ({exc})") from None
    return rows


def markdown_table(results: Mapping[str, Mapping[str, Any]], first: str = "policy",
                   last: tuple[str, str] = ("return", "reward")) -> str:
    """One row per policy: success, SPL, soft SPL, ``last`` (column title, key; default the mean
    return), episodes (± standard error of success if given). ``first`` titles the name column."""
    lines = [f"| {first} | success | SPL | soft SPL | {last[0]} | episodes |", "|---|---|---|---|---|---|"]
    for name, r in results.items():
        se = f" ± {r['success_se']:.3f}" if "success_se" in r else ""
        lines.append(f"| {name} | {r['success']:.3f}{se} | {r['spl']:.3f} | {r.get('soft_spl', float('nan')):.3f} | "
                     f"{r.get(last[1], float('nan')):.2f} | {int(r.get('episodes', 0))} |")
    return "\n".join(lines)


def plot_curves(curves: Mapping[str, list[dict[str, float]]], path: str | Path, title: str = "",
                reference: Mapping[str, Mapping[str, float]] | None = None,
                metrics: tuple[str, ...] = ("reward", "success", "spl")) -> Path:
    """One panel per metric, one line per run vs timesteps; ``reference`` draws dashed horizontal
    lines (e.g. the random policy). Written atomically as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.2))
    for ax, m in zip(axes, metrics):
        for i, (name, rows) in enumerate(curves.items()):
            ax.plot([r["timesteps"] for r in rows], [r[m] for r in rows], label=name, color=f"C{i}")
        for j, (name, ref) in enumerate((reference or {}).items()):
            if m in ref:
                ax.axhline(ref[m], ls="--", color=f"C{len(curves) + j}", label=name)
        ax.set_xlabel("training steps")
        ax.set_ylabel(m)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return atomic_savefig(fig, path, dpi=90)


__all__ = ["read_curve", "markdown_table", "plot_curves"]
