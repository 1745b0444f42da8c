"""Stage 1, data: genome and peaks -> labelled windows -> one-hot tensors.

``genome`` (FASTA access), ``ranges`` (intervals, bedtools), ``peaks`` (peak
files -> summit windows), ``negatives``, ``prepare`` (the whole windows table),
``encode`` (windows -> tensors), ``onehot`` and ``simulate`` (the demo data).
Imports nothing of :mod:`bionas.search`, :mod:`bionas.motifs` or :mod:`bionas.report`.
"""
