"""Everything that runs on data: simulator, reference router, regime detector, sidecar.

The package is filled by later issues; today it holds the ``lmetric`` command line.
"""

__all__: list[str] = []
