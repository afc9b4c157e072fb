"""Time our choice scoring against lm-eval-harness's HFLM on the same requests, in one run.

For each shape, a random-weight HF checkpoint at that real config is saved with a tokenizer
(Pythia's real BPE from tests/data by default), and the same MMLU-style questions (real MMLU
from tests/data, 5-shot under the standard header, four letter choices) are scored by
  ours    interp.scoring.score_task on interp.load_model(DIR): one forward per question, the
          logits at its last position only, on the plain HF model (no hooks);
  lm-eval lm_eval.models.huggingface.HFLM(pretrained=DIR).loglikelihood on every
          (question, choice) pair.
Repetitions alternate between the two; medians, their ratio, the answers' agreement and the
largest loss difference are printed side by side. torch runs on one thread for both.

    pip install -e '.[bench]'            # lm-eval-harness 0.4.13 and accelerate
    python benchmarks/evaluate.py        # pythia-70m and pythia-160m shapes, 64 questions
    python benchmarks/evaluate.py --shapes pythia-70m --questions 32 --reps 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# name: (hidden, layers, heads, ffn, vocab): the real GPT-NeoX configs of those checkpoints.
SHAPES = {
    "pythia-70m": (512, 6, 8, 2048, 50304),
    "pythia-160m": (768, 12, 12, 3072, 50304),
}
TOKENIZER = ROOT / "tests" / "data" / "pythia-tokenizer"
MMLU = ROOT / "tests" / "data" / "mmlu-hendrycks" / "data"


def lm_eval_model(directory: Path, batch_size: int):
    try:
        from lm_eval.models.huggingface import HFLM
    except ImportError:
        raise SystemExit("error: lm-eval-harness is not installed: pip install -e '.[bench]' "
                         "(lm-eval==0.4.13 and accelerate)") from None
    return HFLM(pretrained=str(directory), device="cpu", batch_size=batch_size)


def build_checkpoint(shape: str, tokenizer_dir: Path, directory: Path) -> Path:
    """A random-weight GPTNeoXForCausalLM at ``shape``'s real config, saved with a tokenizer."""
    from transformers import AutoTokenizer, GPTNeoXConfig, GPTNeoXForCausalLM

    hidden, layers, heads, ffn, vocab = SHAPES[shape]
    config = GPTNeoXConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers,
                           num_attention_heads=heads, intermediate_size=ffn, rotary_pct=0.25,
                           use_parallel_residual=True, max_position_embeddings=2048,
                           bos_token_id=0, eos_token_id=0)
    torch.manual_seed(0)
    GPTNeoXForCausalLM(config).save_pretrained(directory)
    AutoTokenizer.from_pretrained(tokenizer_dir).save_pretrained(directory)
    return directory


def requests_of(task):
    from lm_eval.api.instance import Instance

    pairs = [(e.prompt, c) for e in task.examples for c in e.choices]
    return [Instance(request_type="loglikelihood", doc={}, arguments=pair, idx=i)
            for i, pair in enumerate(pairs)]


def run_ours(model, task, batch_size):
    from interp.scoring import score_task

    score = score_task(model, task, batch_size=batch_size, progress=False)
    return list(score.chosen), score.loss


def run_lm_eval(lm, task, requests):
    results = lm.loglikelihood(requests, disable_tqdm=True)
    chosen, losses, k = [], [], 0
    for example in task.examples:
        logliks = [ll for ll, _ in results[k : k + len(example.choices)]]
        k += len(example.choices)
        chosen.append(example.choices[max(range(len(logliks)), key=logliks.__getitem__)])
        losses.append(-logliks[example.choices.index(example.answer)])
    return chosen, losses


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def bench_shape(shape: str, args, workdir: Path) -> dict:
    import interp
    from interp.tasks import Task, mmlu_task

    directory = build_checkpoint(shape, args.tokenizer, workdir / shape)
    full = mmlu_task(args.mmlu, shots=args.shots)
    task = Task(full.name, full.kind, full.scoring, full.examples[: args.questions])
    model = interp.load_model(str(directory))
    lm = lm_eval_model(directory, args.batch)
    requests = requests_of(task)
    ours_s, theirs_s = [], []
    for _ in range(args.reps):  # alternate, so drift in the machine hits both alike
        t, (ours_chosen, ours_loss) = timed(lambda: run_ours(model, task, args.batch))
        ours_s.append(t)
        t, (theirs_chosen, theirs_loss) = timed(lambda: run_lm_eval(lm, task, requests))
        theirs_s.append(t)
    agree = sum(a == b for a, b in zip(ours_chosen, theirs_chosen)) / len(task)
    loss_diff = max(abs(a - b) for a, b in zip(ours_loss, theirs_loss))
    ours, theirs = statistics.median(ours_s), statistics.median(theirs_s)
    return dict(shape=shape, questions=len(task), shots=args.shots, ours=ours, lm_eval=theirs,
                ratio=ours / theirs, agreement=agree, max_loss_diff=loss_diff)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--questions", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--tokenizer", type=Path, default=TOKENIZER)
    parser.add_argument("--mmlu", type=Path, default=MMLU)
    parser.add_argument("--shots", type=int, default=5, help="MMLU dev shots per prompt")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print("| shape | questions | shots | ours s | lm-eval s | ours / lm-eval | answers agree | max abs loss diff |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for shape in args.shapes:
            r = bench_shape(shape, args, Path(tmp))
            print(f"| {r['shape']} | {r['questions']} | {r['shots']} | {r['ours']:.2f} | {r['lm_eval']:.2f} | "
                  f"{r['ratio']:.2f} | {r['agreement']:.3f} | {r['max_loss_diff']:.1e} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
