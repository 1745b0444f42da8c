"""Stage 2, search: build, train and score children; the strategies that propose them.

``builder`` (architecture -> Keras model), ``train`` (one child), ``cache``,
``evaluation`` (AUROC/AUPRC), ``knowledge`` (K), ``reward``, ``scoring`` (a
trained child -> metrics), ``strategies`` (tpe, nsga2, gp, rl, evolution, random, grid),
``replay`` (searches against recorded results), ``final`` (the final choice)
and ``predict`` (a found model on new regions).
"""
