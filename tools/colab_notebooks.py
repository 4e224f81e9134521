"""Write the Colab notebooks (chapters/*.ipynb, no outputs) from the MyST chapters.

    python tools/colab_notebooks.py chapters/*.md        (``make notebooks``)

Colab has no myst-nb, so a Markdown cell would show ``{glue:text}`key:.3f``` where the book
shows a number. Each Markdown cell that glues a value therefore becomes a code cell (its source
hidden in Colab's form view) that shows the same paragraph with the values filled in
(``icl_book.book.prose``), in the place the prose uses them; a ``{glue:figure}`` directive
becomes its figure and caption the same way. Every Markdown cell, and every paragraph a prose cell shows, is first turned from MyST into what
plain Markdown and MathJax render (``plain``): cross-references into their text (figures, tables,
equations and exercises numbered as the book numbers them, through the whole book), citations into author-year text,
admonitions into quoted blocks, exercises into headed blocks with the solution folded, equation
labels into ``\tag``s, label lines and directive fences removed. Cell ids are hashes of the cells,
so an unchanged chapter writes the same file.
"""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

import jupytext
import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from icl_book.book import GLUE_FIGURE, GLUE_ROLE  # noqa: E402


ROOT = Path(__file__).resolve().parents[1]

# What Colab would show raw: a role, a directive fence or a colon fence, a label line.
RAW_MYST = re.compile(r"\{[a-z][a-z:-]*\}`|^(`{3,}|:{3,})\{|^:{3,}\s*$|^\([\w.-]+\)=\s*$", re.M)
_ROLE = re.compile(r"\{(numref|ref|doc|eq|cite|cite:t|cite:p)\}`([^`]+)`")
_FIG_NAME = re.compile(r"^(`{3,}|:{3,})\{(glue:figure|figure|table)\}[^\n]*\n(?::[^\n]*\n)*?:name:[ \t]*(\S+)", re.M)
_EQ_LABEL = re.compile(r"\$\$[ \t]*\(([\w.-]+)\)[ \t]*$", re.M)
_EXERCISE = re.compile(r"^`{3,}\{exercise(?:-start)?\}[^\n]*\n(?::[^\n]*\n)*?:label:[ \t]*(\S+)", re.M)
_CELL_OPTIONS = re.compile(r"^`{3,}\{code-cell\}[^\n]*\n((?::[^\n]*\n)+)", re.M)
_SECTION = re.compile(r"^\(([\w.-]+)\)=[ \t]*\n+#+[ \t]+(.+)$", re.M)


def _counted(text: str, counts: dict[str, int]) -> dict[str, str]:
    """The numbered things of one page in the order they appear (figures, tables, equations,
    exercises), numbered on from ``counts``, which it advances."""
    found = [(m.start(), "figure" if m[2] in ("glue:figure", "figure") else "table", m[3]) for m in _FIG_NAME.finditer(text)]
    for m in _CELL_OPTIONS.finditer(text):   # a code cell whose output myst-nb makes a numbered figure
        if re.search(r"^:\s+figure:", m[1], re.M):
            name = re.search(r"^:\s+name:[ \t]*(\S+)", m[1], re.M)
            found.append((m.start(), "figure", name[1] if name else f"unnamed-{m.start()}"))
    found += [(m.start(), "equation", m[1]) for m in _EQ_LABEL.finditer(text)]
    found += [(m.start(), "exercise", m[1]) for m in _EXERCISE.finditer(text)]
    shown = {"figure": "Fig. {}", "table": "Table {}", "equation": "({})", "exercise": "Exercise {}"}
    out = {}
    for _, kind, label in sorted(found):
        counts[kind] = counts.get(kind, 0) + 1
        out[label] = shown[kind].format(counts[kind])
    return out


def book_order(root: Path = ROOT) -> list[Path]:
    """The book's pages in ``_toc.yml`` order (the order Sphinx numbers figures and equations in)."""
    toc = (root / "_toc.yml").read_text()
    names = re.findall(r"^\s*(?:root|-\s*file):\s*(\S+)", toc, re.M)
    return [root / f"{name}.md" for name in names if (root / f"{name}.md").exists()]


