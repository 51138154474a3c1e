"""What a reader sees: the smoke book's pages, checked in the built HTML.

Fails on a local path (/work, /tmp, /root, /home, PosixPath, a .partial folder), the
parameters shown twice, an nbval marker comment in code, or Markdown output that was not
rendered (raw table pipes, $...$ math). book.page_problems is the checker; test_book.py
shows it catches each of these.
"""

import pytest
from bs4 import BeautifulSoup

from tokedit_utils import book


@pytest.mark.parametrize("stem", [nb.stem for nb in book.chain()])
def test_chapter_page_shows_what_a_reader_should_see(smoke_html, stem):
    page = (smoke_html / "chapters" / f"{stem}.html").read_text()
    assert book.page_problems(page) == []
    # the parameters once, labelled, with the values of the smoke run
    cells = BeautifulSoup(page, "html.parser").select(".tag_parameters")
    assert len(cells) == 1
    text = cells[0].get_text()
    assert "Parameters of this run: the smoke profile" in text and "profile = \"smoke\"" in text
    for name, value in book.profile_overrides("smoke").get(stem, {}).items():
        assert f"{name} = {book._literal(value)}" in text


def test_other_pages_show_no_machinery(smoke_html):
    for page in smoke_html.glob("*.html"):
        assert book.page_problems(page.read_text()) == [], page.name
