"""The standard MMLU protocol: header, first-k dev shots, default shots, presets, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from interp.tasks import MMLU_PRESETS, mmlu_task, mmlu_tasks


def write_mmlu(root: Path, subjects=("abstract_algebra", "virology"), dev=True) -> Path:
    for split in ("dev", "test") if dev else ("test",):
        (root / split).mkdir(parents=True)
        for subject in subjects:
            rows = [f'"{subject} {split} q{i}?",o{i}a,o{i}b,o{i}c,o{i}d,{"ABCD"[i % 4]}' for i in range(6)]
            (root / split / f"{subject}_{split}.csv").write_text("\n".join(rows) + "\n")
    return root


def test_five_shots_from_the_dev_split_by_default(tmp_path):
    tasks = mmlu_tasks(write_mmlu(tmp_path))
    assert sorted(tasks) == ["abstract_algebra", "virology"]
    example = tasks["abstract_algebra"].examples[2]
    prompt = example.prompt
    assert prompt.startswith("The following are multiple choice questions (with answers) about "
                             "abstract algebra.\n\nabstract_algebra dev q0?\nA. o0a\n")
    # The first five dev questions, each answered, then the test question unanswered.
    assert [f"abstract_algebra dev q{i}?" in prompt for i in range(6)] == [True] * 5 + [False]
    assert prompt.count("Answer:") == 6 and "Answer: A\n\n" in prompt and "Answer: B\n\n" in prompt
    assert prompt.endswith("abstract_algebra test q2?\nA. o2a\nB. o2b\nC. o2c\nD. o2d\nAnswer:")
    assert example.answer == " C" and example.choices == (" A", " B", " C", " D")
    assert example.metadata["shots"] == 5 and len(tasks["virology"]) == 6


def test_zero_shots_without_a_dev_split_and_an_error_when_shots_are_asked(tmp_path):
    root = write_mmlu(tmp_path, dev=False)
    task = mmlu_task(root / "test")
    assert task.name == "mmlu" and len(task) == 12
    assert task.examples[0].prompt.count("Answer:") == 1
    with pytest.raises(FileNotFoundError, match="no dev split"):
        mmlu_tasks(root, shots=5)


def test_shots_and_subjects_are_honoured(tmp_path):
    root = write_mmlu(tmp_path)
    two = mmlu_tasks(root, shots=2, subjects=["virology"])
    assert list(two) == ["virology"]
    assert two["virology"].examples[0].prompt.count("Answer:") == 3
    with pytest.raises(ValueError, match="only 6 questions"):
        mmlu_tasks(root, shots=7)
    with pytest.raises(ValueError, match="no MMLU subject astronomy .*presets: math"):
        mmlu_tasks(root, subjects=["astronomy"])


def test_the_math_preset_names_paper_a_subjects(tmp_path):
    root = write_mmlu(tmp_path, subjects=MMLU_PRESETS["math"] + ("virology",))
    assert sorted(mmlu_tasks(root, subjects=["math"])) == sorted(MMLU_PRESETS["math"])