class Page:
    """What a page's cross-references resolve to. Sphinx numbers figures, tables, equations and
    exercises through the whole book in table-of-contents order (Fig. 32 is the spin-glass
    chapter's first), so every page before this one is counted first; also the section titles,
    the pages' titles, and the bibliography."""

    def __init__(self):
        self.numbers: dict[str, str] = {}    # label -> "Fig. 3", "Table 1", "(2)", "Exercise 4"
        self.sections: dict[str, str] = {}   # label -> the heading it stands over
        self.titles: dict[str, str] = {}     # page stem -> its first heading
        self.cites: dict[str, tuple[str, str, str]] = {}   # key -> (authors, year, link)

    @classmethod
    def of(cls, text: str, path: Path | None = None, root: Path = ROOT) -> "Page":
        """The page ``text`` (the book's page ``path`` if given; otherwise a page of its own)."""
        page, counts = cls(), {}
        for other in book_order(root):
            numbers = _counted(other.read_text(), counts)
            if path is not None and other.resolve() == Path(path).resolve():
                break
            page.numbers.update(numbers)       # another page's labels, for a reference across pages
        else:
            counts = {}
            numbers = _counted(text, counts)   # not a page of the book: numbered on its own
        page.numbers.update(numbers)
        page.sections = {m[1]: m[2].strip() for m in _SECTION.finditer(text)}
        for md in sorted((root / "chapters").glob("*.md")):
            heading = re.search(r"^#[ \t]+(.+)$", md.read_text(), re.M)
            page.titles[md.stem] = heading[1].strip() if heading else md.stem
        bib = root / "references.bib"
        page.cites = _bibliography(bib.read_text(), _repository() + "/blob/main/references.bib") if bib.exists() else {}
        return page


def _repository() -> str:
    """The book's repository (``_config.yml``), where a reader on Colab finds the references."""
    m = re.search(r"^\s*url:\s*(https://github\.com/\S+)", (ROOT / "_config.yml").read_text(), re.M)
    return m[1].rstrip("/") if m else "https://github.com"


def _bibliography(text: str, fallback: str) -> dict[str, tuple[str, str, str]]:
    """key -> (short author text, year, a link: the arXiv page where the entry names one, else
    ``fallback``, the book's reference list)."""
    out = {}
    for m in re.finditer(r"@\w+\{([^,\s]+),(.*?)\n\}", text, re.S):
        fields = dict(re.findall(r"(\w+)\s*=\s*\{(.*?)\}\s*,?\s*$", m[2], re.M))
        surnames = [a.split(",")[0].strip() for a in fields.get("author", m[1]).split(" and ")]
        who = surnames[0] if len(surnames) == 1 else (" and ".join(surnames) if len(surnames) == 2
                                                      else f"{surnames[0]} et al.")
        arxiv = re.search(r"arXiv[: ](\d{4}\.\d{4,5})", fields.get("note", "") + fields.get("journal", ""))
        out[m[1]] = (who.replace("{", "").replace("}", ""), fields.get("year", "n.d."),
                     f"https://arxiv.org/abs/{arxiv[1]}" if arxiv else fallback)
    return out


def _role(kind: str, body: str, page: Page) -> str:
    text, target = body, body
    if (m := re.fullmatch(r"(.*?)\s*<([^>]+)>", body, re.S)):
        text, target = m[1], m[2]
    if kind in ("cite", "cite:p", "cite:t"):
        parts = []
        for key in (k.strip() for k in target.split(",")):
            who, year, url = page.cites.get(key, (key, "", ""))
            said = f"{who} ({year})" if kind == "cite:t" else f"{who}, {year}"
            parts.append(f"[{said}]({url})" if url else said)
        return "; ".join(parts) if kind == "cite:t" else "(" + "; ".join(parts) + ")"
    if kind == "doc":
        stem = target.split("/")[-1]
        title = text if text != target else page.titles.get(stem, stem)
        return f"[{title}]({stem}.ipynb)"
    if kind == "eq":
        return page.numbers.get(target, f"({target})")
    number = page.numbers.get(target)
    if kind == "numref":
        if text != target:
            return text.replace("%s", (number or target).split()[-1]).replace("{number}", (number or target).split()[-1])
        return number or page.sections.get(target, target)
    return text if text != target else page.sections.get(target) or number or target   # ref


def _body(block: str) -> str:
    """A directive's content without its ``:option:`` lines."""
    return "\n".join(line for line in block.splitlines() if not re.match(r"^:[\w-]+:", line)).strip()


def _block(fence: str, names: str) -> re.Pattern:
    """A whole directive ``fence{name} argument ... fence`` (groups: name, argument, content)."""
    return re.compile(rf"^({fence}{{3,}})\{{({names})\}}[ \t]*([^\n]*)\n(.*?)^\1[ \t]*$", re.S | re.M)


_ADMONITION = _block(":", "admonition|note|warning|tip|important|seealso")
_TABLE = _block("`", "table")
_WHOLE_EXERCISE = _block("`", "exercise|solution")
_START = re.compile(r"^`{3,}\{(exercise|solution)-start\}[ \t]*([^\n]*)\n((?::[^\n]*\n)*)`{3,}[ \t]*\n?", re.M)
_FOLDED = re.compile(r"^`{3,}\{solution-start\}[ \t]*(\S*)[^\n]*\n(?::[^\n]*\n)*`{3,}[ \t]*\n"
                     r"(.*?)^`{3,}\{solution-end\}[ \t]*\n`{3,}[ \t]*\n?", re.S | re.M)
