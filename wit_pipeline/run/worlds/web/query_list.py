"""The query list the pages' captions are matched against: a `wit queries`-shaped list
holding every word and phrase of the vocabulary, filled to size with made-up words."""
from __future__ import annotations

import wit_pipeline.run.worlds.web.vocab as vocab

_SYLLABLES = tuple(c + v for c in "bdfghklmnprstvz" for v in ("a", "e", "i", "o", "u", "ai", "ou")) + tuple(
    c + v + e for c in "bdklmnrstv" for v in "aeiou" for e in "lnrs")


def _pseudo_words(count: int, rng, taken: set[str]) -> list[str]:
    """`count` distinct made-up words of 2-3 syllables, not in `taken` (`rng`: a numpy Generator)."""
    import numpy as np

    syllables = np.array(_SYLLABLES)
    words: list[str] = []
    while len(words) < count:
        n = (count - len(words)) * 2 + 16
        picks = syllables[rng.integers(0, len(syllables), size=(n, 3))]
        third = np.where(rng.random(n) < 0.4, picks[:, 2], "")
        for word in np.char.add(np.char.add(picks[:, 0], picks[:, 1]), third).tolist():
            if word not in taken:
                taken.add(word)
                words.append(word)
                if len(words) == count:
                    break
    return words


def _vocabulary_phrases() -> list[str]:
    """Every English phrase the captions are built from."""
    groups = (vocab.ANIMALS, vocab.ANIMAL_ADJECTIVES, vocab.ANIMAL_ACTIONS, vocab.PLACES, vocab.PLACE_ADJECTIVES,
              vocab.PLACE_NAMES, vocab.LANDMARKS, vocab.VIEWPOINTS, vocab.TIMES, vocab.OBJECTS, vocab.SURFACES,
              vocab.FOODS, vocab.PEOPLE, vocab.PEOPLE_ACTIONS, vocab.ART_FORMS, vocab.ART_SUBJECTS, vocab.ARTISTS,
              vocab.MUSEUMS, vocab.SCIENCE, vocab.PRODUCTS, vocab.PRODUCT_ADJECTIVES, vocab.COLOURS,
              vocab.PRODUCT_VIEWS, vocab.SHORT_CAPTIONS, vocab.WEB_WORDS, vocab.SITE_BANNERS, vocab.BUTTONS,
              vocab.ICONS, vocab.CHROME_SOCIAL, vocab.CHROME_BADGES)
    return [phrase for group in groups for phrase in group]


