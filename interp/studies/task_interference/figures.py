"""The study's figures, each drawn from the run's tables only (PNG and PDF into config.out).

ladder_heatmap, ladder_steps, ladder_trajectory (experiment 1); gradient_cosines_groups,
gradient_cosines_size, token_split, fisher_overlap (2); update_forget, forgetting_summary (3);
recovery (4). The accuracy figures are in ``accuracy_figures``, the others in
``gradient_figures``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from interp.runs import plots
from interp.studies.task_interference import accuracy_figures as A
from interp.studies.task_interference import gradient_figures as G
from interp.studies.task_interference.config import Config


def figures(tables: dict[str, pd.DataFrame], config: Config) -> list[Path]:
    """Every figure the run has data for, into ``config.out``; returns the files written
    (PNG and PDF)."""
    out, focus = config.out, config.focus_task
    plots.use_style()
    written: list[Path] = []
    if "ladder" in tables:
        written += A.ladder_heatmap(tables["ladder"], out)
        if "items" in tables:
            written += A.ladder_steps_figure(tables["ladder"], tables["items"], out)
        written += A.ladder_trajectory(tables["ladder"], out)
    if "cosines" in tables:
        written += G.cosine_figures(tables["cosines"], out)
    if "token_split" in tables:
        written += G.split_figure(tables["token_split"], out)
    if "fisher" in tables:
        written += G.fisher_figure(tables["fisher"], out)
    if "forget" in tables:
        written += G.forget_figures(tables["forget"], tables.get("injections"), out, focus)
    if "recovery" in tables:
        written += A.recovery_figure(tables["recovery"], tables.get("ladder"), out, focus)
    return written
