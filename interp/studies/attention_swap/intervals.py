"""The attention-swap intervals, all from ``interp.analysis.stats`` on the per-item outcomes.

An accuracy gets a Wilson interval; a Δ accuracy compares a cell with a reference cell of the
same recipient on the same task (its base, or another control), paired item by item: Tango's
score interval and the exact McNemar p. Cells scored on different items are refused, never
compared unpaired.
"""

from __future__ import annotations

import pandas as pd

from interp.analysis.stats import accuracy_interval, paired_frame
from interp.studies.attention_swap.sweep import CELL_KEYS, PAIR_KEYS

ACCURACY_COLUMNS = ["accuracy_lo", "accuracy_hi"]
DELTA_COLUMNS = ["delta_accuracy", "delta_accuracy_lo", "delta_accuracy_hi", "mcnemar_p",
                 "discordant_better", "discordant_worse"]


def accuracy_intervals(items: pd.DataFrame) -> pd.DataFrame:
    """Per cell (``CELL_KEYS``): n and the Wilson 95% interval of its accuracy.

    >>> items = pd.DataFrame(dict(recipient="m", donor="m", condition="base", layers="none",
    ...                           alpha=0.0, task="t", seed=0, item=list("abcd"),
    ...                           correct=[True, True, False, False]))
    >>> row = accuracy_intervals(items).iloc[0]
    >>> int(row.n), round(float(row.accuracy_lo), 3), round(float(row.accuracy_hi), 3)
    (4, 0.15, 0.85)
    """
    rows = []
    for keys, group in items.groupby(CELL_KEYS, sort=False, dropna=False):
        interval = accuracy_interval(group.correct.to_numpy())
        rows.append({**dict(zip(CELL_KEYS, keys)), "n": interval.n,
                     "accuracy_lo": interval.lo, "accuracy_hi": interval.hi})
    return pd.DataFrame(rows, columns=[*CELL_KEYS, "n", *ACCURACY_COLUMNS])


def paired_deltas(items: pd.DataFrame, *, reference: str = "base") -> pd.DataFrame:
    """Per cell: Δ accuracy against the same recipient's ``reference`` cell on the same task
    and seed, paired by item (Tango 95% interval, exact McNemar p, the two discordant counts).

    ``discordant_better`` counts items the cell gets right and the reference gets wrong.

    >>> cell = dict(recipient="m", layers="all", alpha=1.0, task="t", seed=0, item=list("abcd"))
    >>> items = pd.concat([
    ...     pd.DataFrame(dict(cell, donor="m", condition="base", correct=[1, 1, 1, 0])),
    ...     pd.DataFrame(dict(cell, donor="d", condition="swap", correct=[0, 0, 1, 0]))])
    >>> row = paired_deltas(items).set_index("condition").loc["swap"]
    >>> float(row.delta_accuracy), int(row.discordant_worse), bool(row.delta_accuracy_lo < -0.5)
    (-0.5, 2, True)
    >>> paired_deltas(items.iloc[:-1])  # the swap lost an item: no pairing
    Traceback (most recent call last):
    ...
    ValueError: group {'recipient': 'm', 'donor': 'd', 'condition': 'swap', 'layers': 'all', 'alpha': 1.0, 'task': 't', 'seed': 0}: conditions 'treated' and 'reference' were scored on different items (3 vs 4 rows; only in 'treated': [], only in 'reference': ['d']); score both on the same item ids
    """
    outcome = items[[*CELL_KEYS, "item", "correct"]]
    ref = outcome[outcome.condition == reference][[*PAIR_KEYS, "item", "correct"]]
    cells = outcome[CELL_KEYS].drop_duplicates()
    has_ref = cells.set_index(PAIR_KEYS).index.isin(ref.set_index(PAIR_KEYS).index)
    if not has_ref.all():
        lacking = cells[~has_ref][PAIR_KEYS].drop_duplicates().to_records(index=False)
        raise ValueError(f"no {reference!r} cell for (recipient, task, seed) "
                         f"{lacking.tolist()[:3]}: score each recipient's {reference} on every "
                         "task and seed it is compared on")
    paired = pd.concat([outcome.assign(arm="treated"),
                        cells.merge(ref, on=PAIR_KEYS).assign(arm="reference")],
                       ignore_index=True)
    table = paired_frame(paired, by=CELL_KEYS, treated="treated", base="reference",
                         condition_col="arm")
    return table[[*CELL_KEYS, "n", *DELTA_COLUMNS]]


def paired_versus(items: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """Per row of ``pairs`` (a treated cell's ``CELL_KEYS`` plus its reference cell's, prefixed
    ``ref_``): Δ accuracy treated - reference, paired by item (Tango, exact McNemar).

    >>> cell = dict(recipient="m", layers="all", alpha=1.0, task="t", seed=0, item=list("abcd"))
    >>> items = pd.concat([
    ...     pd.DataFrame(dict(cell, donor="m", condition="control", correct=[1, 1, 0, 0])),
    ...     pd.DataFrame(dict(cell, donor="d", condition="swap", correct=[0, 0, 0, 0]))])
    >>> keys = items[CELL_KEYS].drop_duplicates()
    >>> pairs = pd.concat([keys.iloc[[1]].reset_index(drop=True),
    ...                    keys.iloc[[0]].add_prefix("ref_").reset_index(drop=True)], axis=1)
    >>> float(paired_versus(items, pairs).delta_accuracy.iloc[0])
    -0.5
    """
    columns = [*CELL_KEYS, "reference", "n", *DELTA_COLUMNS]
    if pairs.empty:
        return pd.DataFrame(columns=columns)
    outcome = items[[*CELL_KEYS, "item", "correct"]]
    treated = outcome.merge(pairs[CELL_KEYS].drop_duplicates(), on=CELL_KEYS)
    refs = pairs.rename(columns={f"ref_{k}": f"_{k}" for k in CELL_KEYS})
    reference = outcome.rename(columns={k: f"_{k}" for k in CELL_KEYS}).merge(
        refs, on=[f"_{k}" for k in CELL_KEYS])[[*CELL_KEYS, "item", "correct"]]
    paired = pd.concat([treated.assign(arm="treated"), reference.assign(arm="reference")],
                       ignore_index=True)
    table = paired_frame(paired, by=CELL_KEYS, treated="treated", base="reference",
                         condition_col="arm")
    table = pairs[[*CELL_KEYS, "ref_condition"]].merge(table, on=CELL_KEYS, how="left")
    return table.rename(columns={"ref_condition": "reference"})[columns]
