"""Check the internal links of the built book: every relative href/src and every #fragment.

    python tools/check_links.py [_build/html]

Relative URLs must name an existing file and fragments an ``id`` (or ``<a name>``) of the target
page. External links are not fetched (the book is checked offline); they are counted and listed
with ``--external``. Exit status 1 when a link is broken.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
# attributes that load or link to a URL, per tag
URL_ATTRS = {
    "a": "href",
    "link": "href",
    "area": "href",
    "img": "src",
    "script": "src",
    "iframe": "src",
    "source": "src",
    "video": "src",
    "audio": "src",
}
IGNORED_SCHEMES = {"mailto", "javascript", "data", "tel"}
# copied assets, not pages (the theme ships Jinja macro files as _static/*.html)
NOT_PAGES = {"_static", "_sources", "_images"}


class _PageParser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.urls: list[str] = []
        self.anchors: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name") if tag == "a" else ("id",):
            if attrs.get(key):
                self.anchors.add(attrs[key])
        url = attrs.get(URL_ATTRS.get(tag, ""))
        if url is not None:
            self.urls.append(url.strip())


def parse_page(path: Path) -> tuple[list[str], set[str]]:
    parser = _PageParser()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return parser.urls, parser.anchors


@dataclass
class LinkReport:
    pages: int = 0
    internal: int = 0
    broken: list[str] = field(default_factory=list)
    external: Counter = field(default_factory=Counter)


def check_site(html_root: Path) -> LinkReport:
    """Check every ``*.html`` under ``html_root``; broken links are described in ``report.broken``."""
    html_root = html_root.resolve()
    report = LinkReport()
    anchors: dict[Path, set[str]] = {}

    def anchors_of(path: Path) -> set[str]:
        if path not in anchors:
            anchors[path] = parse_page(path)[1]
        return anchors[path]

    for page in sorted(html_root.rglob("*.html")):
        if NOT_PAGES & set(page.relative_to(html_root).parts[:1]):
            continue
        report.pages += 1
        urls, own_anchors = parse_page(page)
        anchors[page] = own_anchors
        where = page.relative_to(html_root).as_posix()
        for url in urls:
            parts = urlsplit(url)
            if parts.scheme in IGNORED_SCHEMES:
                continue
            if parts.scheme or parts.netloc:
                report.external[url] += 1
                continue
            report.internal += 1
            path = unquote(parts.path)
            if not path:
                target = page
            elif path.startswith("/"):
                report.broken.append(f"{where}: {url!r} is root-absolute (breaks when the book is not served at /)")
                continue
            else:
                target = page.parent / PurePosixPath(path)
                if path.endswith("/"):
                    target = target / "index.html"
                target = target.resolve()
                if html_root not in target.parents:
                    report.broken.append(f"{where}: {url!r} points outside the built book")
                    continue
                if not target.is_file():
                    report.broken.append(f"{where}: {url!r} -> missing file {target.relative_to(html_root)}")
                    continue
            fragment = unquote(parts.fragment)
            if fragment and target.suffix == ".html" and fragment not in anchors_of(target):
                report.broken.append(
                    f"{where}: {url!r} -> no id {fragment!r} in {target.relative_to(html_root).as_posix()}"
                )
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("html_root", nargs="?", type=Path, default=ROOT / "_build" / "html")
    parser.add_argument("--external", action="store_true", help="list the external links (not fetched)")
    args = parser.parse_args(argv)
    if not (args.html_root / "index.html").is_file():
        raise SystemExit(f"no built book in {args.html_root} (run `make book`)")
    report = check_site(args.html_root)
    print(
        f"{report.pages} pages, {report.internal} internal links, {len(report.broken)} broken; "
        f"{sum(report.external.values())} external links to {len(report.external)} URLs (not fetched)"
    )
    if args.external:
        for url, count in sorted(report.external.items()):
            print(f"  {count:4d}  {url}")
    for line in report.broken:
        print(f"BROKEN {line}")
    return 1 if report.broken else 0


if __name__ == "__main__":
    sys.exit(main())
