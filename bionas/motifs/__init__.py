"""Motifs: PWMs, MEME files, JASPAR, comparison with a collection, interpretation of filters.

``pwm`` (the one home of PWM checks and transforms), ``io`` (MEME read/write),
``jaspar``, ``compare`` (tomtom-lite, q-values) and ``interpret`` (filters ->
PWMs, prior recovery, negative controls). Imports nothing of
:mod:`bionas.search` or :mod:`bionas.report`.
"""
