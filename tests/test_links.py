"""Internal links of the built book (tools/check_links.py): files and #fragments must exist."""

import sys

import pytest
from helpers import BUILT_HTML, ROOT, needs, toc_docnames

sys.path.insert(0, str(ROOT / "tools"))

from check_links import check_site  # noqa: E402


def _site(tmp_path, pages: dict[str, str]):
    for name, body in pages.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(f"<html><body>{body}</body></html>")
    return check_site(tmp_path)


def test_link_checker_finds_missing_files_and_fragments(tmp_path):
    report = _site(
        tmp_path,
        {
            "index.html": '<a href="a/page.html#here">ok</a> <a href="a/page.html#gone">bad id</a>'
            ' <img src="missing.png"> <a href="#top" id="top">self</a> <a href="https://example.org/x">ext</a>'
            ' <a href="mailto:x@y.z">mail</a> <a href="/abs.html">abs</a>',
            "a/page.html": '<h1 id="here">h</h1> <a href="../index.html#nowhere">back</a>'
            ' <a href="../../out.html">out</a>',
            "_static/macros.html": "<link href=\"{{ pathto('x.css', 1) }}\">",
        },
    )
    assert report.pages == 2  # _static/*.html are assets
    assert report.internal == 7
    assert dict(report.external) == {"https://example.org/x": 1}
    problems = "\n".join(report.broken)
    assert len(report.broken) == 5, problems
    for expected in ("no id 'gone'", "missing file missing.png", "no id 'nowhere'", "outside the built book", "abs"):
        assert expected in problems, (expected, problems)


@pytest.mark.browser
def test_built_book_has_no_broken_internal_links():
    needs((BUILT_HTML / "index.html").is_file(), f"no built book in {BUILT_HTML} (run `make book`)")
    report = check_site(BUILT_HTML)
    pages = {p.relative_to(BUILT_HTML).with_suffix("").as_posix() for p in BUILT_HTML.rglob("*.html")}
    missing = [name for name in toc_docnames() if name not in pages]
    assert not missing, f"pages of _toc.yml missing from the build: {missing}"
    assert report.pages >= len(toc_docnames())
    assert not report.broken, f"{len(report.broken)} broken internal links:\n" + "\n".join(report.broken)
    external = sum(report.external.values())
    print(f"{report.pages} pages, {report.internal} internal links OK, {external} external links not fetched:")
    for url, count in sorted(report.external.items()):
        print(f"  {count:3d}  {url}")
