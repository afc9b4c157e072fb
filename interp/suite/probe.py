"""Can a suite shape learn induction within a training budget? The induction-plateau probe.

In-context learning in the suite's ``icl`` format needs an induction circuit: find the earlier
occurrence of the query word and copy what followed it. The probe asks whether a shape can
form that circuit at all on our budget, on the easiest data there is for it: documents that
are a random span of suite words repeated 2-3 times, so every token after the first span is
predictable by looking one span back (the classic induction-head signal, Olsson et al. 2022).

A fresh model (``build_model``: the suite's own shapes; the suite's warmup-cosine AdamW at
one ``lr`` for every size, where the suite uses 2e-3 to 4e-3 by size) trains on such
documents only; every ``eval_every`` steps the probe scores held-out repeats: the loss on the
second copy of a span, next to ln(words), the loss of a model that cannot look back. A loss
that stays at ln(words) is the plateau before an induction head forms.

    python -m interp.suite probe --family pythia --size s3 --steps 4000

The ICL probe (``--data icl``) asks the same of the suite's own ``icl`` format: a fresh shape
trains on long ICL prompts (16-28 demonstrations of one random category -> label mapping, so
after a category's first demonstration every later label of it can be read off the prompt),
optionally mixed with the suite corpus (``icl_fraction``), and every ``eval_every`` steps is
scored on held-out ``icl`` prompts at 0 and 8 shots, the suite evidence test's measure.

    python -m interp.suite probe --data icl --family pythia --size s4 --rotary-pct 1.0 --steps 2000
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from jaxtyping import Int
from torch import Tensor, nn

from interp.loading import load_hf_model
from interp.runs import plots
from interp.suite.corpus import icl_sequences, suite_words
from interp.suite.models import build_model
from interp.suite.recipe import DEFAULT_STEPS
from interp.suite.scores import icl_scores  # noqa: F401  (re-exported)
from interp.tokenizer import build_word_tokenizer
from interp.training import Schedule, train_lm

Spans = Int[Tensor, "batch twice_span"]

SPAN_WORDS = (6, 20)  # words in a span, drawn uniformly from this range
REPEATS = (2, 3)  # copies of the span in one document
EVAL_SPAN = 12


@dataclass(frozen=True)
class ProbePoint:
    """The probe at one step: held-out loss on repeated spans, against the no-lookback loss."""

    step: int
    repeat_loss: float  # nats per token on the second copy of held-out spans
    repeat_accuracy: float  # top-1 on the same tokens
    no_lookback_loss: float  # ln(words): what a model that cannot look back pays
    train_loss: float  # mean training loss over the steps since the previous point


@dataclass(frozen=True)
class IclProbePoint:
    """The ICL probe at one step: held-out ``icl`` accuracy at 0 and 8 shots (chance 0.5)."""

    step: int
    icl_0shot: float
    icl_8shot: float
    train_loss: float  # mean training loss over the steps since the previous point

    @property
    def gain(self) -> float:
        return self.icl_8shot - self.icl_0shot


def repeat_document(rng: random.Random, words: list[str]) -> str:
    """A random span of ``words`` repeated 2-3 times, space-joined.

    >>> tokens = repeat_document(random.Random(0), list("abcdefghijklmnopqrstuvwxyz")).split()
    >>> span = len(set(tokens)); tokens == tokens[:span] * (len(tokens) // span)
    True
    """
    span = rng.sample(words, rng.randint(*SPAN_WORDS))
    return " ".join(span * rng.randint(*REPEATS))


def repeat_sequences(tokenizer, words: list[str], n: int, seq_len: int, seed: int) -> Tensor:
    """``n`` training sequences of ``seq_len`` tokens, packed repeat documents joined by EOS."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        ids: list[int] = []
        while len(ids) < seq_len:
            ids += tokenizer(repeat_document(rng, words)).input_ids + [tokenizer.eos_token_id]
        rows.append(ids[:seq_len])
    return torch.tensor(rows, dtype=torch.long)


def held_out_spans(tokenizer, words: list[str], n: int, seed: int, span: int = EVAL_SPAN) -> Spans:
    """``n`` rows of a fresh random span written twice (no EOS), from a seed training never uses."""
    rng = random.Random(seed)
    rows = [tokenizer(" ".join(rng.sample(words, span) * 2)).input_ids for _ in range(n)]
    return torch.tensor(rows, dtype=torch.long)


@torch.no_grad()
def repeat_loss(model: nn.Module, spans: Spans) -> tuple[float, float]:
    """(loss, top-1 accuracy) on the second copy of each span, first token excluded.

    The first token of the second copy follows the end of the first, which a lookback
    cannot predict; every later one is predictable from one span back.

    >>> import interp
    >>> model = interp.load_hf_model("suite/pythia-s1")
    >>> spans = held_out_spans(model.tokenizer, sorted(suite_words()), 8, seed=1)
    >>> spans.shape
    torch.Size([8, 24])
    >>> loss, accuracy = repeat_loss(model, spans)
    >>> round(loss, 1), round(accuracy, 2)  # above ln(words) = 6.6: s1 does not look back
    (13.6, 0.0)
    """
    span = spans.shape[1] // 2
    logits = model(spans).logits[:, span:-1].float()  # predicts tokens span+1 .. 2*span-1
    targets = spans[:, span + 1:]
    logp = torch.log_softmax(logits, dim=-1).gather(-1, targets[..., None])[..., 0]
    accuracy = (logits.argmax(-1) == targets).float().mean()
    return -logp.mean().item(), accuracy.item()


def induction_probe(
    family: str,
    size: str,
    *,
    steps: int = 2000,
    lr: float = 3e-3,
    batch_size: int = 32,
    eval_every: int = 250,
    rotary_pct: float | None = None,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = False,
) -> list[ProbePoint]:
    """Train a fresh ``family``-``size`` suite model on repeated spans; the probe every ``eval_every`` steps.

    ``progress`` prints each point as it is measured; ``rotary_pct`` goes to ``build_model``.

    >>> points = induction_probe("pythia", "s1", steps=20, eval_every=10)
    >>> [p.step for p in points]
    [0, 10, 20]
    """
    _check_budget(steps, eval_every)
    model, tokenizer, words = _fresh_model(family, size, seed, rotary_pct)
    sequences = repeat_sequences(tokenizer, words, steps * batch_size, seq_len=128, seed=seed)
    spans = held_out_spans(tokenizer, words, 64, seed=seed + 10_000).to(device)
    measured: list[tuple[int, float, float]] = []

    def measure(step: int, m: nn.Module) -> None:
        m.eval()
        measured.append((step, *repeat_loss(m, spans)))
        m.train()
        if progress:  # a probe runs for minutes; say where it is
            print(f"probe {family}-{size} step {step}: repeat loss {measured[-1][1]:.3f} "
                  f"(no lookback {math.log(len(words)):.3f}), accuracy {measured[-1][2]:.3f}",
                  flush=True)

    schedule = Schedule(steps=steps, batch_size=batch_size, lr=lr)
    wanted = tuple(sorted(set(range(0, steps + 1, eval_every)) | {steps}))
    losses = train_lm(model, sequences, schedule, device=device, checkpoint_steps=wanted,
                      on_checkpoint=measure, label=f"probe {family}-{size}", progress=False)
    no_lookback = round(math.log(len(words)), 4)
    return [
        ProbePoint(step, round(loss, 4), round(accuracy, 4), no_lookback,
                   _mean_before(losses, step, eval_every))
        for step, loss, accuracy in measured
    ]


def icl_probe(
    family: str,
    size: str,
    *,
    steps: int = 2000,
    lr: float = 3e-3,
    batch_size: int = 32,
    eval_every: int = 250,
    icl_fraction: float = 1.0,
    rotary_pct: float | None = None,
    n_eval: int = 200,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = False,
    start: str | None = None,
) -> list[IclProbePoint]:
    """Train a fresh suite shape on long ICL prompts (a share ``icl_fraction`` of rows, the
    rest suite corpus); score held-out ``icl`` at 0 and 8 shots every ``eval_every`` steps.

    ``start`` (a model name, e.g. ``"suite/opt-s5@step2000"``) trains that model instead of a
    fresh shape: does a model that has learned the corpus pick ICL up faster?

    >>> points = icl_probe("pythia", "s1", steps=20, eval_every=10, n_eval=8)
    >>> [p.step for p in points]
    [0, 10, 20]
    """
    _check_budget(steps, eval_every)
    label = start or f"{family}-{size}"
    if start is None:
        model, tokenizer, _ = _fresh_model(family, size, seed, rotary_pct)
    elif rotary_pct is not None:
        raise ValueError("rotary_pct shapes a fresh model; a start model keeps its own. Drop one")
    else:
        model = load_hf_model(start, dtype="float32")
        tokenizer = model.tokenizer
    sequences = icl_sequences(tokenizer, steps * batch_size, seq_len=128, seed=seed,
                              icl_fraction=icl_fraction)
    measured: list[tuple[int, float, float]] = []

    def measure(step: int, m: nn.Module) -> None:
        m.eval()
        zero, eight = icl_scores(m, tokenizer, n=n_eval)
        measured.append((step, zero, eight))
        m.train()
        if progress:
            print(f"icl probe {label} step {step}: icl@0 {zero:.3f}, icl@8 {eight:.3f}",
                  flush=True)

    schedule = Schedule(steps=steps, batch_size=batch_size, lr=lr)
    wanted = tuple(sorted(set(range(0, steps + 1, eval_every)) | {steps}))
    losses = train_lm(model, sequences, schedule, device=device, checkpoint_steps=wanted,
                      on_checkpoint=measure, label=f"icl probe {label}", progress=False)
    return [
        IclProbePoint(step, round(zero, 4), round(eight, 4), _mean_before(losses, step, eval_every))
        for step, zero, eight in measured
    ]


def _check_budget(steps: int, eval_every: int) -> None:
    if steps < 1 or eval_every < 1:
        raise ValueError(f"steps and eval_every must be positive, got {steps} and {eval_every}")


def _fresh_model(family: str, size: str, seed: int, rotary_pct: float | None):
    """A fresh suite shape with the suite tokenizer: (model, tokenizer, sorted words)."""
    words = sorted(suite_words())
    tokenizer = build_word_tokenizer(set(words))
    special = dict(pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                   eos_token_id=tokenizer.eos_token_id)
    model = build_model(family, size, vocab_size=len(tokenizer), seed=seed, special=special,
                        rotary_pct=rotary_pct)
    return model, tokenizer, words


def _mean_before(losses: list[float], step: int, window: int) -> float:
    recent = losses[max(0, step - window):step]
    return round(sum(recent) / len(recent), 4) if recent else float("nan")


def plot_probes(folder: Path | str) -> list[Path]:
    """Draw every ``induction_probe_<family>-<size>.csv`` in ``folder`` into ``induction_probe.png``.

    One line per run: held-out loss on the repeated span against training steps, with the
    no-lookback loss ln(words) dotted and the suite's step budget as a vertical line; a line that leaves it is an induction circuit forming.

    >>> import tempfile, pandas as pd
    >>> from dataclasses import asdict
    >>> folder = Path(tempfile.mkdtemp())
    >>> points = [ProbePoint(0, 7.9, 0.0, 7.9, float("nan")), ProbePoint(250, 2.1, 0.6, 7.9, 4.2)]
    >>> pd.DataFrame([asdict(p) for p in points]).to_csv(folder / "induction_probe_pythia-s1.csv")
    >>> [p.name for p in plot_probes(folder)]
    ['induction_probe.png', 'induction_probe.pdf']
    """
    folder = Path(folder)
    runs = _probe_runs(folder, "induction_probe", "python -m interp.suite probe")
    plots.use_style()
    fig, ax = plots.plt.subplots(figsize=(6, 3.6))
    for name, table in runs:
        family = name.split("-")[0]
        style = "-" if name.endswith("s5") else "--" if name.endswith("s3") else ":"
        ax.plot(table["step"], table["repeat_loss"], style, marker="o", markersize=3,
                color=plots.FAMILY_COLORS.get(family), label=name)
    ax.axhline(math.log(len(suite_words())), color="gray", lw=1, ls=":", label="ln(words): no lookback")
    ax.axvline(DEFAULT_STEPS, color="black", lw=0.8, alpha=0.6, label="suite phase 1 (mixed corpus)")
    ax.set(xlabel="training step (32 x 128 tokens, repeated spans only)",
           ylabel="loss on the repeat (nats)", ylim=(0, None),
           title="Induction plateau of suite shapes")
    ax.legend(fontsize=8)
    return plots.save(fig, folder / "induction_probe")


def plot_icl_probes(folder: Path | str) -> list[Path]:
    """Draw every ``icl_probe_*.csv`` in ``folder`` into ``icl_probe.png``: the 8-shot gain
    over 0-shot against training steps, with the suite target (+0.20) as a line.

    >>> import tempfile, pandas as pd
    >>> from dataclasses import asdict
    >>> folder = Path(tempfile.mkdtemp())
    >>> points = [IclProbePoint(0, 0.5, 0.5, float("nan")), IclProbePoint(250, 0.5, 0.8, 3.1)]
    >>> pd.DataFrame([asdict(p) for p in points]).to_csv(folder / "icl_probe_pythia-s1.csv")
    >>> [p.name for p in plot_icl_probes(folder)]
    ['icl_probe.png', 'icl_probe.pdf']
    """
    folder = Path(folder)
    runs = _probe_runs(folder, "icl_probe", "python -m interp.suite probe --data icl")
    plots.use_style()
    fig, ax = plots.plt.subplots(figsize=(6, 3.6))
    for name, table in runs:
        style = "-" if "-icl" not in name else ":"
        ax.plot(table["step"], table["icl_8shot"] - table["icl_0shot"], style, marker="o",
                markersize=3, color=plots.FAMILY_COLORS.get(name.split("-")[0]),
                alpha=1.0 if "-rot" in name or name.startswith("opt") else 0.5, label=name)
    ax.axhline(0.20, color="black", lw=0.8, ls="--", label="suite target: 8-shot - 0-shot = 0.20")
    ax.axhline(0.0, color="gray", lw=0.8, ls=":")
    ax.set(xlabel="training step (32 x 128 tokens; ICL prompts, or a share of them)",
           ylabel="icl accuracy: 8-shot minus 0-shot", title="Does a suite shape learn the ICL format?")
    ax.legend(fontsize=7)
    return plots.save(fig, folder / "icl_probe")


def _probe_runs(folder: Path, prefix: str, command: str) -> list[tuple[str, pd.DataFrame]]:
    """(run name, table) for every ``<prefix>_<run>.csv`` in ``folder``, sorted by name."""
    paths = sorted(folder.glob(f"{prefix}_*.csv"))
    if not paths:
        raise FileNotFoundError(f"no {prefix}_*.csv in {folder}; run `{command}` first")
    return [(p.stem.removeprefix(f"{prefix}_"), pd.read_csv(p)) for p in paths]
