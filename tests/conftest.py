"""Shared fixtures live in tests/fixtures/, one module per real part they start.

Every module there is loaded as a pytest plugin, so a new fixture module needs no edit here.
"""

from pathlib import Path

pytest_plugins = sorted(
    f"tests.fixtures.{path.stem}"
    for path in (Path(__file__).parent / "fixtures").glob("*.py")
    if path.stem != "__init__"
)
