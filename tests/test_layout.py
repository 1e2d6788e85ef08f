"""The layout is the architecture: small files, imports pointing down the layers, a config that is a leaf."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "reflectrl"
# Bottom to top: a module may import only modules below it (function-level imports count too).
LAYERS = [
    ["errors"],
    ["jsonl", "console", "stats"],
    ["config", "distributed"],
    ["config_file"],
    ["tasks"],
    ["models"],
    ["reflections"],
    ["rollout"],
    ["mine"],
    ["train"],
    ["evaluate", "mmlu", "forgetting_report", "viewer", "paired"],
    ["forgetting_benchmarks"],
    ["forgetting_lm_eval"],
    ["forgetting", "report", "probe"],
    ["pipeline"],
    ["compare"],
    ["cli"],
    ["__main__"],
]


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("reflectrl"):
            names.add(node.module if node.module != "reflectrl" else f"reflectrl.{node.names[0].name}")
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("reflectrl"))
    return {n.split(".")[1] for n in names if "." in n}


def _unit(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def test_no_file_is_over_500_lines():
    long = {
        str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > 500
    }
    assert not long


def test_config_imports_nothing_from_reflectrl():
    assert _imports(PACKAGE / "config.py") == set()


def test_every_module_has_a_layer():
    units = {_unit(p) for p in PACKAGE.rglob("*.py")} - {"__init__"}
    assert units == {u for layer in LAYERS for u in layer}


def test_imports_point_down():
    rank = {u: i for i, layer in enumerate(LAYERS) for u in layer}
    upward = []
    for path in PACKAGE.rglob("*.py"):
        unit = _unit(path)
        if unit == "__init__":
            continue
        for target in _imports(path) - {unit}:
            if rank[target] >= rank[unit]:
                upward.append(f"{path.relative_to(PACKAGE)} imports {target}")
    assert not upward
