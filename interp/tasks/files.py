"""Loaders of real benchmark files on local disk: MMLU CSVs and GLUE QQP TSVs.

Nothing is downloaded: a missing path is an error saying where to get the data. Rows are
rendered exactly as the synthetic ``knowledge_mc`` and ``qqp`` tasks render theirs, so a
model's score on the real and the synthetic version can be compared.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Iterable, Sequence

from interp.tasks.base import Example, Task
from interp.tasks.knowledge import LETTERS, format_multiple_choice
from interp.tasks.paraphrase import paraphrase_example

MMLU_SOURCE = (
    "MMLU is at github.com/hendrycks/test (data.tar: "
    "https://people.eecs.berkeley.edu/~hendrycks/data.tar); untar it and pass data/test"
)
QQP_SOURCE = (
    "QQP is part of GLUE (https://gluebenchmark.com/tasks, or jiant's download_glue_data.py); "
    "pass QQP/dev.tsv or QQP/train.tsv"
)
MMLU_COLUMNS = 6  # question, A, B, C, D, answer letter
QQP_COLUMNS = ("id", "qid1", "qid2", "question1", "question2", "is_duplicate")
# File-name endings of MMLU's three splits; the subject is the stem without one.
_MMLU_SPLIT_SUFFIXES = ("_test", "_dev", "_val")


class DataFileError(ValueError):
    """A data file does not have the layout its loader expects."""


def load_mmlu_csv(path: str | Path, *, subjects: Iterable[str] | None = None) -> Task:
    """MMLU questions from one CSV or a directory of them, as four-option letter questions.

    A directory's ``*_test.csv`` files are read if it has any, else all its ``*.csv``; the
    subject is the file stem without ``_test`` (or ``_dev`` / ``_val``).

    A folder like MMLU's ``data/test``, with one question per subject:

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "astronomy_test.csv").write_text("What orbits Earth?,Mars,Moon,Venus,Sun,B")
    >>> _ = (folder / "anatomy_test.csv").write_text("How many lungs has a human?,1,2,3,4,B")
    >>> task = load_mmlu_csv(folder, subjects=["astronomy"])
    >>> len(task.examples), task.examples[0].metadata["subject"]
    (1, 'astronomy')
    >>> task.examples[0].choices, task.examples[0].answer
    ((' A', ' B', ' C', ' D'), ' B')
    """
    path = Path(path)
    files = _mmlu_files(path)
    by_subject = {_subject(f): f for f in files}
    if subjects is not None:
        wanted = list(subjects)
        unknown = sorted(set(wanted) - set(by_subject))
        if unknown:
            raise ValueError(
                f"no MMLU subject {', '.join(unknown)} in {path}; "
                f"available: {', '.join(sorted(by_subject))}"
            )
        by_subject = {s: by_subject[s] for s in sorted(set(wanted))}
    examples = tuple(
        example for subject, f in sorted(by_subject.items()) for example in _read_mmlu(f, subject)
    )
    if not examples:
        raise DataFileError(f"{path}: no questions in {', '.join(str(f) for f in files)}")
    return Task("mmlu", "knowledge", "choice", examples)


def load_qqp_tsv(path: str | Path, *, skip_malformed: bool = False) -> Task:
    """GLUE QQP question pairs with labels, rendered like the synthetic ``qqp`` task.

    The header must name ``question1``, ``question2`` and ``is_duplicate``. GLUE's train.tsv
    has a few rows broken by newlines inside questions: ``skip_malformed=True`` drops rows
    with the wrong number of fields instead of raising (bad labels always raise).

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "dev.tsv"  # like GLUE's QQP/dev.tsv
    >>> _ = path.write_text("id\\tqid1\\tqid2\\tquestion1\\tquestion2\\tis_duplicate\\n"
    ...                     "7\\t1\\t2\\tHow do I learn Python?\\tHow to learn Python?\\t1\\n")
    >>> task = load_qqp_tsv(path)
    >>> task.examples[0].choices, task.examples[0].answer, task.examples[0].metadata["id"]
    ((' yes', ' no'), ' yes', '7')
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no QQP file at {path}: {QQP_SOURCE}")
    _check_utf8(path)
    with path.open(encoding="utf-8", newline="") as handle:
        # Only "\n" ends a row: str.splitlines would also break on separators inside questions.
        lines = [line.rstrip("\r") for line in handle.read().split("\n")]
    if not lines[0].strip():
        raise DataFileError(f"{path}: empty file; expected a header {' '.join(QQP_COLUMNS)}")
    header = lines[0].split("\t")
    columns = _qqp_columns(path, header)
    examples = []
    for line_number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != len(header):
            if skip_malformed:
                continue
            raise DataFileError(
                f"{path}, line {line_number}: expected {len(header)} tab-separated fields "
                f"({' '.join(header)}), got {len(fields)}; pass skip_malformed=True to drop "
                "such rows"
            )
        question1, question2, label = (fields[columns[c]].strip() for c in QQP_COLUMNS[3:])
        if label not in ("0", "1"):
            raise DataFileError(
                f"{path}, line {line_number}: expected is_duplicate 0 or 1, got {label!r}"
            )
        metadata = {"source": str(path), "line": line_number}
        if "id" in columns:
            metadata["id"] = fields[columns["id"]]
        examples.append(paraphrase_example(question1, question2, label == "1", metadata))
    if not examples:
        raise DataFileError(f"{path}: a header but no question pairs")
    return Task("qqp_glue", "paraphrase", "choice", tuple(examples))


