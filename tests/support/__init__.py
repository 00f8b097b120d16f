"""Helpers shared by the tests: fakes, tunnels, emulator SSH, protocol scripts (no tests, no fixtures here).

Fixtures live in tests/fixtures/ instead, where every module is loaded as a pytest plugin.
"""
