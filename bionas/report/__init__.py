"""The bionas report: one self-contained HTML page about a finished run.

:func:`build_report` reads what the workflow left under
``results/<dataset>/<run>/`` (search history, controller states, the final
model's test results and the interpretation of its filters) and returns the
page as a string: the run and its cost, the search, the final model, the
motifs its filters learned next to the negative control, and links to the
run's files. Figures are PNG ``data:`` URIs, the style sheet is inline, and
nothing is fetched from anywhere: the page reads the same offline.

Submodules: :mod:`~bionas.report.curves` (ROC/PR curves, Pareto front),
:mod:`~bionas.report.plots` (matplotlib figures), :mod:`~bionas.report.logos`
(aligned sequence logos), :mod:`~bionas.report.run` (benchmarks, controller
trajectories), :mod:`~bionas.report.html` (HTML pieces) and
:mod:`~bionas.report.page` (the sections).
"""

from bionas.report.page import ReportInputs, build_model_card, build_report

__all__ = ["ReportInputs", "build_model_card", "build_report"]
