"""Wikitext to plain prose, good enough for counting words.

Kept: running text, headings, list items, the anchor text of internal and external
links. Dropped: templates (`{{...}}`, nested: citation templates with them), tables
(`{| ... |}`), references, comments, file/image/media/category and interlanguage links
(their captions too), HTML tags, math/code blocks, magic words, bold/italic quote runs,
ISBN/PMID/RFC magic links, and the appendix sections (References, Notes, Bibliography,
See also, External links, Further reading, ...: `APPENDIX_HEADINGS`) from their
heading to the next heading of the same or a higher level. A full MediaWiki parser
would expand templates; we drop them instead because their output is mostly
infobox/navbox/citation data, not prose, and expanding them needs the template
namespace. The few that only format a word are expanded: `{{sub|2}}`, `{{sup|2}}`,
`{{chem|H|2|O}}`, `{{chem2|CO2}}`.

Subscripts and superscripts belong to their word: `CO<sub>2</sub>` is "CO2", not "CO 2"
(so a formula is one token, not fragments like "co" and "2").
"""
from __future__ import annotations

import html
import re

_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
_DROPPED_BLOCKS = re.compile(
    r"<(ref|math|chem|gallery|timeline|syntaxhighlight|source|pre|score|graph|mapframe|imagemap|templatedata)\b"
    r"[^>]*?(?:/>|>.*?</\1\s*>)", re.S | re.I)
_SUB_SUP_TAG = re.compile(r"</?su[bp]\b[^<>]*>", re.I)
_SUB_SUP_TEMPLATE = re.compile(r"\{\{\s*su[bp]\s*\|([^{}|]*)\}\}", re.I)
_CHEM_TEMPLATE = re.compile(r"\{\{\s*chem\s*\|([^{}]*)\}\}", re.I)
_CHEM2_TEMPLATE = re.compile(r"\{\{\s*chem2\s*\|([^{}|]*)\}\}", re.I)
_INNERMOST_TEMPLATE = re.compile(r"\{\{(?:[^{}]|\{(?!\{)|\}(?!\}))*?\}\}", re.S)
_INNERMOST_TABLE = re.compile(r"\{\|(?:(?!\{\|).)*?\n\s*\|\}", re.S)
_NAMESPACED_LINK_START = re.compile(
    r"\[\[\s*:?\s*(?:file|image|media|category|[a-z]{2,3}(?:-[a-z]{2,8})?)\s*:", re.I)
_BRACKET = re.compile(r"[\[\]]")
_INTERNAL_LINK = re.compile(r"\[\[([^\[\]|]*)(?:\|([^\[\]]*))?\]\]")
_EXTERNAL_LINK = re.compile(r"\[(?:https?:|ftp:)?//[^\s\]]+\s*([^\]]*)\]", re.I)
_BARE_URL = re.compile(r"(?:https?|ftp)://\S+", re.I)
_MAGIC_LINK = re.compile(r"\b(?:ISBN|PMID|RFC)[ \u00a0]+[\dX](?:[\- \u00a0]?[\dX])*")
_TAG = re.compile(r"</?[a-zA-Z][^<>]*?/?>")
_QUOTES = re.compile(r"'{2,}")
_HEADING = re.compile(r"^(=+)[ \t]*(.*?)[ \t]*\1[ \t]*$", re.M)
_MAGIC_WORD = re.compile(r"__[A-Z]+__")
_TABLE_LINE = re.compile(r"^\s*(?:\{\||\|\}|\|-|!).*$", re.M)

# Appendix sections of an article: lists of sources and links, not prose about the
# topic. A heading made of these, joined by "and", "&", "/" or ",", opens one.
APPENDIX_HEADINGS = frozenset({
    "references", "notes", "footnotes", "endnotes", "citations", "sources", "bibliography", "see also",
    "external links", "further reading", "works cited", "literature cited", "general references",
    "explanatory notes", "specific references", "notes and references", "other websites", "web links",
})
_HEADING_JOINERS = re.compile(r"\s*(?:,|&|/|\band\b)\s*")
_HEADING_MARKUP = re.compile(r"\{\{.*?\}\}|<[^<>]*>|'{2,}")

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


