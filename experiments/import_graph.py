"""The import graph between the project's layers, read from the source (every import statement,
those inside functions included), and the edges that point up.

    python experiments/import_graph.py            # table of edges: from -> to, files
    python experiments/import_graph.py --check    # exit 1 if any import points to a higher layer

Layers, bottom to top; a module may import its own layer and the ones below:

| rank | packages |
|---|---|
| 0 | ``vlm2_base`` (atomic files, JSON, logging) |
| 1 | ``scenes`` (procedural apartments, Habitat files) |
| 2 | ``envs`` (simulator, renderer, Gymnasium envs, episode logs) |
| 3 | ``vlm2_agent.eqa`` (questions, metrics, the benchmark build and audit) |
| 4 | ``vlm2_agent.model`` (VLM2) |
| 5 | ``vlm2_agent.training``, ``vlm2_agent.policy`` (they do not import each other) |
| 6 | ``vlm2_agent.cli`` (console entry points and demos), modules at the top of ``vlm2_agent`` |
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from pathlib import Path

LAYERS: dict[str, int] = {
    "vlm2_base": 0, "scenes": 1, "envs": 2, "vlm2_agent.eqa": 3, "vlm2_agent.model": 4,
    "vlm2_agent.training": 5, "vlm2_agent.policy": 5, "vlm2_agent.cli": 6, "vlm2_agent": 6,
}
ROOTS = ("vlm2_base", "scenes", "envs", "vlm2_agent")


def unit(module: str) -> str | None:
    """The layer unit of a dotted module name (``vlm2_agent.eqa.audit.x`` -> ``vlm2_agent.eqa``)."""
    parts = module.split(".")
    if parts[0] not in ROOTS:
        return None
    two = ".".join(parts[:2])
    return two if two in LAYERS else parts[0]


def _imported(node: ast.AST, module: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom):
        if not node.level:
            return [node.module] if node.module else []
        base = module.split(".")
        if not is_package:
            base = base[:-1]
        base = base[: len(base) - (node.level - 1)]
        return [".".join(base + ([node.module] if node.module else []))]
    return []


def import_edges(root: Path) -> dict[tuple[str, str], list[str]]:
    """(from unit, to unit) -> files, for imports between different units under ``root``."""
    edges: dict[tuple[str, str], set[str]] = defaultdict(set)
    for package in ROOTS:
        for path in sorted((root / package).rglob("*.py")):
            rel = path.relative_to(root)
            module = ".".join(rel.with_suffix("").parts)
            is_package = path.name == "__init__.py"
            if is_package:
                module = module.rsplit(".", 1)[0]
            src = unit(module)
            for node in ast.walk(ast.parse(path.read_text(), str(rel))):
                for name in _imported(node, module, is_package):
                    dst = unit(name)
                    if dst is not None and dst != src:
                        edges[(src, dst)].add(str(rel))
    return {k: sorted(v) for k, v in sorted(edges.items())}


def upward(edges: dict[tuple[str, str], list[str]]) -> dict[tuple[str, str], list[str]]:
    """The edges that import a higher layer, or training <-> policy (siblings)."""
    return {(a, b): f for (a, b), f in edges.items() if LAYERS[b] > LAYERS[a] or LAYERS[b] == LAYERS[a] == 5}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    p.add_argument("--check", action="store_true", help="exit 1 when an import points up")
    a = p.parse_args()
    edges = import_edges(a.root)
    bad = upward(edges)
    print("| from | to | files | direction |\n|---|---|---|---|")
    for (src, dst), files in edges.items():
        print(f"| {src} | {dst} | {len(files)} | {'UP: ' + ', '.join(files) if (src, dst) in bad else 'down'} |")
    print(f"\n{len(edges)} edges, {len(bad)} pointing up")
    return 1 if a.check and bad else 0


if __name__ == "__main__":
    sys.exit(main())
