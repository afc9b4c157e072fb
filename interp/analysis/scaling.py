"""The scaling view: how loss and accuracy move with parameters, and the gap between them.

The confidence-competence gap (arXiv 2510.21866 writes it as a slope ratio dL/dN over dA/dN)
is defined here, per family and task, over the size ladder, with N in log10 parameters:

    loss_gain     = -slope(loss ~ log10 N) / mean loss             (relative loss drop per decade)
    accuracy_gain =  slope(accuracy ~ log10 N) / (1 - chance)      (share of headroom per decade)
    gap           =  loss_gain / accuracy_gain

A gap near 1 means accuracy rises as fast as loss falls; a large gap (or an accuracy gain at
or below zero, reported as inf) means the model grows more confident without growing more
competent. Slopes are least-squares fits, so no single model dominates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from interp.tasks.base import Task


def chance_accuracy(task: Task) -> float:
    """Expected accuracy of guessing: 1 / #choices for choice tasks, 0 for exact match.

    >>> from interp.tasks import get_task
    >>> chance_accuracy(get_task("knowledge_mc", n=4))
    0.25
    """
    if task.scoring == "exact":
        return 0.0
    return float(np.mean([1 / len(e.choices) for e in task.examples]))


def confidence_competence(rows: pd.DataFrame) -> pd.DataFrame:
    """Per (family, task): loss and accuracy slopes against log10 parameters, and the gap.

    ``rows`` needs columns family, task, parameters, loss, accuracy, chance.

    >>> rows = pd.DataFrame(dict(family="f", task="t", parameters=[1e4, 1e5, 1e6],
    ...                          loss=[3.0, 2.0, 1.0], accuracy=[0.2, 0.2, 0.2], chance=0.25))
    >>> confidence_competence(rows).gap.item()
    inf
    """
    out = []
    for (family, task), group in rows.groupby(["family", "task"], sort=True):
        if group.parameters.nunique() < 2:
            continue
        x = np.log10(group.parameters.to_numpy(dtype=float))
        loss_slope = np.polyfit(x, group.loss.to_numpy(dtype=float), 1)[0]
        acc_slope = np.polyfit(x, group.accuracy.to_numpy(dtype=float), 1)[0]
        chance = float(group.chance.iloc[0])
        loss_gain = -loss_slope / float(group.loss.mean())
        accuracy_gain = acc_slope / max(1e-9, 1 - chance)
        gap = loss_gain / accuracy_gain if accuracy_gain > 1e-9 else float("inf")
        out.append(dict(family=family, task=task, sizes=len(group), loss_slope=loss_slope,
                        accuracy_slope=acc_slope, loss_gain=loss_gain,
                        accuracy_gain=accuracy_gain, gap=gap))
    return pd.DataFrame(out)
