"""Boilerplate: sentences a site repeats on its pages (cookie banners, navigation, legal text, sidebars).

Pure rule on a sentence-store row (schemas.SENTENCES: `count`, and `urls`, the up to max_urls smallest
distinct URLs). A banner shows on every page of its site, so it is the top pair of every language pair
(its translations sit on the same site's other language versions, word for word). Real text repeats
differently: a syndicated article sentence once on each site that carries it. So the sign is many pages
of one site, not many occurrences.

- SITE_PAGES = 4: a sentence on 4 pages of one site is template. 2 or 3 happen to real sentences
  (an article and its print view; a teaser on the home and section pages before the article itself).
  The smallest URLs sort by site, so when one site repeats a sentence its pages fill the kept URLs;
  with `--max-urls` below SITE_PAGES the rule cannot see that, hence the check.
- MAX_COUNT = 100: text seen 100 times is boilerplate even when every kept URL is another site (a
  template's "All rights reserved." sentence, a widget's text); news wire copies of one sentence stay well
  below that on a crawl's shard sample. This one is a judgement, not a measurement.
"""
from __future__ import annotations

from collections import Counter
from typing import Sequence
from urllib.parse import urlsplit

import apache_beam as beam

from parabeam.transforms import stages
from parabeam.transforms.accounting import REJECT_SAMPLE, Filter, Staged

SITE_PAGES = 4
MAX_COUNT = 100


def site_of(url: str) -> str:
    """The host of a URL, lower case, without a leading www."""
    return (urlsplit(url).hostname or "").removeprefix("www.")


def boilerplate_reason(count: int, urls: Sequence[str], *, site_pages: int = SITE_PAGES,
                       max_count: int = MAX_COUNT) -> str | None:
    """`boilerplate` when one site shows the sentence on `site_pages` of its kept URLs or it was seen
    `max_count` times; None otherwise (sentence-file rows have no URLs: only the count can tell)."""
    pages = Counter(site_of(url) for url in set(urls) if url)
    if count >= max_count or max(pages.values(), default=0) >= site_pages:
        return "boilerplate"
    return None


def check_max_urls(max_urls: int, site_pages: int = SITE_PAGES) -> None:
    """The store must keep at least `site_pages` URLs per sentence for the site rule to see anything."""
    if max_urls < site_pages:
        raise ValueError(f"--max-urls {max_urls} keeps too few URLs to see {site_pages} pages of one site")


class DropBoilerplate(beam.PTransform):
    """Store rows -> Staged(rows that are not boilerplate, `boilerplate` rejects, counts per language).
    `site_pages` 0 keeps everything (and still counts it)."""

    def __init__(self, site_pages: int = SITE_PAGES, reject_sample: int | None = REJECT_SAMPLE):
        super().__init__()
        self.site_pages, self.reject_sample = site_pages, reject_sample

    def expand(self, rows) -> Staged:
        site_pages = self.site_pages

        def decide(row: dict) -> str | None:
            return boilerplate_reason(row["count"], row["urls"], site_pages=site_pages) if site_pages else None

        return rows | "Boilerplate" >> Filter(
            stages.BOILERPLATE.name, decide, lang_of=lambda row: row["lang"],
            describe=lambda row: {"url": (row["urls"] or [""])[0], "excerpt": row["text"]},
            reject_sample=self.reject_sample)
