"""Reports: the periodic HTML report of the upward-marketing guide's evaluation cycles (monthly quick review,
quarterly assessment, annual retrospective) and the Plotly figures it shares with the
dashboard. An interface beside `cli` and `service` (DESIGN §2): it reads published runs and
never feeds a lower layer.
"""

from upmarket.reports.html import (CYCLES, DASHBOARD_FIGURES, ReportFile, default_path,
                                   figure_json, load_figures, render_report, run_figures,
                                   write_report)

__all__ = ["CYCLES", "DASHBOARD_FIGURES", "ReportFile", "default_path", "figure_json",
           "load_figures", "render_report", "run_figures", "write_report"]
