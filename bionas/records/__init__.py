"""Records: one module per file that crosses a stage, its reader and writer side by side.

``space`` (the model-space YAML every stage reads architectures against),
``architecture``, ``windows``, ``tensors``, ``train_result``, ``metrics``,
``history``. A format changes in one module. Records import nothing of the
stages (:mod:`bionas.data`, :mod:`bionas.search`, :mod:`bionas.motifs`,
:mod:`bionas.report`).
"""