def _qqp_columns(path: Path, header: Sequence[str]) -> dict[str, int]:
    columns = {name: i for i, name in enumerate(header)}
    if "question1" in columns and "question2" in columns and "is_duplicate" not in columns:
        raise DataFileError(
            f"{path}: no is_duplicate column, so it has no labels (GLUE's QQP test.tsv ships "
            "without them): use dev.tsv (or train.tsv) instead"
        )
    missing = [c for c in QQP_COLUMNS[3:] if c not in columns]
    if missing:
        raise DataFileError(
            f"{path}, line 1: expected a header with {' '.join(QQP_COLUMNS)} (tab-separated), "
            f"got {' '.join(header)!r}"
        )
    return columns


def _mmlu_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"no MMLU data at {path}: {MMLU_SOURCE}")
    files = sorted(path.glob("*_test.csv")) or sorted(path.glob("*.csv"))
    if not files:
        raise FileNotFoundError(f"no MMLU .csv files in {path}: {MMLU_SOURCE}")
    return files


def _subject(file: Path) -> str:
    stem = file.stem
    for suffix in _MMLU_SPLIT_SUFFIXES:
        if stem.endswith(suffix):
            return stem[: -len(suffix)]
    return stem


def _check_utf8(file: Path) -> None:
    """Refuse a file that is not UTF-8, naming the line of the first bad byte and the fix."""
    data = file.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise DataFileError(
            f"{file}, line {line}: not UTF-8 (byte 0x{data[error.start]:02x}); re-save the file as "
            "UTF-8 (e.g. iconv -f latin1 -t utf-8)") from None


def _read_mmlu(file: Path, subject: str) -> list[Example]:
    return [_mmlu_example(file, line, row, subject) for line, row in mmlu_records(file)]


def mmlu_records(file: Path) -> list[tuple[int, list[str]]]:
    """The (line, fields) records of one MMLU CSV (UTF-8 checked; a bad record names its line).

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "astronomy_dev.csv"
    >>> _ = path.write_text('"What orbits\\nEarth?",Mars,Moon,Venus,Sun,B\\nWhat is 1 + 1?,1,2,3,4,B')
    >>> [line for line, _ in mmlu_records(path)]  # a record's first line
    [1, 3]
    """
    records = []
    _check_utf8(file)
    with file.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        start = 1
        try:
            for row in reader:
                # A quoted field may span lines: report the line the record starts on.
                line, start = start, reader.line_num + 1
                if row:
                    records.append((line, row))
        except csv.Error as error:
            raise DataFileError(f"{file}, line {start}: not valid CSV ({error})") from error
    return records


def _mmlu_example(file: Path, line: int, row: list[str], subject: str) -> Example:
    question, options, answer = mmlu_row(file, line, row)
    metadata = {"subject": subject, "source": str(file), "line": line}
    return format_multiple_choice(question, options, answer, metadata)


def mmlu_row(file: Path, line: int, row: list[str]) -> tuple[str, list[str], int]:
    """One MMLU CSV record checked: (question, the four options, the answer's index).

    >>> mmlu_row(Path("x_test.csv"), 1, ["What is 2 + 2?", "3", "4", "5", "6", "b"])
    ('What is 2 + 2?', ['3', '4', '5', '6'], 1)
    """
    if len(row) != MMLU_COLUMNS:
        raise DataFileError(
            f"{file}, line {line}: expected {MMLU_COLUMNS} columns (question, A, B, C, D, "
            f"answer letter), got {len(row)}"
        )
    question, *options, letter = row
    letter = letter.strip().upper()
    if letter not in LETTERS:
        raise DataFileError(
            f"{file}, line {line}: expected an answer letter A, B, C or D, got {row[-1]!r}"
        )
    if not question.strip():
        raise DataFileError(f"{file}, line {line}: empty question")
    return question.strip(), options, LETTERS.index(letter)
