"""Wikitext to plain prose, good enough for counting words.

Kept: running text, headings, list items, the anchor text of internal and external
links. Dropped: templates (`{{...}}`, nested), tables (`{| ... |}`), references,
comments, file/image/media/category and interlanguage links, HTML tags, math/code
blocks, magic words, bold/italic quote runs. A full MediaWiki parser would expand
templates; we drop them instead because their output is mostly infobox/navbox data,
not prose, and expanding them needs the template namespace.
"""
from __future__ import annotations

import html
import re

_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
_DROPPED_BLOCKS = re.compile(
    r"<(ref|math|chem|gallery|timeline|syntaxhighlight|source|pre|score|graph|mapframe|imagemap|templatedata)\b"
    r"[^>]*?(?:/>|>.*?</\1\s*>)", re.S | re.I)
_INNERMOST_TEMPLATE = re.compile(r"\{\{(?:[^{}]|\{(?!\{)|\}(?!\}))*?\}\}", re.S)
_INNERMOST_TABLE = re.compile(r"\{\|(?:(?!\{\|).)*?\n\s*\|\}", re.S)
_NAMESPACED_LINK_PREFIX = r"(?:file|image|media|category|[a-z]{2,3}(?:-[a-z]{2,8})?)"
# A namespaced link may hold nested [[links]] in its caption, one level deep.
_NAMESPACED_LINK = re.compile(
    r"\[\[\s*:?\s*" + _NAMESPACED_LINK_PREFIX + r"\s*:[^\[\]]*(?:\[\[[^\[\]]*\]\][^\[\]]*)*\]\]", re.I)
_INTERNAL_LINK = re.compile(r"\[\[([^\[\]|]*)(?:\|([^\[\]]*))?\]\]")
_EXTERNAL_LINK = re.compile(r"\[(?:https?:|ftp:)?//[^\s\]]+\s*([^\]]*)\]", re.I)
_BARE_URL = re.compile(r"(?:https?|ftp)://\S+", re.I)
_TAG = re.compile(r"</?[a-zA-Z][^<>]*?/?>")
_QUOTES = re.compile(r"'{2,}")
_HEADING = re.compile(r"^(=+)\s*(.*?)\s*\1\s*$", re.M)
_MAGIC_WORD = re.compile(r"__[A-Z]+__")
_TABLE_LINE = re.compile(r"^\s*(?:\{\||\|\}|\|-|!).*$", re.M)

_MAX_NESTING = 20


def _strip_nested(pattern: re.Pattern, text: str) -> str:
    for _ in range(_MAX_NESTING):
        text, n = pattern.subn(" ", text)
        if not n:
            break
    return text


def _link_text(match: re.Match) -> str:
    target, anchor = match.group(1), match.group(2)
    if anchor is not None:
        return anchor
    return target.split("#", 1)[0]


def to_plain_text(wikitext: str) -> str:
    text = _COMMENT.sub(" ", wikitext)
    text = _DROPPED_BLOCKS.sub(" ", text)
    text = _strip_nested(_INNERMOST_TEMPLATE, text)
    text = _strip_nested(_INNERMOST_TABLE, text)
    # Unbalanced leftovers (a template or table never closed) must not leak markup lines.
    text = _TABLE_LINE.sub(" ", text)
    text = _strip_nested(_NAMESPACED_LINK, text)
    text = _INTERNAL_LINK.sub(_link_text, text)
    text = _EXTERNAL_LINK.sub(r"\1", text)
    text = _BARE_URL.sub(" ", text)
    text = _TAG.sub(" ", text)
    text = _QUOTES.sub("", text)
    text = _HEADING.sub(r"\2.", text)
    text = _MAGIC_WORD.sub(" ", text)
    return html.unescape(text)
