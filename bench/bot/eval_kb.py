"""Answer matching on the development set: accuracy, hand-overs, wrong answers, latency.

Run: ``.venv/bin/python bench/bot/eval_kb.py [DEV.tsv] [--kb FILE.yaml] [--folds 5]
[--noise 0.1] [--seeds 2] [--unseen 2] [--fit] [--cache FILE.npz]``.

The development set (default ``../shared/data/kb/dev-queries.tsv`` beside the
repository) is matched as it is and with simulated recognition errors
(``--noise`` of the letters; ``--seeds`` seeded copies of every question).
Three sets of figures, each clean and noisy:

* ``shipped``: the matcher's :data:`DEFAULT_CALIBRATION` (fitted on this very
  set, so in-sample: optimistic);
* ``refit``: a calibration fitted on the whole set and judged on it (in-sample);
* ``cv``: k-fold cross-validation by question (a question and its noisy copies
  share a fold): every decision is made by a calibration that never saw the
  question.  These are the honest figures.

Figures: top-1 on answerable questions (answered with the expected id),
best candidate right, ``none`` questions handed over, confident wrong answers
(wrong answers given, over all questions).  Latency: model load, KB indexing,
and matching per question (p50/p95).  ``--fit`` prints the refitted
calibration for :mod:`hotline.bot.kb_match`.  ``--unseen`` more noisy copies,
with seeds no fit ever saw, are judged with the shipped calibration.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from hotline.bot.kb import load_kb
from hotline.bot.kb_calib import Sample, cross_validate, fit
from hotline.bot.kb_embed import CachedEmbedder, E5Embedder
from hotline.bot.kb_eval import DevQuery, EvalFigures, asr_noise, parse_dev_set, score
from hotline.bot.kb_index import KbIndex
from hotline.bot.kb_match import DEFAULT_CALIBRATION, KbMatcher
from hotline.bot.kb_text import Lemmatizer
from hotline.bot.ports import AnswerMatch

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DEV = REPO.parent / "shared" / "data" / "kb" / "dev-queries.tsv"
DEFAULT_KB = REPO / "src" / "hotline" / "bot" / "data" / "standard-answers.yaml"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _figures(name: str, figures: EvalFigures) -> str:
    return (
        f"{name:<16} top1={figures.top1:6.1%}  candidate={figures.candidate_top1:6.1%}  "
        f"none_handed_over={figures.none_handed_over:6.1%}  "
        f"confident_wrong={figures.confident_wrong:5.1%}  "
        f"(n={figures.answerable}+{figures.unanswerable})"
    )


def _score(queries: Sequence[DevQuery], decisions: Sequence[AnswerMatch]) -> EvalFigures:
    return score(queries, [d.answer_id for d in decisions], [d.best_candidate for d in decisions])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dev", nargs="?", type=Path, default=DEFAULT_DEV)
    parser.add_argument("--kb", type=Path, default=DEFAULT_KB)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--noise", type=float, default=0.1)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--fit", action="store_true", help="print the refitted calibration")
    parser.add_argument("--cache", type=Path, default=None, help="KB embedding cache (.npz)")
    parser.add_argument(
        "--unseen", type=int, default=2, help="noisy copies with seeds never used for fitting"
    )
    args = parser.parse_args(argv)

    entries = load_kb(args.kb)
    queries = parse_dev_set(args.dev.read_text(encoding="utf-8"))
    t0 = time.perf_counter()
    embedder = CachedEmbedder(E5Embedder(), args.cache)
    lemmatizer = Lemmatizer()
    t1 = time.perf_counter()
    index = KbIndex(entries, lemmatizer, embedder)
    embedder.save()
    t2 = time.perf_counter()
    position = {e.id: i for i, e in enumerate(entries)}

    variants: list[tuple[str, list[DevQuery]]] = [("clean", list(queries))]
    for seed in range(1, args.seeds + 1):
        noisy = [
            DevQuery(asr_noise(q.text, args.noise, seed * 10_000 + i), q.expected)
            for i, q in enumerate(queries)
        ]
        variants.append((f"noise{seed}", noisy))

    samples: list[Sample] = []
    latencies: list[float] = []
    for _, variant in variants:
        for group, query in enumerate(variant):
            start = time.perf_counter()
            scores = index.scores(query.text)
            latencies.append(time.perf_counter() - start)
            expected = position.get(query.expected) if query.expected is not None else None
            samples.append(Sample(scores, expected, group))

    n = len(queries)
    topics = [e.topic for e in entries]
    refit = fit(samples, topics)
    shipped = KbMatcher(index, DEFAULT_CALIBRATION)
    refitted = KbMatcher(index, refit)
    cv = cross_validate(index, samples, folds=args.folds)

    print(f"# answer matching on {args.dev.name}: {n} questions, KB of {len(entries)} answers")
    print(f"# machine: {os.cpu_count()} cores, {_cpu_model()}, Python {platform.python_version()}")
    print(f"# noise: {args.noise:.0%} of letters, {args.seeds} seeded copies; {args.folds}-fold CV")
    for number, (name, variant) in enumerate(variants):
        part = samples[number * n : (number + 1) * n]
        print(f"## {name}")
        print(_figures("shipped", _score(variant, [shipped.decide(s.scores) for s in part])))
        print(_figures("refit", _score(variant, [refitted.decide(s.scores) for s in part])))
        print(_figures("cv", _score(variant, cv[number * n : (number + 1) * n])))
    noisy_queries = [q for _, v in variants[1:] for q in v]
    if noisy_queries:
        print("## all noisy copies")
        noisy_cv = cv[n:]
        noisy_shipped = [shipped.decide(s.scores) for s in samples[n:]]
        print(_figures("shipped", _score(noisy_queries, noisy_shipped)))
        print(_figures("cv", _score(noisy_queries, noisy_cv)))
    unseen_queries: list[DevQuery] = []
    unseen_decisions: list[AnswerMatch] = []
    for seed in range(args.seeds + 1, args.seeds + 1 + args.unseen):
        for i, q in enumerate(queries):
            text = asr_noise(q.text, args.noise, seed * 10_000 + i)
            start = time.perf_counter()
            scores = index.scores(text)
            latencies.append(time.perf_counter() - start)
            unseen_queries.append(DevQuery(text, q.expected))
            unseen_decisions.append(shipped.decide(scores))
    if unseen_queries:
        print(f"## {args.unseen} noisy copies with unseen seeds (shipped calibration)")
        print(_figures("shipped", _score(unseen_queries, unseen_decisions)))
    ms = sorted(x * 1000 for x in latencies)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    print(
        f"latency: model load {1000 * (t1 - t0):.0f} ms, KB indexing {1000 * (t2 - t1):.0f} ms, "
        f"match p50 {statistics.median(ms):.1f} ms, p95 {p95:.1f} ms over {len(ms)} questions"
    )
    if args.fit:
        print(f"refit: {refit!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
