"""The chart digitiser that made ``ecalib/reference/rc2020_cifar10_curves.{csv,json}`` (build tooling: the
library reads only the CSV and its provenance, :func:`ecalib.reference.rc2020_cifar10_curves`).

- :mod:`digitiser.chart`: reads W&B line charts with shaded bands into numbers (:func:`digitise_chart`);
- :mod:`digitiser.rc2020`: what RC2020's two figures state (series, grid and tick values) and reading them;
- :mod:`digitiser.synthetic`: RC2020-like charts with known values, to measure the read-out error.

``tools/digitise_rc2020.py`` runs them; the tests import them with ``tools/`` on ``sys.path``.
"""
