"""The wheel must contain every package: pyproject lists them explicitly (components/ and
pipeline/ are mapped into the decig namespace), and an editable install hides a missing entry
because it imports straight from the source tree. The container image installs the wheel."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _packages_on_disk() -> set[str]:
    mapping = {"src/decig": "decig", "components": "decig.components", "pipeline": "decig.pipeline"}
    found = set()
    for base, name in mapping.items():
        for init in (ROOT / base).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / base)
            if "__pycache__" in rel.parts or any(part.startswith(".") for part in rel.parts):
                continue
            if base == "src/decig" and rel.parts and rel.parts[0] in ("components", "pipeline"):
                continue
            found.add(".".join([name, *rel.parts]))
    return found


def test_every_package_is_listed_in_pyproject():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    on_disk = _packages_on_disk()
    assert on_disk - listed == set(), f"add these to [tool.setuptools] packages in pyproject.toml: {sorted(on_disk - listed)}"
    assert listed - on_disk == set(), f"listed but not on disk: {sorted(listed - on_disk)}"
    assert config["package-dir"]["decig.components"] == "components"
    assert config["package-dir"]["decig.pipeline"] == "pipeline"
