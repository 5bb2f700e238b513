"""The package imports its own modules at module top only (durable_finetune/__init__.py: the layers).

An import of a package module inside a function is how a cycle gets hidden: the modules load,
and the layering is broken without a trace at the top of either file. import-linter (the lint
tier, trainer/.importlinter) checks the layers themselves; this test fails on the hiding place,
naming each file:line. Third-party imports inside functions (torch, transformers, trl, peft,
...) stay: the agent and the simulated stage start without them.
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "durable_finetune"


def imports_of_the_package(tree: ast.Module) -> list[ast.stmt]:
    """Every `from .x`, `from ..x`, `from durable_finetune...` and `import durable_finetune...` in the tree."""
    found: list[ast.stmt] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level > 0 or (node.module or "").split(".")[0] == "durable_finetune":
                found.append(node)
        elif isinstance(node, ast.Import):
            if any(alias.name.split(".")[0] == "durable_finetune" for alias in node.names):
                found.append(node)
    return sorted(found, key=lambda node: node.lineno)


def misplaced_imports(source: str, name: str) -> list[str]:
    """`name:line: the import` for each package import that is not a statement of the module's
    own body (inside a function, a class, or an if/try block)."""
    tree = ast.parse(source, name)
    top = {id(stmt) for stmt in tree.body}
    return [
        f"{name}:{node.lineno}: {ast.unparse(node)}" for node in imports_of_the_package(tree) if id(node) not in top
    ]


def test_the_package_imports_its_own_modules_at_module_top_only():
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 30, f"found only {len(files)} files under {PACKAGE}"
    found = [
        line
        for path in files
        for line in misplaced_imports(path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE.parent)))
    ]
    assert not found, (
        "package imports below module top (move them to the top; a cycle they break means a module "
        "is in the wrong layer: durable_finetune/__init__.py):\n" + "\n".join(found)
    )


def test_the_check_finds_each_kind_of_package_import_inside_a_function():
    source = "\n".join(
        [
            "from . import runs",  # 1: at the top, allowed
            "import torch",
            "def f():",
            "    import torch",  # 4: third-party, allowed
            "    from . import store",  # 5
            "    from ..launcher import wanted_ranks",  # 6
            "    from durable_finetune.ranks import Rank",  # 7
            "    import durable_finetune.lifeline",  # 8
            "class C:",
            "    def m(self):",
            "        from .training import prepare_resume",  # 11
            "try:",
            "    from .gpus import gpu_evidence",  # 13: in a block at module level
            "except ImportError:",
            "    pass",
        ]
    )
    assert [line.split(":")[1] for line in misplaced_imports(source, "x.py")] == ["5", "6", "7", "8", "11", "13"]
