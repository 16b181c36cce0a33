"""Which normalized candidates may become queries.

Counted n-grams (the `unigram` and `bigram` sources) must not be
- pure numbers, nor contain one ("1990", "1000", "3.14"; `--keep-numbers` keeps them):
  a number matches every alt-text that mentions it, whatever it shows, and most
  frequent ones in Wikipedia are years, page numbers and quantities; named things with
  numbers ("Apollo 11", "Boeing 747") come in through the titles;
- or contain a single-character token ("s" of a split "U.S.", "h" and "2" of a split
  formula, initials, list markers).
Titles, WordNet lemmas and API titles are names someone chose: they keep both.

Every source: a query of one or two tokens that are all stopwords is dropped ("the",
"of the", "such as", a title "It"). The default list, `STOPWORDS`, holds English
function words: articles, determiners, pronouns, prepositions, conjunctions,
auxiliary and modal verbs, a few particles and adverbs of degree. Why, although the
CLIP paper kept every word seen at least 100 times: the query list is what `wit
harvest` matches alt-texts against, and a function word is in nearly every English
text, so with them in the list matching selects everything; the texts it would add on
their own ("click here", "image of the") are the ones without a content word. A text
with a content word still matches through that word. `--stopwords none` gives the
paper's list; `--stopwords FILE` another one.
"""
from __future__ import annotations

import dataclasses
import itertools

from queries.normalize import is_number, tokenize

COUNTED_SOURCES = frozenset({"unigram", "bigram"})
REASONS = ("number", "single_character", "stopword")

STOPWORDS = frozenset("""
a an the this that these those some any each every either neither no all both few many much more most
other another such what which whose whatever whichever
i me my mine myself you your yours yourself yourselves he him his himself she her hers herself it its
itself we us our ours ourselves they them their theirs themselves who whom whoever
of in on at by for with from to into onto upon about above across after against along amid among around
as before behind below beneath beside besides between beyond despite down during except inside near off
out outside over past since through throughout till toward towards under underneath until unto up via
within without per
and or nor but yet so if then than because while although though whether unless whereas
be is am are was were been being have has had having do does did doing
will would shall should can could may might must ought
not only very too also just there here when where why how again ever even still already
e.g. i.e. etc
it's i'm you're we're they're he's she's that's there's what's who's let's
i've you've we've they've i'd you'd he'd she'd we'd they'd i'll you'll he'll she'll we'll they'll
isn't aren't wasn't weren't hasn't haven't hadn't doesn't don't didn't won't wouldn't shan't shouldn't
can't cannot couldn't mustn't
""".split())


class StopwordError(ValueError):
    pass


def parse_stopwords(text: str, path: str) -> frozenset[str]:
    """A stopword file: words separated by white space or lines, `#` to the end of a line
    is a comment; each word is normalized like a query (so "Don't" is "don't")."""
    words = itertools.chain.from_iterable(tokenize(line.split("#", 1)[0]) for line in text.splitlines())
    found = frozenset(words)
    if not found:
        raise StopwordError(f"--stopwords {path}: the file holds no word (give `none` for no stopwords)")
    return found


@dataclasses.dataclass(frozen=True)
class QueryRules:
    stopwords: frozenset[str] = STOPWORDS
    keep_numbers: bool = False

    def exclusion(self, query: str, source: str) -> str | None:
        """Why a normalized candidate is not a query (one of REASONS), or None if it is one."""
        tokens = query.split(" ")
        if source in COUNTED_SOURCES:
            if not self.keep_numbers and any(map(is_number, tokens)):
                return "number"
            if any(len(token) == 1 for token in tokens):
                return "single_character"
        if len(tokens) <= 2 and all(token in self.stopwords for token in tokens):
            return "stopword"
        return None
