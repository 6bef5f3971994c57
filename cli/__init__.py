"""The ``ghbackup`` command: an adapter, like ``tasks/`` and ``container/``.

It may import the core (``ghbackup``) and the local runner (``workflow``); the core imports
neither (tests/test_layers.py holds that line).
"""
