"""Crawling: links from HTML pages (`links`), the rules for following them (`scope`), a
frontier handed out one depth level at a time (`frontier`), and the crawler that joins them
(`pages`). ``fetchall crawl`` and `fetchall.crawl` run it; everything else is the fetch run."""