def query_table(count: int = 500_000, seed: int = 0):
    """A `count`-query list as `wit queries` writes it (a pyarrow Table in its schema and order).

    Like a Wikipedia + WordNet derived list (the CLIP recipe): 40% unigrams with
    Zipf-like counts (function words first: the list keeps every frequent word), 30%
    bigrams with a count and a PMI score, 20% titles with page views, 10% WordNet
    multi-word lemmas. Every word and phrase the generated captions use is in it
    (so real captions match); made-up words fill the rest to `count`.
    """
    from queries.schema import normalize, tokenize

    import numpy as np

    rng = np.random.default_rng([seed, 0x5EED])
    phrases = _vocabulary_phrases()
    words = list(dict.fromkeys(token for phrase in phrases + list(vocab.PROSE_TEMPLATES)
                               for token in tokenize(phrase) if "{" not in token and not token.isdigit()))
    bigrams = list(dict.fromkeys(" ".join(pair) for phrase in phrases
                                 for pair in zip(tokenize(phrase), tokenize(phrase)[1:])))
    bigrams += [f"{adjective.lower()} {noun.split()[-1]}" for adjective in vocab.ANIMAL_ADJECTIVES + vocab.COLOURS
                for noun in vocab.ANIMALS + vocab.PRODUCTS]
    titles = [normalize(name) for name in vocab.LANDMARKS + vocab.PLACE_NAMES + vocab.ARTISTS + vocab.MUSEUMS]
    wordnet = [normalize(phrase) for phrase in vocab.ANIMALS + vocab.OBJECTS + vocab.PLACES + vocab.PRODUCTS
               if " " in phrase]
    taken = set(words)
    n_unigrams, n_bigrams, n_titles = int(count * 0.4), int(count * 0.3), int(count * 0.2)
    n_wordnet = count - n_unigrams - n_bigrams - n_titles
    function = list(vocab.FUNCTION_WORDS)
    unigrams = function + [w for w in words if w not in taken.intersection(function)]
    unigrams += _pseudo_words(n_unigrams - len(unigrams), rng, taken)
    fillers = np.array(unigrams[len(function):])
    seen_bigrams = set(bigrams)
    while len(bigrams) < n_bigrams:
        pairs = fillers[rng.integers(0, len(fillers), size=(n_bigrams - len(bigrams) + 16, 2))]
        for bigram in np.char.add(np.char.add(pairs[:, 0], " "), pairs[:, 1]).tolist():
            if bigram not in seen_bigrams and len(bigrams) < n_bigrams:
                seen_bigrams.add(bigram)
                bigrams.append(bigram)
    pseudo_titles = _pseudo_words(n_titles - len(titles), rng, taken)
    titles += [f"{a} {b}" if i % 3 else a for i, (a, b) in enumerate(zip(pseudo_titles, reversed(pseudo_titles)))]
    pseudo_lemmas = _pseudo_words(n_wordnet - len(wordnet), rng, taken)
    wordnet += [f"{a} {b}" for a, b in zip(pseudo_lemmas, fillers.tolist())]

    rows: dict[str, tuple[str, int | None, float | None]] = {}  # first source to propose a query keeps it
    for rank, word in enumerate(unigrams[:n_unigrams], start=1):
        rows.setdefault(word, ("unigram", max(100, int(6e7 / rank ** 1.1)), None))
    for rank, bigram in enumerate(bigrams[:n_bigrams], start=1):
        rows.setdefault(bigram, ("bigram", max(5, int(2e5 / rank ** 0.8)), round(30.0 + 5e4 / rank ** 0.7, 3)))
    for rank, title in enumerate(titles[:n_titles], start=1):
        rows.setdefault(title, ("title", None, float(max(70, int(3e6 / rank ** 0.9)))))
    for lemma in wordnet:
        if len(rows) >= count:
            break
        rows.setdefault(lemma, ("wordnet", None, None))
    if len(rows) < count:  # collisions above left a few slots: more made-up lemmas
        for lemma in _pseudo_words(count - len(rows), rng, taken):
            rows[lemma] = ("wordnet", None, None)
    return _ranked_table(rows)


def _ranked_table(rows: dict[str, tuple[str, int | None, float | None]]):
    """The rows in `wit queries`' order (queries.union.rank_key: source precedence, then
    strength -- score, else count -- descending, then the query), in its parquet schema."""
    import pyarrow as pa

    from queries.schema import PRECEDENCE, SCHEMA

    sources, counts, scores = zip(*rows.values())
    table = pa.table({"query": list(rows), "source": list(sources), "count": pa.array(counts, pa.int64()),
                      "score": pa.array(scores, pa.float64()),
                      "precedence": [PRECEDENCE[source] for source in sources],
                      "strength": [score if score is not None else float(count or 0)
                                   for count, score in zip(counts, scores)]})
    table = table.sort_by([("precedence", "ascending"), ("strength", "descending"), ("query", "ascending")])
    return table.select(SCHEMA.names).cast(SCHEMA)


def write_queries(path: str, count: int = 500_000, seed: int = 0) -> int:
    """`path` as `wit queries` writes queries.parquet; returns the number of queries."""
    from wit_pipeline.core import files
    table = query_table(count, seed)
    files.write_parquet(path, table)
    return table.num_rows
