"""Query matching throughput: our batched matcher vs MetaCLIP's per-text pyahocorasick loop.

    .venv/bin/python bench/match_throughput.py [--queries 500000] [--texts 1000000]

Both sides get the same generated inputs: a query list of `--queries` entries (unigrams
and bigrams over a Zipf-distributed synthetic vocabulary, like a Wikipedia-derived list)
and `--texts` alt-texts of 3-15 words drawn from the same Zipf law (5% with non-ASCII
characters: a curly apostrophe and an accented word). Each side runs in
its own fresh subprocess, on one core, so its peak RSS (ru_maxrss) is its own:

- ours: `wit_pipeline.harvest.matcher.QueryMatcher.match_batch` on batches of `--batch`
  texts (what the harvest DoFn does);
- anchor: MetaCLIP's `substr_matching` approach: an automaton of `(index, key)` objects,
  then for every text one `automaton.iter(" " + text + " ")` call collecting a set.
  The anchor gets the same normalization (`queries.normalize.normalize`) so both find
  exactly the same queries; the outputs are compared and must agree.

Throughput is texts per CPU-second of the process (time.process_time), i.e. per core,
so other load on the machine slows the wall clock but not the comparison much.
Prints texts/s per core for each, the ratio, and peak RSS; exits non-zero when the
outputs differ.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_LETTERS = np.array(list("abcdefghijklmnopqrstuvwxyz"))


def make_vocabulary(size: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, 11, size=size)
    letters = _LETTERS[rng.integers(0, 26, size=int(lengths.sum()))]
    words, seen, offset = [], set(), 0
    for length in lengths:
        word = "".join(letters[offset:offset + length])
        offset += length
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def make_inputs(n_queries: int, n_texts: int, seed: int = 0, non_ascii: float = 0.05) -> tuple[list[str], list[str]]:
    vocabulary = make_vocabulary(int(n_queries * 0.9), seed)
    rng = np.random.default_rng(seed + 1)
    # Like WIT: every frequent word is a query; the rest are bigrams of frequent words.
    n_unigrams = min(len(vocabulary), int(n_queries * 0.8))
    queries = vocabulary[:n_unigrams]
    seen = set(queries)
    zipf_cap = len(vocabulary)
    while len(queries) < n_queries:
        a, b = (rng.zipf(1.2, size=2) - 1) % zipf_cap
        bigram = f"{vocabulary[a]} {vocabulary[b]}"
        if bigram not in seen:
            seen.add(bigram)
            queries.append(bigram)
    lengths = rng.integers(3, 16, size=n_texts)
    word_ids = (rng.zipf(1.15, size=int(lengths.sum())) - 1) % zipf_cap
    texts, offset = [], 0
    for length in lengths:
        words = [vocabulary[i] for i in word_ids[offset:offset + length]]
        offset += length
        words[0] = words[0].capitalize()  # real alt-texts are mixed case and punctuated
        if rng.random() < non_ascii:      # and some are not ASCII (curly quotes, accents)
            words[-1] = words[-1] + "\u2019s"
            words.insert(1, "café")
        texts.append(" ".join(words) + ".")
    return queries, texts


class Anchor:
    """MetaCLIP's substr_matching loop, given our normalization so both find the same queries."""

    def __init__(self, queries: list[str]) -> None:
        import ahocorasick

        from queries.normalize import normalize

        self._normalize = normalize
        self.automaton = ahocorasick.Automaton()
        for index, query in enumerate(queries):
            self.automaton.add_word(f" {query} ", (index, query))
        self.automaton.make_automaton()

    def match_batch(self, texts: list[str]) -> list[set[str]]:
        results = []
        for text in texts:
            found = set()
            for _, (_, query) in self.automaton.iter(f" {self._normalize(text)} "):
                found.add(query)
            results.append(found)
        return results


def build(side: str, queries: list[str]):
    if side == "ours":
        from wit_pipeline.harvest.matcher import QueryMatcher

        return QueryMatcher(queries)
    return Anchor(queries)


def match_all(matcher, texts: list[str], batch: int, digest, counter: list[int]) -> float:
    """Match `texts` batch by batch; returns the CPU seconds spent inside `match_batch` alone.

    Checking the results (the digest both sides must agree on) happens outside the timed
    calls: it is the benchmark's own work, and timing it would add the same constant to
    both sides and understate the difference between the matchers.
    """
    spent = 0.0
    for start in range(0, len(texts), batch):
        chunk = texts[start:start + batch]
        began = time.process_time()
        results = matcher.match_batch(chunk)
        spent += time.process_time() - began
        for found in results:
            counter[0] += len(found)
            digest.update(("\t".join(sorted(found)) + "\n").encode())
    return spent


