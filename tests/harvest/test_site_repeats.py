"""The site-level rule without Beam: counts per batch, their combination, the cut."""
from __future__ import annotations

import pyarrow as pa
import pytest

from wit_pipeline.harvest import candidates, repeats
from wit_pipeline.harvest.repeats import SiteCounts, SiteRepeatConfig
from wit_pipeline.harvest.schema import pair_uid

BANNER = "Free shipping on all orders over fifty dollars"


def _rows(pages: int):
    """A shop whose banner (one image) is on every page, and a caption reused for a different
    picture on every page: (page_url, url, text) per candidate."""
    rows = []
    for n in range(pages):
        page = f"https://www.shop.test/p/{n}"
        rows += [(page, "https://cdn.shop.test/banner.jpg", BANNER),
                 (page, f"https://cdn.shop.test/tile-{n}.jpg", "Blue square tile"),
                 (page, f"https://cdn.shop.test/only-{n}.jpg", f"A lamp, view {n}")]
    return rows


def _counted(rows, batches: int, buckets: int = 4) -> dict:
    """Count in `batches` DoFn bundles (pages whole per batch), then combine per bucket as Beam would."""
    combined: dict = {}
    per_batch = -(-len(rows) // batches)
    for start in range(0, len(rows), per_batch):
        counts = SiteCounts(buckets)
        chunk = rows[start:start + per_batch]
        counts.add_pages([page for page, _, _ in chunk] + [None])        # a URL-list row has no site
        counts.add_candidates([page for page, _, _ in chunk], [pair_uid(url, text) for _, url, text in chunk],
                              [text for _, _, text in chunk])
        for bucket, found in counts.drain():
            assert all(repeats.bucket_of(site, uid, buckets) == bucket for site, uid in found)
            combined[bucket] = repeats.merge_counts(combined.get(bucket, {}), found)
        assert counts.drain() == []
    return combined


@pytest.mark.parametrize("batches", [1, 3])
def test_the_same_picture_on_most_pages_is_cut_not_a_caption_reused_for_other_pictures(batches):
    rows = _rows(6)
    combined = _counted(rows, batches)
    counted = {key: value for found in combined.values() for key, value in found.items()}
    assert len(counted) == sum(map(len, combined.values())) == 1 + 1 + 6 + 6   # every key in one bucket
    banner = pair_uid("https://cdn.shop.test/banner.jpg", BANNER)
    assert counted[("shop.test", None)] == (6, "") and counted[("shop.test", banner)] == (6, BANNER)
    assert counted[("shop.test", pair_uid("https://cdn.shop.test/tile-0.jpg", "Blue square tile"))] == (
        1, "Blue square tile")
    config = SiteRepeatConfig()
    grouped = [item for bucket in combined.items() for item in repeats.may_repeat(bucket, config)]
    assert sorted(uid or "" for _, (uid, _) in grouped) == ["", banner]   # only the site count and the banner
    site = ("shop.test", [value for _, value in grouped])
    partition_of = lambda uids: candidates.partition_of(uids, 4)  # noqa: E731
    assert list(repeats.cut_keys(site, config, partition_of)) == [(candidates.partition_of([banner], 4)[0], banner)]
    assert list(repeats.examples(site, config)) == [
        ("filtered.site_repeated_text", f"{BANNER} | shop.test: on 6 of 6 pages")]
    # Under the thresholds: on 2 pages (min 3), or on 3 of 10 pages (share 0.5).
    assert list(repeats.cut_keys(("shop.test", [(None, (2, "")), (banner, (2, BANNER))]), config, partition_of)) == []
    assert list(repeats.cut_keys(("shop.test", [(None, (10, "")), (banner, (3, BANNER))]), config, partition_of)) == []
    assert list(repeats.cut_keys(("shop.test", [(None, (10, "")), (banner, (3, BANNER))]),
                                 SiteRepeatConfig(3, 0.3), partition_of)) == [(partition_of([banner])[0], banner)]


def test_cut_and_dedup_in_a_partition():
    rows = _rows(3)
    table = pa.table({"uid": [pair_uid(url, text) for _, url, text in rows], "url": [url for _, url, _ in rows],
                      "text": [text for _, _, text in rows], "page_url": [page for page, _, _ in rows],
                      "source": ["warc"] * len(rows), "matched": pa.array([["q"]] * len(rows), pa.list_(pa.string()))})
    banner = pair_uid("https://cdn.shop.test/banner.jpg", BANNER)
    kept, cut, duplicates = candidates.unique_rows([table.slice(0, 4), table.slice(4)], {banner})
    assert (cut, duplicates, kept.num_rows) == (3, 0, 6) and banner not in kept.column("uid").to_pylist()
    kept, cut, duplicates = candidates.unique_rows([table], set())
    assert (cut, duplicates, kept.num_rows) == (0, 2, 7)     # the banner's copies: one kept


def test_sites_and_config():
    assert repeats.site_of("https://WWW.Shop.test:8080/p") == "shop.test"
    assert repeats.site_of("http://[::1]/x") == "::1" and repeats.site_of(None) is None
    assert repeats.site_of("http://[zz/") is None
    assert not SiteRepeatConfig(0).validate().enabled
    with pytest.raises(ValueError, match="--site-repeat-share must be in"):
        SiteRepeatConfig(3, 0.0).validate()
    with pytest.raises(ValueError, match="--site-repeat-min-pages must be >= 0, got -1"):
        SiteRepeatConfig(-1).validate()
