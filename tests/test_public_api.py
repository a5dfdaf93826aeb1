"""The core's public surface (issue 18): other layers use only exported, non-private names."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


#: What the other layers may import from the core: the package itself and its two public subpackages.
CORE_PUBLIC = ("aistem.core", "aistem.core.protocol", "aistem.core.io")
OTHER_LAYERS = ("daemon", "gui", "training", "cli")


def _imports_from(layer: str) -> list[tuple[str, int, str, str]]:
    """(file, line, module, name) of every ``from aistem… import name`` in ``layer``'s modules."""
    import ast

    found = []
    for path in sorted((ROOT / layer).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("aistem"):
                found += [(str(path.relative_to(ROOT)), node.lineno, node.module, a.name) for a in node.names]
    return found


@pytest.mark.parametrize("layer", OTHER_LAYERS)
def test_other_layers_use_only_the_cores_public_names(layer: str) -> None:
    """Everything another layer takes from the core is exported by ``aistem.core`` (or its ``protocol``/``io``
    packages) and is not private: the core's internals can move without breaking another layer."""
    import importlib

    wrong = []
    for file, line, module, name in _imports_from(layer):
        if not module.startswith("aistem.core"):
            continue
        if module not in CORE_PUBLIC:
            wrong.append(f"{file}:{line}: from {module} (use {CORE_PUBLIC})")
        elif name.startswith("_") or name not in importlib.import_module(module).__all__:
            wrong.append(f"{file}:{line}: {name} is not in {module}.__all__")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("layer", OTHER_LAYERS)
def test_no_layer_imports_another_layers_private_names(layer: str) -> None:
    own = f"aistem.{layer}"
    wrong = [
        f"{file}:{line}: {name} from {module}"
        for file, line, module, name in _imports_from(layer)
        if name.startswith("_") and not module.startswith(own) and name != "__version__"
    ]
    assert not wrong, "\n".join(wrong)


def test_every_public_core_name_resolves() -> None:
    """The lazy table of ``aistem.core`` names real objects (a typo would only fail on first use)."""
    import aistem.core as core
    import aistem.core.io as io

    for pkg in (core, io):
        missing = [n for n in pkg.__all__ if getattr(pkg, n, None) is None]
        assert not missing, f"{pkg.__name__}: {missing}"
