"""Paths, credentials and settings: the bottom layer, importable anywhere.

Modules: ``paths`` (where files live; ``SPHERON_JUPYTER_HOME`` overrides), ``credentials``
(the API key: resolve, store, describe masked; ``redact``), ``redaction`` (the registry of
secret values), ``settings`` (user defaults in YAML), ``files`` (atomic private writes),
``processes`` (whether a pid still runs). This package imports neither httpx nor IPython, so
every layer, the emulator included, may use it.
"""
