"""Spheron Protocol deployments: ICL documents, the Provider/Fizz mode rules, the sphnctl driver.

Pure code (no IPython): ``icl`` (models and ``load_icl``), ``quantities``, ``rules`` (``check``),
``summary`` (``summarize`` and its renderers), ``errors`` (``Finding``, ``IclError``).  Import the
submodules directly; this package imports nothing heavy on its own.
"""
