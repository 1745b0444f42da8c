"""Stage 2, search: build, train and score children; the strategies that propose them.

``builder`` (architecture -> Keras model), ``train`` (one child), ``cache``,
``evaluation`` (AUROC/AUPRC), ``knowledge`` (K), ``reward``, ``scoring`` (a
trained child -> metrics), ``strategies`` (rl, random, grid), ``replay``
(searches against recorded results) and ``final`` (the final choice).
"""
