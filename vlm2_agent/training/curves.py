"""Training curves: the ``metrics.jsonl`` a run writes, plotted to PNG (loss, lr, eval scores).

Example:
    >>> rows = [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.0}]
    >>> smooth([r["loss"] for r in rows], 0.5)
    [2.0, 1.5]
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from vlm2_base.io import atomic_savefig


def read_metrics(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def smooth(values: Sequence[float], weight: float = 0.8) -> list[float]:
    """Exponential moving average (TensorBoard's smoothing)."""
    out, last = [], None
    for v in values:
        last = v if last is None else weight * last + (1 - weight) * v
        out.append(last)
    return out


def plot_curves(runs: Mapping[str, Sequence[dict]], path: str | Path, title: str = "") -> Path:
    """One figure: training loss (smoothed) per run, and eval overall scores where logged."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for name, rows in runs.items():
        tr = [r for r in rows if "loss" in r]
        if tr:
            axes[0].plot([r["step"] for r in tr], smooth([r.get("lm_loss", r["loss"]) for r in tr]), label=name)
            geo = [r for r in tr if r.get("geometry_loss") is not None]
            if geo:
                axes[1].plot([r["step"] for r in geo], smooth([r["geometry_loss"] for r in geo]), label=name)
        ev = [r for r in rows if "val/vsi_overall" in r]
        if ev:
            axes[2].plot([r["step"] for r in ev], [100 * r["val/vsi_overall"] for r in ev], "o-", label=f"{name} VSI")
            axes[2].plot([r["step"] for r in ev], [100 * r["val/vsti_overall"] for r in ev], "s--",
                         label=f"{name} VSTI")
    axes[0].set_title("train LM loss (answer tokens), EMA 0.8")
    axes[1].set_title("geometry loss (learned geometry only)")
    axes[2].set_title("val overall score (x100, first 6 val episodes)")
    for ax in axes:
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return atomic_savefig(fig, path, dpi=100)


__all__ = ["plot_curves", "read_metrics", "smooth"]
