"""Shared fixtures live in tests/fixtures/, one module per real part they start.

Every module there is loaded as a pytest plugin, so a new fixture module needs no edit here.
"""

from pathlib import Path

pytest_plugins = sorted(
    f"tests.fixtures.{path.stem}"
    for path in (Path(__file__).parent / "fixtures").glob("*.py")
    if path.stem != "__init__"
)


# The fast tier (`./dev test --quick`, issue 10): session/ and every pure-logic test against
# scripted APIs, without the parts that take seconds to start (the emulator process, sshd,
# JupyterLab, Chromium, the tunnel agent, the protocol driver). The full suite stays the CI gate.
SLOW_FIXTURES = frozenset({
    "emulator", "emulator_factory", "emulator_client", "emulator_headers", "emulator_session",
    "emulator_shell", "sshd", "sshd_factory", "jupyterlab", "page", "notebook7", "notebook7_page",
    "agent", "instance", "driver", "fresh_clone",
})


def pytest_addoption(parser):
    parser.addoption("--quick", action="store_true",
                     help="the fast tier: skip tests that start the emulator, sshd, Lab, a browser "
                          "or the tunnel agent, and those marked slow")


def pytest_collection_modifyitems(config, items):
    if not config.getoption("--quick"):
        return
    keep, drop = [], []
    for item in items:
        slow = item.get_closest_marker("quick") is None and (
            SLOW_FIXTURES.intersection(item.fixturenames) or item.get_closest_marker("slow"))
        (drop if slow else keep).append(item)
    config.hook.pytest_deselected(items=drop)
    items[:] = keep
