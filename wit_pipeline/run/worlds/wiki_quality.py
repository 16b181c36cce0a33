"""A generated Wikipedia whose query list is known: the proof of `wit queries`' text rules.

Articles read like real ones and carry what real dumps carry around their prose:
infoboxes, tables, references with citation templates, image links whose captions
hold brackets ("[above]", "Bicyclo[1.1.0]butane"), numbers with digit groups and
decimals, years, "U.S.", "e.g.", chemical formulas in `<sub>` and `{{chem}}`, and the
appendix sections (See also, Notes, References, Sources, Bibliography, Further reading,
External links) full of names, "pp.", "Vol.", "ISBN" and words of the prose itself.

The generator writes every article twice: as wikitext, and as the clauses of tokens
that `wit queries` should count in it, each token with its kind (content word,
function word, number, single character). `expected_queries` turns those clauses into
the list the thresholds and rules give, with none of the code under test (its own
counting, its own PMI). Whatever else the pipeline outputs is junk; whatever it lacks
is a real word missed.
"""
from __future__ import annotations

import collections
import dataclasses
import random

from wit_pipeline.run.worlds.wiki import Page

CONTENT, STOP, NUMBER, SINGLE = "content", "stop", "number", "single"

NOUNS = ("river mountain forest village bridge castle harbor valley glacier lake island desert meadow orchard "
         "volcano canyon cathedral lighthouse windmill vineyard granite copper silver marble timber wool").split()
PEOPLE = "painter sculptor farmer sailor merchant monk poet engineer botanist".split()
ADJECTIVES = "ancient northern coastal famous wooden narrow fertile remote medieval bright quiet".split()
VERBS = "rebuilt flooded painted harvested traded founded restored visited described mapped gathered carved".split()
# Named things: their words rarely occur apart, so they make the high-PMI bigrams.
NAMED = ("red panda", "snow leopard", "tidal bore", "stone circle", "hanging valley", "salt marsh")
FORMULAS = (("CO<sub>2</sub>", "co2"), ("H<sub>2</sub>O", "h2o"), ("{{chem|CH|4}}", "ch4"),
            ("SO{{sub|2}}", "so2"), ("{{chem2|NH3}}", "nh3"))
AMOUNTS = (("1,000", "1000"), ("12,000", "12000"), ("3.5", "3.5"), ("250", "250"))
SECTIONS = ("History", "Geography", "Economy", "Culture")
APPENDICES = (("See also",), ("Notes", "References"), ("Notes and references",), ("Footnotes", "Citations"),
              ("Bibliography",), ("Works cited",), ("Further reading",), ("External links",))
# The world's function words; every one is in queries.filters.STOPWORDS.
FUNCTION_WORDS = frozenset("the of and in was by with its to for were from near on is about".split())


@dataclasses.dataclass(frozen=True)
class Tok:
    surface: str  # as written in the wikitext
    token: str  # as it must be counted
    kind: str


@dataclasses.dataclass
class QualityCorpus:
    pages: list[Page]
    clauses: list[list[tuple[str, str]]]  # (token, kind) per clause of the counted text


def _w(word: str, capital: bool = False) -> Tok:
    return Tok(word.capitalize() if capital else word, word, STOP if word in FUNCTION_WORDS else CONTENT)


_A = Tok("a", "a", SINGLE)
_CITATION = "<ref>{{cite book |last=Smith |title=Rivers |isbn=978-0-19-852663-6 |pages=12-15}}</ref>"


