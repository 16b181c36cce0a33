"""Wikipedia dumps in other encodings (issue 10, item 23): the declared encoding (UTF-16 with
a byte order mark, Latin-1, UTF-32) is honoured, bytes invalid in it are replaced and counted,
multistream ranges decode in the dump's encoding, and a declaration or dump that cannot be
read is one line naming the file. Every fixture is generated here."""
from __future__ import annotations

import collections
import json
import os
import subprocess
import sys

import pytest

from queries import dumps as wikidump, multistream
from queries.multistream import plan_dump_ranges
from wit_pipeline.run.worlds import wiki as synthetic


def wit(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wit_pipeline.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, PYTHONUNBUFFERED="1"))


# ------------------------------------------------------------ 23: dumps in other encodings

PAGES = [synthetic.Page("Café", "the café serves crème brûlée"), synthetic.Page("Talk:X", "talk", ns=1),
         synthetic.Page("Über", "über alles naïve")]
ARTICLES = [("Café", "the café serves crème brûlée"), ("Über", "über alles naïve")]


def _articles(path: str, stats=None):
    with open(path, "rb") as f:
        return [(a.title, a.text) for a in wikidump.iter_articles(f, path, stats)]


@pytest.mark.parametrize("suffix", [".xml", ".xml.bz2", ".xml.gz"])
@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "iso-8859-1", "utf-32"])
def test_dumps_are_read_in_their_declared_encoding(tmp_path, suffix, encoding):
    path = synthetic.write_dump(str(tmp_path / f"dump{suffix}"), PAGES, encoding=encoding)
    stats = collections.Counter()
    assert _articles(path, stats) == ARTICLES
    assert stats["undecodable_bytes"] == 0


def test_utf8_byte_order_mark_and_undeclared_utf16_are_honoured(tmp_path):
    xml = "".join(synthetic.dump_xml(PAGES))
    (tmp_path / "bom8.xml").write_bytes(b"\xef\xbb\xbf" + xml.encode())
    assert _articles(str(tmp_path / "bom8.xml")) == ARTICLES
    declared = '<?xml version="1.0"?>\n' + xml  # no encoding named, no mark: the bytes tell
    (tmp_path / "le.xml").write_bytes(declared.encode("utf-16-le"))
    assert _articles(str(tmp_path / "le.xml")) == ARTICLES


def test_bytes_invalid_in_the_declared_encoding_are_replaced_and_counted(tmp_path):
    xml = "".join(synthetic.dump_xml([synthetic.Page("A", "caf\u00e9 MARK")], encoding="ascii"))
    path = tmp_path / "ascii.xml"
    path.write_bytes(xml.encode("ascii", errors="replace").replace(b"MARK", b"\xff\xfe"))
    stats = collections.Counter()
    assert _articles(str(path), stats) == [("A", "caf? \ufffd\ufffd")]
    assert stats["undecodable_bytes"] == 2


def test_multistream_ranges_decode_in_the_dump_encoding(tmp_path):
    pages = [synthetic.Page(f"Seite {i}", f"grüße nummer {i} " * 20) for i in range(60)]
    dump, index = synthetic.write_multistream(str(tmp_path), pages, pages_per_stream=10, encoding="utf-16")
    assert open(dump, "rb").read(3) == b"BZh"
    ranges = plan_dump_ranges([], [index], split_bytes=1)
    assert len(ranges) == 6 and not any(r.whole_file for r in ranges)
    titles, stats = [], collections.Counter()
    for dump_range in ranges:
        with open(dump, "rb") as head:
            encoding = wikidump.head_encoding(head, dump)
        assert encoding == "utf-16-le"
        with open(dump, "rb") as stream:
            stream.seek(dump_range.start)
            limit = None if dump_range.end is None else dump_range.end - dump_range.start
            reader = multistream.LimitedReader(stream, limit)
            titles += [a.title for a in wikidump.iter_articles(reader, dump_range.describe(), stats,
                                                               fragment=True, encoding=encoding)]
    assert titles == [p.title for p in pages]
    assert stats["undecodable_bytes"] == 0


@pytest.mark.parametrize("head,message", [
    (b'<?xml version="1.0" encoding="klingon-8"?>\n<mediawiki/>', "names encoding 'klingon-8', which Python cannot"),
    (b'<?xml version="1.0" encoding="base64"?>\n<mediawiki/>', "names encoding 'base64', which Python cannot"),
    (b'<?xml version="1.0" encoding="UTF-16"?>\n<mediawiki/>', "says 'UTF-16' but the file's bytes are 8-bit"),
])
def test_undecodable_declarations_are_errors_naming_the_file(tmp_path, head, message):
    path = tmp_path / "odd.xml"
    path.write_bytes(head)
    with pytest.raises(wikidump.DumpError, match=f"odd.xml: the XML declaration {message}"):
        _articles(str(path))


def test_queries_reads_utf16_and_latin1_dumps_end_to_end(tmp_path):
    words = " ".join(["zürich"] * 3 + ["naïve"] * 3)
    synthetic.write_dump(str(tmp_path / "d" / "a.xml.bz2"), [synthetic.Page("A", words)], encoding="utf-16")
    synthetic.write_dump(str(tmp_path / "d" / "b.xml.gz"), [synthetic.Page("B", words)], encoding="latin-1")
    result = wit("queries", "--wiki-dump", str(tmp_path / "d" / "*.xml*"), "--out", str(tmp_path / "q"),
                 "--min-word-count", "6", "--min-title-views", "1")
    assert result.returncode == 0, result.stderr
    assert set((tmp_path / "q" / "queries.txt").read_text("utf-8").split("\n")) >= {"zürich", "naïve"}
    stats = json.loads((tmp_path / "q" / "stats.json").read_text())
    assert stats["wiki_dump"].get("undecodable_bytes", 0) == 0 and stats["wiki_dump"]["articles"] == 2


def test_malformed_dump_is_one_line_naming_the_file(tmp_path):
    xml = "".join(synthetic.dump_xml(PAGES)).replace("</title>", "</titel>", 1)
    (tmp_path / "broken.xml").write_text(xml, "utf-8")
    result = wit("queries", "--wiki-dump", str(tmp_path / "broken.xml"), "--out", str(tmp_path / "q"))
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if not line.startswith("wit queries: ") or "error" in line]
    assert errors == [f"wit queries: error: {tmp_path / 'broken.xml'}: malformed XML after 0 pages: "
                      "mismatched tag: line 10, column 17"], result.stderr
    assert "Traceback" not in result.stderr