def is_appendix_heading(title: str) -> bool:
    parts = [part for part in _HEADING_JOINERS.split(" ".join(title.casefold().split())) if part]
    return bool(parts) and all(part in APPENDIX_HEADINGS for part in parts)


def drop_appendix_sections(text: str) -> str:
    """`text` without its appendix sections (a section runs to the next heading of its level or higher)."""
    kept, position, skip_level = [], 0, None
    for heading in _HEADING.finditer(text):
        level = len(heading.group(1))
        if skip_level is not None and level > skip_level:
            continue  # a subsection of a dropped section
        if skip_level is None:
            kept.append(text[position:heading.start()])
        skip_level = level if is_appendix_heading(_HEADING_MARKUP.sub("", heading.group(2))) else None
        position = heading.start()
        if skip_level is not None:
            position = heading.end()
    if skip_level is None:
        kept.append(text[position:])
    return "".join(kept)


def _link_end(text: str, start: int) -> int:
    """End of the `[[...]]` link opening at `start`: nested links and single brackets in
    its caption ("[above]", "Bicyclo[1.1.0]butane") are balanced; a link never closed
    that way ends at its first "]]" (or with its line)."""
    open_brackets = ["[["]
    skip = start + 2
    for bracket in _BRACKET.finditer(text, start + 2):
        i = bracket.start()
        if i < skip:
            continue
        double = text.startswith("[[", i) if text[i] == "[" else text.startswith("]]", i)
        if text[i] == "[":
            open_brackets.append("[[" if double else "[")
            skip = i + (2 if double else 1)
        elif open_brackets[-1] == "[":
            open_brackets.pop()
            skip = i + 1
        elif double:
            open_brackets.pop()
            skip = i + 2
            if not open_brackets:
                return skip
    first_close = text.find("]]", start + 2)
    if first_close >= 0:
        return first_close + 2
    line_end = text.find("\n", start)
    return len(text) if line_end < 0 else line_end


def drop_namespaced_links(text: str) -> str:
    """`text` without file/image/media/category/interlanguage links, captions included."""
    kept, position = [], 0
    while True:
        link = _NAMESPACED_LINK_START.search(text, position)
        if link is None:
            kept.append(text[position:])
            return " ".join(kept)
        kept.append(text[position:link.start()])
        position = _link_end(text, link.start())


def _chem(match: re.Match) -> str:
    return match.group(1).replace("|", "")


def to_plain_text(wikitext: str) -> str:
    text = _COMMENT.sub(" ", wikitext)
    text = _DROPPED_BLOCKS.sub(" ", text)
    text = drop_appendix_sections(text)
    text = _SUB_SUP_TAG.sub("", text)
    text = _SUB_SUP_TEMPLATE.sub(r"\1", text)
    text = _CHEM_TEMPLATE.sub(_chem, text)
    text = _CHEM2_TEMPLATE.sub(r"\1", text)
    text = _strip_nested(_INNERMOST_TEMPLATE, text)
    text = _strip_nested(_INNERMOST_TABLE, text)
    # Unbalanced leftovers (a template or table never closed) must not leak markup lines.
    text = _TABLE_LINE.sub(" ", text)
    text = drop_namespaced_links(text)
    text = _INTERNAL_LINK.sub(_link_text, text)
    text = _EXTERNAL_LINK.sub(r"\1", text)
    text = _BARE_URL.sub(" ", text)
    text = _MAGIC_LINK.sub(" ", text)
    text = _TAG.sub(" ", text)
    text = _QUOTES.sub("", text)
    text = _HEADING.sub(r"\2.", text)
    text = _MAGIC_WORD.sub(" ", text)
    return html.unescape(text)
