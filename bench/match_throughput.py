"""Query matching throughput: our batched matcher vs MetaCLIP's per-text pyahocorasick loop.

    .venv/bin/python bench/match_throughput.py [--queries 500000] [--texts 1000000]

Both sides get the same generated inputs: a query list of `--queries` entries (unigrams
and bigrams over a Zipf-distributed synthetic vocabulary, like a Wikipedia-derived list)
and `--texts` alt-texts of 3-15 words drawn from the same Zipf law. Each side runs in
its own fresh subprocess, on one core, so its peak RSS (ru_maxrss) is its own:

- ours: `wit_pipeline.query_matcher.QueryMatcher.match_batch` on batches of `--batch`
  texts (what the harvest DoFn does);
- anchor: MetaCLIP's `substr_matching` approach: an automaton of `(index, key)` objects,
  then for every text one `automaton.iter(" " + text + " ")` call collecting a set.
  The anchor gets the same normalization (`queries.normalize.normalize`) so both find
  exactly the same queries; the outputs are compared and must agree.

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


def make_inputs(n_queries: int, n_texts: int, seed: int = 0) -> tuple[list[str], list[str]]:
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
        texts.append(" ".join(words) + ".")
    return queries, texts


def run_side(side: str, n_queries: int, n_texts: int, batch: int) -> dict:
    queries, texts = make_inputs(n_queries, n_texts)
    rss_inputs = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    digest = hashlib.sha256()
    matched_pairs = 0
    started = time.perf_counter()
    if side == "ours":
        from wit_pipeline.query_matcher import QueryMatcher

        matcher = QueryMatcher(queries)
        built = time.perf_counter()
        for start in range(0, len(texts), batch):
            for found in matcher.match_batch(texts[start:start + batch]):
                matched_pairs += len(found)
                digest.update(("\t".join(sorted(found)) + "\n").encode())
    else:
        import ahocorasick

        from queries.normalize import normalize

        automaton = ahocorasick.Automaton()
        for index, query in enumerate(queries):
            automaton.add_word(f" {query} ", (index, query))
        automaton.make_automaton()
        built = time.perf_counter()
        for text in texts:
            found = set()
            for _, (_, query) in automaton.iter(f" {normalize(text)} "):
                found.add(query)
            matched_pairs += len(found)
            digest.update(("\t".join(sorted(found)) + "\n").encode())
    finished = time.perf_counter()
    return {"side": side, "build_s": built - started, "match_s": finished - built,
            "texts_per_s": len(texts) / (finished - built), "matched_pairs": matched_pairs,
            "digest": digest.hexdigest(),
            "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "inputs_rss_bytes": rss_inputs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=500_000)
    parser.add_argument("--texts", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--side", choices=["ours", "anchor"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.side:
        print(json.dumps(run_side(args.side, args.queries, args.texts, args.batch)))
        return 0

    results = {}
    for side in ("ours", "anchor"):
        command = [sys.executable, os.path.abspath(__file__), "--side", side, "--queries", str(args.queries),
                   "--texts", str(args.texts), "--batch", str(args.batch)]
        print(f"running {side} ...", flush=True)
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        results[side] = json.loads(output.strip().splitlines()[-1])
    ours, anchor = results["ours"], results["anchor"]
    mib = 1024 * 1024
    print(f"\n{args.queries:,} queries, {args.texts:,} texts of 3-15 words, one core each")
    print(f"{'':8} {'texts/s':>12} {'build s':>8} {'peak RSS':>10} {'RSS - inputs':>13} {'pairs':>12}")
    for side in ("ours", "anchor"):
        r = results[side]
        print(f"{side:8} {r['texts_per_s']:12,.0f} {r['build_s']:8.1f} {r['peak_rss_bytes'] / mib:8.0f}MB "
              f"{(r['peak_rss_bytes'] - r['inputs_rss_bytes']) / mib:11.0f}MB {r['matched_pairs']:12,}")
    ratio = ours["texts_per_s"] / anchor["texts_per_s"]
    print(f"speed-up ours / anchor: {ratio:.2f}x (target >= 1.5x); "
          f"our peak RSS {ours['peak_rss_bytes'] / mib:.0f} MB (target <= 1024 MB)")
    if ours["digest"] != anchor["digest"]:
        print("ERROR: the two matchers disagree on the matched queries", file=sys.stderr)
        return 1
    print("outputs identical")
    return 0


if __name__ == "__main__":
    sys.exit(main())