class _Article:
    """The wikitext of one article and the clauses it should count, written together."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.parts: list[str] = []
        self.clauses: list[list[tuple[str, str]]] = []

    def raw(self, text: str) -> None:
        """Markup on lines of its own: it counts nothing."""
        self.parts.append(f"\n{text}\n")

    def sentence(self, *items: Tok | str, cited: bool = False) -> None:
        """Tokens, "," between clauses, a period at the end (a reference after it)."""
        words: list[str] = []
        clause: list[tuple[str, str]] = []
        for item in items:
            if item == ",":
                words[-1] += ","
                self.clauses.append(clause)
                clause = []
            else:
                words.append(item.surface)
                clause.append((item.token, item.kind))
        self.clauses.append(clause)
        self.parts.append(" ".join(words) + "." + (_CITATION if cited else "") + " ")

    def heading(self, level: int, title: str, counted: bool = True) -> None:
        self.parts.append(f"\n\n{'=' * level} {title} {'=' * level}\n")
        if counted:
            self.clauses.append([(_w(word.lower()).token, _w(word.lower()).kind) for word in title.split()])

    def text(self) -> str:
        return "".join(self.parts)


def _prose(article: _Article) -> None:
    rng = article.rng
    noun, other, person = rng.choice(NOUNS), rng.choice(NOUNS), rng.choice(PEOPLE)
    year = str(rng.randint(1800, 1999))
    first, second = rng.choice(NAMED).split()
    form = rng.randrange(7)
    if form == 0:
        article.sentence(_w("the", True), _w(rng.choice(ADJECTIVES)), Tok(f"[[{noun.capitalize()}|{noun}]]", noun,
                         CONTENT), _w("was"), _w(rng.choice(VERBS)), _w("by"), _A, _w(person), _w("in"),
                         Tok(year, year, NUMBER), cited=rng.random() < 0.5)
    elif form == 1:
        amount, token = rng.choice(AMOUNTS)
        article.sentence(_w("about", True), Tok(amount, token, NUMBER), _w("tonnes"), _w("of"), _w(noun),
                         _w("were"), _w(rng.choice(VERBS)), ",", _w("the"), _w(person), _w("said"))
    elif form == 2:
        formula, token = rng.choice(FORMULAS)
        article.sentence(_w("the", True), _w(noun), _w("released"), Tok(formula, token, CONTENT), _w("near"),
                         _w("the"), Tok(f"[[{other}]]", other, CONTENT))
    elif form == 3:
        article.sentence(_w("the", True), _w(person), _w("moved"), _w("to"), _w("the"), Tok("U.S.", "u.s.", CONTENT),
                         _w("in"), Tok(year, year, NUMBER), _w("and"), _w("kept"), _w("notes"), _w("on"),
                         _w(first), _w(second))
    elif form == 4:
        article.sentence(_w(first, True), _w(second), _w("live"), _w("near"), _w("the"), _w(noun), ",",
                         Tok("e.g.", "e.g.", STOP), _w("in"), _w("plan"), Tok("B", "b", SINGLE))
    elif form == 5:
        article.sentence(_w("its", True), _w("sources"), _w("were"), _w(rng.choice(VERBS)), _w("by"), _w("the"),
                         _w(rng.choice(ADJECTIVES)), _w(person), cited=True)
    else:
        article.sentence(_w("the", True), _w(first), _w(second), _w("is"), _w(rng.choice(ADJECTIVES)))


def _appendix(article: _Article, title: str, level: int = 2) -> None:
    rng = article.rng
    noun, person, first = rng.choice(NOUNS), rng.choice(PEOPLE), rng.choice(NAMED)
    article.heading(level, title, counted=False)
    article.parts.append(rng.choice((
        f"* [[{first.capitalize()}]]\n* [[{noun.capitalize()} {rng.choice(NOUNS)}]]\n",
        "{{reflist|30em}}\n",
        f"* {{{{cite book |last=Jones |title=The {noun.capitalize()} |publisher={person.capitalize()} Press "
        f"|year=1999 |isbn=978-0-14-044913-6}}}}\n",
        f"* Smith, John (2001). ''The {rng.choice(ADJECTIVES).capitalize()} {noun.capitalize()}''. London: "
        f"{person.capitalize()} Press. pp. 12–15. ISBN 978-0-14-044913-6.\n",
        f"* Brown, A.; Green, B., eds. (2004). ''Ports of the North''. Vol. 3. p. 7. Retrieved 5 May 2020.\n",
        f"* [http://example.org/{noun} Official website]\n* {{{{Commons category|{noun}}}}}\n{{{{Authority control}}}}\n",
    )))


def _article(rng: random.Random, number: int) -> tuple[Page, list]:
    article = _Article(rng)
    adjective, noun = rng.choice(ADJECTIVES), rng.choice(NOUNS)
    article.raw(f"{{{{Infobox place |name={adjective.capitalize()} {noun} |population=1,234 |area_km2=3.5}}}}")
    article.sentence(Tok(f"'''{adjective.capitalize()}", adjective, CONTENT), Tok(f"{noun}'''", noun, CONTENT),
                     _w("is"), _A, _w(rng.choice(ADJECTIVES)), _w(rng.choice(NOUNS)))
    article.raw(f"[[File:{noun.capitalize()} {number}.jpg|thumb|right|upright=1.2|Diagram of the {noun} [above], "
                "near a Bicyclo[1.1.0]butane plant]]")
    for _ in range(rng.randint(2, 4)):
        _prose(article)
    for title in rng.sample(SECTIONS, 2):
        article.heading(2, title)
        for _ in range(rng.randint(2, 5)):
            _prose(article)
        if rng.random() < 0.5:
            article.raw("{| class=\"wikitable\"\n! Year !! Tonnes\n|-\n| 1887 || 1,200\n|}")
    for titles in rng.sample(APPENDICES, 3):
        _appendix(article, titles[0])
        for title in titles[1:]:
            _appendix(article, title, level=3)
    article.raw(f"[[Category:{noun.capitalize()}s]]")
    return Page(f"{adjective.capitalize()} {noun} {number}", article.text()), article.clauses


def quality_corpus(articles: int = 300, seed: int = 0) -> QualityCorpus:
    rng = random.Random(seed)
    pages, clauses = [], []
    for number in range(articles):
        page, counted = _article(rng, number)
        pages.append(page)
        clauses += counted
    pages += [Page("Talk:Harbor", "thumb right isbn references", ns=1),
              Page("Harbour", "#REDIRECT [[Harbor]]", redirect_to="Harbor")]
    return QualityCorpus(pages, clauses)


def expected_queries(corpus: QualityCorpus, *, min_word_count: int, min_bigram_count: int, min_pmi: float,
                     max_bigrams: int, keep_numbers: bool = False, stopwords: bool = True) -> dict[str, int]:
    """{query: count} of the unigrams and bigrams the list must hold, from the clauses alone."""
    unigrams: collections.Counter = collections.Counter()
    pairs: collections.Counter = collections.Counter()
    kinds: dict[str, str] = {}
    for clause in corpus.clauses:
        for token, kind in clause:
            unigrams[token] += 1
            kinds[token] = kind
        pairs.update(f"{a} {b}" for (a, _), (b, _) in zip(clause, clause[1:]))
    total = sum(unigrams.values())

    def excluded(token_kinds: list[str]) -> bool:
        if SINGLE in token_kinds or (NUMBER in token_kinds and not keep_numbers):
            return True
        return stopwords and all(kind == STOP for kind in token_kinds)

    expected = {word: n for word, n in unigrams.items() if n >= min_word_count and not excluded([kinds[word]])}
    scored = []
    for pair, n in pairs.items():
        first, second = pair.split(" ")
        if min(n, unigrams[first], unigrams[second]) < min_bigram_count or excluded([kinds[first], kinds[second]]):
            continue
        score = n * total / (unigrams[first] * unigrams[second])
        if score >= min_pmi:
            scored.append((-score, -n, pair))
    for _, negative_count, pair in sorted(scored)[:max_bigrams or None]:
        expected[pair] = -negative_count
    return expected