def run_side(side: str, n_queries: int, n_texts: int, batch: int) -> dict:
    """One side alone in this process: its build time, throughput and peak RSS."""
    queries, texts = make_inputs(n_queries, n_texts)
    rss_inputs = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    digest, counter = hashlib.sha256(), [0]
    started = time.process_time()
    matcher = build(side, queries)
    built = time.process_time()
    matching = match_all(matcher, texts, batch, digest, counter)
    return {"side": side, "build_s": built - started, "texts_per_s": len(texts) / matching,
            "matched_pairs": counter[0], "digest": digest.hexdigest(),
            "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "inputs_rss_bytes": rss_inputs}


def interleaved(n_queries: int, n_texts: int, batch: int, rounds: int = 40) -> dict:
    """Both sides in one process, alternating slices of the texts, CPU time per slice.

    Alternation makes both sides see the same machine (other jobs, cache pressure,
    frequency scaling); the reported ratio is the median of the per-slice ratios, so a
    burst of load on the machine during one slice does not move it.
    """
    queries, texts = make_inputs(n_queries, n_texts)
    sides = {"ours": build("ours", queries), "anchor": build("anchor", queries)}
    seconds = {"ours": 0.0, "anchor": 0.0}
    digests = {name: hashlib.sha256() for name in sides}
    counters = {name: [0] for name in sides}
    ratios = []
    step = -(-len(texts) // rounds)
    for i, start in enumerate(range(0, len(texts), step)):
        chunk = texts[start:start + step]
        order = ("ours", "anchor") if i % 2 == 0 else ("anchor", "ours")
        spent = {}
        for name in order:
            spent[name] = match_all(sides[name], chunk, batch, digests[name], counters[name])
            seconds[name] += spent[name]
        ratios.append(spent["anchor"] / spent["ours"])
    ratios.sort()
    result = {name: {"texts_per_s": len(texts) / seconds[name], "digest": digests[name].hexdigest(),
                     "matched_pairs": counters[name][0]} for name in sides}
    result["ratio_median"] = ratios[len(ratios) // 2]
    result["ratio_quartiles"] = (ratios[len(ratios) // 4], ratios[(3 * len(ratios)) // 4])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=500_000)
    parser.add_argument("--texts", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--side", choices=["ours", "anchor"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.side:
        print(json.dumps(run_side(args.side, args.queries, args.texts, args.batch)))
        return 0

    isolated = {}
    for side in ("ours", "anchor"):
        command = [sys.executable, os.path.abspath(__file__), "--side", side, "--queries", str(args.queries),
                   "--texts", str(args.texts), "--batch", str(args.batch)]
        print(f"running {side} alone (peak RSS) ...", flush=True)
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        isolated[side] = json.loads(output.strip().splitlines()[-1])
    print("running both, interleaved (throughput) ...", flush=True)
    together = interleaved(args.queries, args.texts, args.batch)

    mib = 1024 * 1024
    print(f"\n{args.queries:,} queries, {args.texts:,} texts of 3-15 words; texts per CPU-second (one core)")
    print(f"{'':8} {'interleaved':>12} {'alone':>10} {'build s':>8} {'peak RSS':>9} {'RSS-inputs':>11} {'pairs':>12}")
    for side in ("ours", "anchor"):
        r = isolated[side]
        print(f"{side:8} {together[side]['texts_per_s']:12,.0f} {r['texts_per_s']:10,.0f} {r['build_s']:8.1f} "
              f"{r['peak_rss_bytes'] / mib:7.0f}MB {(r['peak_rss_bytes'] - r['inputs_rss_bytes']) / mib:9.0f}MB "
              f"{r['matched_pairs']:12,}")
    ratio = together["ratio_median"]
    low, high = together["ratio_quartiles"]
    alone_ratio = isolated["ours"]["texts_per_s"] / isolated["anchor"]["texts_per_s"]
    print(f"speed-up ours / anchor: {ratio:.2f}x (median of {40} interleaved slices; quartiles {low:.2f}-{high:.2f}); "
          f"{alone_ratio:.2f}x run alone; target >= 1.5x")
    print(f"our peak RSS {isolated['ours']['peak_rss_bytes'] / mib:.0f} MB, anchor "
          f"{isolated['anchor']['peak_rss_bytes'] / mib:.0f} MB (target <= 1024 MB per worker)")
    digests = {isolated[s]["digest"] for s in isolated} | {together[s]["digest"] for s in ("ours", "anchor")}
    if len(digests) != 1:
        print("ERROR: the two matchers disagree on the matched queries", file=sys.stderr)
        return 1
    print("outputs identical")
    return 0


if __name__ == "__main__":
    sys.exit(main())
