"""The page linter: what a reader should never see on a built page."""

from __future__ import annotations

import re

_LOCAL_PATH = re.compile(r"(?:/work/|/tmp/|/root/|/home/|PosixPath|\.partial\b)")
_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$", re.M)
_RAW_MATH = re.compile(r"\$[^$\s][^$\n]*\$")


def page_problems(html: str) -> list[str]:
    """What a reader should never see on a page: a local path, the parameters shown twice,
    nbval markers in code, and Markdown output that was not rendered (table pipes, ``$`` math)."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    problems = []
    for match in sorted(set(_LOCAL_PATH.findall(html))):
        problems.append(f"a local path ({match!r}) in the page")
    parameter_cells = soup.select(".tag_parameters, .tag_injected-parameters")
    if len(parameter_cells) > 1:
        problems.append(f"the parameters are shown {len(parameter_cells)} times")
    for code in soup.select(".cell_input"):
        if "NBVAL_" in code.get_text():
            problems.append("an nbval marker comment (NBVAL_...) in the code")
            break
    for output in soup.select(".cell_output"):
        for pre in output.select("pre"):  # printed text may hold pipes and dollars
            pre.decompose()
        text = output.get_text("\n")
        if _TABLE_ROW.search(text):
            problems.append(f"a raw Markdown table in an output: {_TABLE_ROW.search(text).group(0).strip()[:60]!r}")
        if _RAW_MATH.search(text):
            problems.append(f"unrendered math in an output: {_RAW_MATH.search(text).group(0)[:60]!r}")
    return problems
