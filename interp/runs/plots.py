"""One seaborn style for every figure, and saving as PNG + PDF in one call.

Headless runs (CI, servers, ``make study``) need no backend setting: without a display,
matplotlib falls back to Agg by itself; in Jupyter the inline backend stays.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import seaborn as sns

from interp.runs.files import atomic_path

PALETTE = "colorblind"
FAMILY_COLORS = {"pythia": "#0173b2", "opt": "#de8f05"}


def use_style() -> None:
    """The project's figure style (call once before plotting).

    >>> use_style()
    """
    sns.set_theme(context="paper", style="whitegrid", palette=PALETTE, font_scale=1.1)
    plt.rcParams.update({"figure.dpi": 110, "savefig.dpi": 160, "savefig.bbox": "tight"})


def save(fig: plt.Figure, path: Path | str) -> list[Path]:
    """Save ``fig`` as ``path``.png and ``path``.pdf, each written atomically.

    >>> fig, ax = plt.subplots(); _ = ax.plot([0, 1])
    >>> [p.suffix for p in save(fig, "/tmp/interp-example-figure")]
    ['.png', '.pdf']
    """
    stem = Path(path).with_suffix("")
    stem.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for suffix in (".png", ".pdf"):
        final = stem.with_suffix(suffix)
        with atomic_path(final) as tmp:  # unique name: two runs into one folder do not clash
            fig.savefig(tmp)
        written.append(final)
    plt.close(fig)
    return written
