"""Bridges from other training frameworks to gradwise's babysitting, logs, diagnosis and report.

* :mod:`gradwise.integrations.lightning` - ``Babysitter``, a PyTorch Lightning 2.x callback
  (``pip install pytorch-lightning``).

Each bridge is imported on its own: ``import gradwise`` (and this package) never imports a framework.
"""
__all__: list[str] = []
