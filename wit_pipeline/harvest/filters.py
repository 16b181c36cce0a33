"""Which image texts are worth keeping as captions, and why the others are not.

`TextFilter.reject_reason(text, width, height, region, page_language)` returns None
for a kept text or the name of the first rule it breaks; `TextFilter.choose(ref)` tries
an image's texts in `--text-source` order and keeps the first one that passes. The
harvest counts every rule name in `stats.json`. Rules run cheapest first, language last:

- text rules (`text_reason`): empty, too short/long, undecodable, file names, the
  boilerplate list (whole texts), then the page-chrome patterns (`UI_RULES`) that catch
  chrome inside real texts ("texts icon", "5.00 out of 5 stars", "(navigation image)",
  "Share on Facebook") -- on texts of a few words only, where a caption cannot hide;
- image rules (`image_reason`): a declared size below `min_declared_size` (icons,
  spacers), an image inside the page's header/nav/aside/footer (`html.py` finds it);
- language (`language.LanguageCheck`): fastText where it is reliable, a script and
  dictionary fallback for short texts.

The site-level rule (the same text on most pages of a site) needs every page of the
site: repeats.py counts it and the pipeline applies it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Container, NamedTuple, Sequence

from queries.schema import normalize
from wit_pipeline.harvest.language import Decision, LanguageCheck

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
    "enlarge", "zoom", "subscribe", "account", "my account", "login", "log in", "sign in", "sign up",
    "register", "wishlist", "whatsapp", "gravatar", "expand", "see adjacent text", "see caption", "see text",
})

# `IMG_1234.jpg`, `DSC00042`, `photo-2.png`, `Fig. 2`, `a1b2c3d4e5f6.webp`, `item_identifier_0042`:
# names a camera, a CMS or an editor gave.
_FILENAME_RE = re.compile(
    r"""^(?:
        [\w\-.()+@%,~ ]*\.(?:jpe?g|png|gif|webp|bmp|svg|tiff?|ico|avif|heic|jfif)   # any file name
      | (?:img|image|dsc|dscn|dscf|dcim|pict?|pxl|photo|screenshot|scan|p|fig|figure|plate)
        [\s_\-.]*\d[\d_\-]*[a-z]?                                              # camera names, figure numbers
      | [0-9a-f]{16,}                                                          # hashes
      | [\d_\-\s]+                                                             # bare numbers
      | (?=\S*_)[\w.\-]+                                                       # one token with an underscore
    )$""", re.I | re.X)

# Page chrome inside real texts. Each pattern runs on the lower-cased text when it has at
# most `words` words: UI labels are short, and a caption that mentions a logo or a rating
# in a sentence is longer than any of them. A label that starts with an article ("The
# scikit-image logo") describes a picture, so the noun rules (icon, logo, button,
# avatar) leave it alone.
_ARTICLE_RE = re.compile(r"^(?:the|a|an)\s")
_NETWORK = (r"(?:facebook|twitter|instagram|pinterest|linkedin|youtube|whatsapp|tiktok|reddit|tumblr|flickr|"
            r"vimeo|telegram|mastodon|rss|e-?mail)")


@dataclass(frozen=True)
class UiRule:
    name: str
    pattern: re.Pattern
    words: int                 # applies to texts of at most this many words
    article_exempt: bool = False


UI_RULES = (
    UiRule("ui_parenthesized", re.compile(r"^[(\[{].*[)\]}]$"), 4),
    UiRule("ui_rating", re.compile(
        r"\b\d+(?:[.,]\d+)?\s*out of\s*\d+\b|^\d+(?:[.,]\d+)?\s*/\s*\d+$|^\d+(?:[.,]\d+)?[\s-]*stars?$"
        r"|^rated\b|\brating:"
        r"|[\u2605\u2606\u2729-\u2730\u2b50]{2,}"), 8),
    UiRule("ui_icon", re.compile(r"\b(?:icons?|favicon|glyph)\b"), 4, article_exempt=True),
    UiRule("ui_logo", re.compile(r"\b(?:logos?|logotype|wordmark)\b"), 4, article_exempt=True),
    UiRule("ui_avatar", re.compile(r"\b(?:gr)?avatars?\b|\b(?:profile|user|author)\s(?:picture|photo|image|pic)\b"),
           5, article_exempt=True),
    UiRule("ui_click", re.compile(r"^(?:click|tap)\b|\b(?:click|tap) (?:here|to|for)\b"), 8),
    UiRule("ui_button", re.compile(
        r"\b(?:button|btn)\b|^(?:add to (?:cart|basket|bag|wish ?list|favou?rites)|buy (?:it )?now|shop now"
        r"|order now|book now|sign (?:up|in)|log (?:in|out)|read more|learn more|see (?:more|all)|show (?:more|all)"
        r"|view (?:more|all|larger|full|image|photo|gallery|details)|load more|zoom (?:in|out)"
        r"|play (?:video|audio|now)|download (?:now|the app)|continue reading|skip to|more info|pin it)(?:\s|$)"),
        5, article_exempt=True),
    UiRule("ui_arrow", re.compile(
        r"\b(?:arrows?|chevrons?|carets?)\b|^[\s\u00ab\u00bb\u2039\u203a<>\u2190-\u2193\u21d0-\u21d3"
        r"\u25b2-\u25c4]+$|^(?:next|previous|prev|back|forward|first|last)(?: (?:page|image|photo|slide|post))?$"),
        3),
    UiRule("ui_spacer", re.compile(r"\b(?:spacer|1x1|tracking pixel|transparent (?:gif|pixel)|blank gif)\b"), 4),
    UiRule("ui_social", re.compile(
        rf"^{_NETWORK}(?: {_NETWORK}| channel| feed| page)?$"
        rf"|\b(?:share|follow|subscribe|like|tweet|pin|join|find|connect|see|visit|watch)\b.*\b{_NETWORK}\b"
        rf"|\b{_NETWORK}\b.*\b(?:share|follow|subscribe|feed|channel)\b"), 6),
    UiRule("ui_badge", re.compile(
        r"^(?:powered by|secured by|protected by|verified by|certified by|sponsored by|as seen on"
        r"|download on the|get it on|available on the)\b"
        r"|\bcreative commons licen[cs]e\b"), 6),
)

CHROME_REGION = "chrome_region"
SITE_REPEATED = "site_repeated_text"
WRONG_LANGUAGE = "wrong_language"

def looks_like_file_name(text: str) -> bool:
    return bool(_FILENAME_RE.match(text.strip()))


def ui_rule(text: str, words: int | None = None) -> str | None:
    """The name of the first page-chrome pattern `text` matches, or None."""
    if words is None:
        words = len(text.split())
    if words > 8:
        return None
    lowered = text.lower()
    has_article = None
    for rule in UI_RULES:
        if words <= rule.words and rule.pattern.search(lowered):
            if rule.article_exempt:
                if has_article is None:
                    has_article = bool(_ARTICLE_RE.match(lowered))
                if has_article:
                    continue
            return rule.name
    return None


@dataclass
class TextFilterConfig:
    min_chars: int = 5
    max_chars: int = 1000
    min_words: int = 1
    drop_file_names: bool = True
    boilerplate: frozenset[str] = field(default_factory=lambda: DEFAULT_BOILERPLATE)
    ui_patterns: bool = True          # UI_RULES
    min_declared_size: int = 32       # 0 disables; declared width/height below it = icon/spacer
    drop_chrome_regions: bool = True  # images inside header/nav/aside/footer
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


class ImageTexts(NamedTuple):
    """What the rules look at for one image (a row of an image batch, or an `html.ImageRef`)."""

    texts: tuple[tuple[str | None, str], ...]   # (text_source, text), in --text-source order
    width: int | None = None
    height: int | None = None
    region: str | None = None
    page_language: str | None = None


class Choice(NamedTuple):
    """What `TextFilter.choose_batch` decided for one image: the kept text, its source and
    its queries; or, when none of its texts passed, the reason (see `choose_batch`)."""

    text_source: str | None
    text: str
    reason: str | None                       # None: kept
    matched: Sequence[str] = ()
    decisions: tuple[Decision, ...] = ()     # every language decision made on the image's texts

    @property
    def passed_text_rules(self) -> bool:
        return self.reason in (None, NO_QUERY_MATCH, WRONG_LANGUAGE)


NO_QUERY_MATCH = "no_query_match"
_NO_TEXT = Choice(None, "", "empty_text")
_UNSEEN = object()
_KEPT = 3   # how far a text got: 0 text/image rule broken, 1 no query match, 2 wrong language, 3 kept


class TextFilter:
    """The rules of one run. `vocabulary`: the query list's tokens (see `language.LanguageCheck`).

    Text rules and language decisions (per text and whether its page declares --lang) are
    remembered, up to `_REMEMBERED` texts each: alt-texts repeat across a site's pages.
    """

    _REMEMBERED = 1 << 16

    def __init__(self, config: TextFilterConfig | None = None, vocabulary: Container[bytes] | None = None) -> None:
        self.config = (config or TextFilterConfig()).validate()
        self.language = (LanguageCheck(self.config.lang, self.config.min_lang_score, vocabulary)
                         if self.config.lang else None)
        self._decisions: dict[tuple[str, bool], Decision] = {}
        self._reasons: dict[str, str | None] = {}

    def text_reason(self, text: str) -> str | None:
        """The first text rule `text` breaks (no language, no image rules), or None; remembered
        per text, as language decisions are (a site's chrome repeats on every page)."""
        reason = self._reasons.get(text, _UNSEEN)
        if reason is _UNSEEN:
            if len(self._reasons) >= self._REMEMBERED:
                self._reasons.clear()
            reason = self._reasons[text] = self._text_reason(text)
        return reason

    def _text_reason(self, text: str) -> str | None:
        config = self.config
        if not text:
            return "empty_text"
        words = len(text.split())
        if len(text) < config.min_chars or words < config.min_words:
            return "text_too_short"
        if len(text) > config.max_chars:
            return "text_too_long"
        if "\ufffd" in text:
            return "undecodable_text"
        if config.drop_file_names and looks_like_file_name(text):
            return "file_name_text"
        if config.boilerplate and normalize(text) in config.boilerplate:
            return "boilerplate_text"
        if config.ui_patterns:
            return ui_rule(text, words)
        return None

    def image_reason(self, width: int | None, height: int | None, region: str | None) -> str | None:
        """The first image rule broken: a tiny declared size, a place in the page chrome."""
        if width is None and height is None and region is None:  # every WAT image: no rule applies
            return None
        config = self.config
        if config.min_declared_size and any(
                size is not None and size < config.min_declared_size for size in (width, height)):
            return "tiny_declared_size"
        if config.drop_chrome_regions and region is not None:
            return CHROME_REGION
        return None

    def language_decision(self, text: str, page_language: str | None = None) -> Decision:
        key = (text, page_language == self.config.lang)
        decision = self._decisions.get(key)
        if decision is None:
            if len(self._decisions) >= self._REMEMBERED:
                self._decisions.clear()
            decision = self._decisions[key] = self.language.decide(text, page_language)
        return decision

    def reject_reason(self, text: str, width: int | None = None, height: int | None = None,
                      region: str | None = None, page_language: str | None = None) -> str | None:
        reason = self.text_reason(text) or self.image_reason(width, height, region)
        if reason is None and self.language is not None and not self.language_decision(text, page_language).accepted:
            return WRONG_LANGUAGE
        return reason

    def choose_batch(self, images: Sequence[ImageTexts], match_batch: Callable[[list[str]], list] | None = None
                     ) -> list[Choice]:
        """One `Choice` per image: its first text in `--text-source` order that passes every
        rule -- the text and image rules, then a query match (`match_batch`, one call for the
        batch; None: no matching), then the language check (only on matched texts, and only
        until one of the image's texts passes). When none passes, the text that got
        furthest (a failed language check, else no query match, else the first text) and
        why it failed: each image is counted once, under one reason."""
        text_reason, image_reason = self.text_reason, self.image_reason
        candidates: list[list[tuple[str | None, str, str | None]] | None] = []   # per image: (source, text, reason)
        to_match: list[str] = []
        for image in images:
            if not image.texts:
                candidates.append(None)
                continue
            broken = image_reason(image.width, image.height, image.region)
            listed = [(source, text, text_reason(text) or broken) for source, text in image.texts]
            to_match += [text for _, text, reason in listed if reason is None]
            candidates.append(listed)
        matches = iter(match_batch(to_match)) if match_batch is not None and to_match else None
        choices = []
        for image, listed in zip(images, candidates):
            if listed is None:
                choices.append(_NO_TEXT)
                continue
            best, best_stage, decisions = None, -1, ()
            for source, text, reason in listed:
                matched = next(matches) if reason is None and matches is not None else None  # consumed in order
                if best_stage == _KEPT:
                    continue                                        # an earlier text of the image is kept
                stage = 0
                if reason is None:
                    if match_batch is not None and not matched:
                        reason, stage = NO_QUERY_MATCH, 1
                    elif self.language is not None:
                        decision = self.language_decision(text, image.page_language)
                        decisions += (decision,)
                        reason, stage = (None, _KEPT) if decision.accepted else (WRONG_LANGUAGE, 2)
                    else:
                        stage = _KEPT
                if stage > best_stage:
                    best, best_stage = (source, text, reason, matched or ()), stage
            choices.append(Choice(*best, decisions))
        return choices

    def choose(self, ref, match_batch: Callable[[list[str]], list] | None = None) -> Choice:
        """`choose_batch` for one `html.ImageRef`."""
        return self.choose_batch([ImageTexts(ref.texts(), ref.width, ref.height, ref.region, ref.page_language)],
                                 match_batch)[0]


def read_boilerplate_file(path_text: str) -> frozenset[str]:
    """One phrase per line (blank lines and `#` comments ignored), normalized like texts are."""
    phrases = set()
    for line in path_text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            phrases.add(normalize(line))
    return frozenset(phrases)
