"""MMLU the standard way: k-shot prompts from each subject's dev split, under the standard header.

The protocol of Hendrycks et al. and lm-eval-harness's ``mmlu`` tasks:
- every prompt opens with ``The following are multiple choice questions (with answers) about
  {subject}.`` and a blank line (the subject's underscores read as spaces);
- then the first ``shots`` questions of the subject's dev split, each with its answer
  (``Answer: B``), separated by blank lines;
- then the test question, ending in ``Answer:``; the choices are `` A`` .. `` D``.

``root`` is MMLU's ``data`` folder (``dev/``, ``test/``, ``val/`` of ``<subject>_<split>.csv``),
or its ``test`` folder (dev is then looked for beside it), or one CSV (zero-shot). Shots
default to 5 where a dev split exists, else 0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional

from interp.tasks.base import Example, Task
from interp.tasks.files import MMLU_SOURCE, mmlu_records, mmlu_row
from interp.tasks.knowledge import LETTERS

HEADER = "The following are multiple choice questions (with answers) about {subject}.\n\n"
DEFAULT_SHOTS = 5
# Paper A's "MMLU mathematics": the five subjects whose names say mathematics or statistics.
PRESETS = {
    "math": ("abstract_algebra", "college_mathematics", "elementary_mathematics",
             "high_school_mathematics", "high_school_statistics"),
}


def mmlu_tasks(root: str | Path, *, shots: Optional[int] = None,
               subjects: Optional[Iterable[str]] = None, split: str = "test") -> dict[str, Task]:
    """One task per subject (``mmlu/<subject>``), scored the standard way.

    ``subjects`` names subjects or a preset (``"math"``: ``PRESETS["math"]``); None takes all.

    >>> import tempfile
    >>> data = Path(tempfile.mkdtemp())
    >>> for split, text in (("dev", "What is 1 + 1?,1,2,3,4,B\\n"), ("test", "What is 2 + 2?,3,4,5,6,B\\n")):
    ...     (data / split).mkdir()
    ...     _ = (data / split / f"elementary_mathematics_{split}.csv").write_text(text)
    >>> task = mmlu_tasks(data, shots=1)["elementary_mathematics"]
    >>> print(task.examples[0].prompt)
    The following are multiple choice questions (with answers) about elementary mathematics.
    <BLANKLINE>
    What is 1 + 1?
    A. 1
    B. 2
    C. 3
    D. 4
    Answer: B
    <BLANKLINE>
    What is 2 + 2?
    A. 3
    B. 4
    C. 5
    D. 6
    Answer:
    """
    files = _split_files(Path(root), split)
    wanted = _subjects(files, subjects, Path(root))
    dev = _split_files(Path(root), "dev", required=False)
    if shots is None:
        shots = DEFAULT_SHOTS if dev else 0
    if isinstance(shots, bool) or not isinstance(shots, int) or shots < 0:
        raise ValueError(f"--mmlu-shots must be a non-negative integer, got {shots!r}")
    if shots and not dev:
        raise FileNotFoundError(f"--mmlu-shots {shots}: {root} has no dev split to draw shots from "
                                "(MMLU's data/dev/<subject>_dev.csv); pass --mmlu-shots 0")
    tasks = {}
    for subject in wanted:
        if shots and subject not in dev:
            raise FileNotFoundError(f"MMLU subject {subject} has no dev file in {root}/dev: "
                                    "pass --mmlu-shots 0, or add its <subject>_dev.csv")
        context = _context(subject, dev[subject], shots) if shots else _header(subject)
        examples = tuple(_question(files[subject], line, row, subject, context, shots)
                         for line, row in mmlu_records(files[subject]))
        tasks[subject] = Task(f"mmlu/{subject}", "knowledge", "choice", examples)
    return tasks


def mmlu_task(root: str | Path, *, shots: Optional[int] = None,
              subjects: Optional[Iterable[str]] = None) -> Task:
    """Every selected subject's questions in one task named ``mmlu``.

    >>> import tempfile
    >>> test = Path(tempfile.mkdtemp()) / "test"
    >>> test.mkdir()
    >>> _ = (test / "virology_test.csv").write_text("What is a virus?,A cell,A particle,A plant,A rock,B")
    >>> task = mmlu_task(test)  # no dev split beside it: zero-shot
    >>> task.name, task.examples[0].metadata["shots"], task.examples[0].prompt.splitlines()[0]
    ('mmlu', 0, 'The following are multiple choice questions (with answers) about virology.')
    """
    tasks = mmlu_tasks(root, shots=shots, subjects=subjects)
    return Task("mmlu", "knowledge", "choice", tuple(e for t in tasks.values() for e in t.examples))


def _header(subject: str) -> str:
    return HEADER.format(subject=subject.replace("_", " "))


def _render(question: str, options: list[str]) -> str:
    return "\n".join([question, *(f"{l}. {o}" for l, o in zip(LETTERS, options)), "Answer:"])


def _context(subject: str, dev_file: Path, shots: int) -> str:
    records = mmlu_records(dev_file)
    if len(records) < shots:
        raise ValueError(f"--mmlu-shots {shots}: {dev_file} holds only {len(records)} questions")
    blocks = []
    for line, row in records[:shots]:  # the first k, as Hendrycks et al. and lm-eval take them
        question, options, answer = mmlu_row(dev_file, line, row)
        blocks.append(f"{_render(question, options)} {LETTERS[answer]}\n\n")
    return _header(subject) + "".join(blocks)


def _question(file: Path, line: int, row: list[str], subject: str, context: str,
              shots: int) -> Example:
    question, options, answer = mmlu_row(file, line, row)
    return Example(prompt=context + _render(question, options), answer=f" {LETTERS[answer]}",
                   choices=tuple(f" {letter}" for letter in LETTERS),
                   metadata={"subject": subject, "source": str(file), "line": line,
                             "shots": shots})


def _split_files(root: Path, split: str, required: bool = True) -> dict[str, Path]:
    if root.is_file():
        found = [root] if split == "test" else []
    else:
        folder = root / split if (root / split).is_dir() else (
            root.parent / split if root.name in ("test", "dev", "val") else root)
        found = sorted(folder.glob(f"*_{split}.csv")) if folder.is_dir() else []
        if not found and split == "test" and folder == root:
            found = sorted(root.glob("*.csv"))
    if not found and required:
        raise FileNotFoundError(f"no MMLU {split} files (<subject>_{split}.csv) at {root}: "
                                f"{MMLU_SOURCE}")
    return {_subject_of(f, split): f for f in found}


def _subject_of(file: Path, split: str) -> str:
    stem = file.stem
    return stem[: -len(split) - 1] if stem.endswith(f"_{split}") else stem


def _subjects(files: dict[str, Path], subjects: Optional[Iterable[str]], root: Path) -> list[str]:
    if subjects is None:
        return sorted(files)
    wanted: list[str] = []
    for name in subjects:
        wanted += PRESETS.get(name, (name,))
    unknown = sorted(set(wanted) - set(files))
    if unknown:
        raise ValueError(f"no MMLU subject {', '.join(unknown)} in {root}; available: "
                         f"{', '.join(sorted(files))} (presets: {', '.join(PRESETS)})")
    return sorted(set(wanted))