_EXEC_TABLE = re.compile(r"^`{3,}\{nb-exec-table\}[ \t]*\n`{3,}[ \t]*$", re.M)
_END = re.compile(r"^`{3,}\{(exercise|solution)-end\}[ \t]*\n`{3,}[ \t]*\n?", re.M)


def plain(markdown: str, page: Page) -> str:
    """``markdown`` (one cell's MyST) as plain Markdown and MathJax. Glue roles and glue figures
    are left for ``prose`` to fill in. A solution in one cell folds (``<details>``); one that
    spans cells (it runs code) is a heading, which Colab folds with its section."""
    def number(label: str, default: str) -> str:
        return page.numbers.get(label.strip(), default)

    def admonition(m):
        title = m[3].strip() or m[2].capitalize()
        lines = _body(m[4]).splitlines()
        return f"> **{title}**\n>\n" + "\n".join(f"> {line}" if line else ">" for line in lines)

    def table(m):
        return f"**{number(_name(m[4]), 'Table')}.** {m[3].strip()}\n\n{_body(m[4])}"

    def whole(m):
        if m[2] == "solution":
            return f"<details><summary><b>Solution to {number(m[3], 'the exercise')}</b></summary>\n\n{_body(m[4])}\n\n</details>"
        title = f" ({m[3].strip()})" if m[3].strip() else ""
        return f"**{number(_name(m[4], 'label'), 'Exercise')}{title}.**\n\n{_body(m[4])}"

    def start(m):
        if m[1] == "solution":
            return f"#### Solution to {number(m[2], 'the exercise')}\n\n"
        title = f" ({m[2].strip()})" if m[2].strip() else ""
        return f"**{number(_name(m[3], 'label'), 'Exercise')}{title}.**\n\n"

    def folded(m):   # a solution whose start and end fences share this cell
        return (f"<details><summary><b>Solution to {number(m[1], 'the exercise')}</b></summary>\n\n"
                f"{m[2].strip()}\n\n</details>\n")

    def figure(m):   # prose() shows it; tell it the number the book gives it
        name = _name(m[2])
        return m[0].replace(f":name: {name}", f":name: {name}\n:number: {page.numbers[name]}", 1) \
            if name in page.numbers else m[0]

    text = GLUE_FIGURE.sub(figure, markdown)
    text = _FOLDED.sub(folded, text)
    text = _ADMONITION.sub(admonition, text)
    text = _TABLE.sub(table, text)
    text = _WHOLE_EXERCISE.sub(whole, text)
    text = _START.sub(start, text)
    text = _END.sub("", text)
    text = _EXEC_TABLE.sub("*(The rendered book shows here how long each chapter took to execute.)*", text)
    text = re.sub(r"^\([\w.-]+\)=[ \t]*\n", "", text, flags=re.M)
    text = _EQ_LABEL.sub(lambda m: f"\\tag{{{number(m[1], m[1]).strip('()')}}} $$", text)
    return _ROLE.sub(lambda m: _role(m[1], m[2], page), text).strip()


def _name(options: str, option: str = "name") -> str:
    m = re.search(rf"^:{option}:[ \t]*(\S+)", options, re.M)
    return m[1] if m else ""


def prose_cell(markdown: str) -> nbformat.NotebookNode:
    literal = f'r"""{markdown}"""' if '"""' not in markdown and not markdown.endswith("\\") else repr(markdown)
    source = f"#@title\nfrom icl_book.book import prose\nprose({literal})"
    return nbformat.v4.new_code_cell(source, metadata={"cellView": "form", "jupyter": {"source_hidden": True}})


def notebook(md: str | Path) -> nbformat.NotebookNode:
    """The Colab notebook of the MyST chapter ``md``."""
    nb = jupytext.read(md)
    nb.metadata.pop("jupytext", None)
    page = Page.of(Path(md).read_text(), Path(md))
    cells = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            cell.source = plain(cell.source, page)
        if cell.cell_type == "markdown" and (GLUE_ROLE.search(cell.source) or GLUE_FIGURE.search(cell.source)):
            cell = prose_cell(cell.source)
        cell.id = hashlib.sha1(f"{i}\n{cell.cell_type}\n{cell.source}".encode()).hexdigest()[:8]
        cells.append(cell)
    nb.cells = cells
    return nb


def main(paths: list[str]) -> int:
    for md in paths:
        if "kernelspec:" not in Path(md).read_text():
            continue  # a plain page (the references), not a notebook
        out = Path(md).with_suffix(".ipynb")
        nbformat.write(notebook(md), out)
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
