"""The claims ledger as the book shows it: the intro's table, each chapter's opening rows and closing evidence.

Plain HTML (no JavaScript), sized for the book's column (about 690 px): fixed column widths, wrapping text and
commands, a caption naming the sources above every table, and verdicts as badges that carry a symbol and a
word as well as a colour, so they read the same without colour.
"""

from __future__ import annotations

import datetime as dt
from html import escape

import pandas as pd

from ecalib.reports.claims import Assessment, Step, assess
from ecalib.reports.evidence import ResultFolders
from ecalib.reports.tables import caption_text
from ecalib.reports.verdicts import Verdict

# symbol and colour of each verdict (the symbol and the word carry it without colour)
BADGES = {
    Verdict.CONFIRMED: ("✓", "#1a7f37"),
    Verdict.CONTRADICTED: ("✗", "#cf222e"),
    Verdict.PARTLY: ("◐", "#9a6700"),
    Verdict.NOT_TESTABLE: ("⊘", "#57606a"),
    Verdict.UNTESTED: ("?", "#0969da"),
}
TABLE_STYLE = "width:100%;table-layout:fixed;border-collapse:collapse;font-size:0.85em;line-height:1.35"
CELL_STYLE = "vertical-align:top;padding:0.35em 0.4em;border-top:1px solid #d0d7de;overflow-wrap:anywhere"
HEAD_STYLE = "vertical-align:bottom;padding:0.35em 0.4em;text-align:left;overflow-wrap:break-word;hyphens:auto"
CAPTION_STYLE = "caption-side:top;text-align:left;font-size:0.9em;padding-bottom:0.3em"
CODE_STYLE = "white-space:normal;overflow-wrap:anywhere;font-size:0.95em"
SOURCES = (
    "the paper's numbers from ecalib's reference data (paper tables, the official README, RC2020); "
    "the evidence computed in this build or read from the result folders under results/"
)


def badge(verdict: Verdict) -> str:
    symbol, colour = BADGES[verdict]
    return (
        f'<span class="ecalib-verdict ecalib-verdict-{verdict.name.lower()}" style="display:inline-block;'
        f"padding:0 0.45em;border:1px solid {colour};border-radius:0.7em;color:{colour};font-weight:600;"
        f'max-width:100%;overflow-wrap:normal;word-break:normal">{symbol}&nbsp;{escape(verdict.value)}</span>'
    )


def _code(command: str) -> str:
    return f'<code style="{CODE_STYLE}">{escape(command)}</code>'


def _cost_text(step: Step) -> str:
    return escape(step.cost if isinstance(step.cost, str) else step.cost.text())


def _cost(step: Step) -> str:
    return escape(step.cost if isinstance(step.cost, str) else f"{step.cost.hours()} ({step.cost.kind()})")


def _table(caption: str, headers: list[tuple[str, str]], rows: list[list[str]]) -> str:
    cols = "".join(f'<col style="width:{width}">' for _, width in headers)
    head = "".join(f'<th style="{HEAD_STYLE}">{escape(h)}</th>' for h, _ in headers)
    body = "".join("<tr>" + "".join(f'<td style="{CELL_STYLE}">{c}</td>' for c in row) + "</tr>" for row in rows)
    return (
        f'<table class="ecalib-ledger" style="{TABLE_STYLE}"><caption style="{CAPTION_STYLE}">{caption}</caption>'
        f"<colgroup>{cols}</colgroup><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def frame_html(frame: pd.DataFrame, caption: str, source: str, widths: list[str] | None = None) -> str:
    """A DataFrame as a plain table for the book's column: its index as the first column, its caption and
    source on top (:func:`ecalib.reports.tables.caption_text`)."""
    frame = frame.reset_index() if frame.index.name or isinstance(frame.index, pd.MultiIndex) else frame
    widths = widths or [f"{100 / len(frame.columns):.0f}%"] * len(frame.columns)
    rows = [[escape(str(v)) for v in row] for row in frame.itertuples(index=False)]
    return _table(escape(caption_text(caption, source)), list(zip(map(str, frame.columns), widths)), rows)


def _claim_cell(a: Assessment) -> str:
    return (
        f"<strong>{escape(a.claim.title)}</strong><br>{escape(a.statement)}"
        f'<br><span style="color:#57606a">{escape(a.claim.source)}</span>'
    )


def _rejected(folders: ResultFolders) -> str:
    if not folders.rejected:
        return ""
    listed = "".join(f"<li>{_code(r.folder)}: {escape(r.reason)}</li>" for r in folders.rejected)
    return f"<p><strong>Result folders left out</strong> (unreadable; never counted):</p><ul>{listed}</ul>"


def _provenance(folders: ResultFolders) -> str:
    from ecalib.provenance import git_commit

    commit = (git_commit() or "unknown")[:12]
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f'<p style="font-size:0.8em;color:#57606a">Verdicts computed from {escape(str(folders.root))}/ '
        f"at commit {escape(commit)}, {when}.</p>"
    )


def ledger_frame(assessments: list[Assessment]) -> pd.DataFrame:
    """One row per claim: its title, the claim with the paper's numbers, the verdict, its parts and the first test."""
    rows = []
    for a in assessments:
        first = a.steps[0] if a.steps else None
        rows.append(
            {
                "claim": a.claim.key,
                "title": a.claim.title,
                "statement": a.statement,
                "source": a.claim.source,
                "verdict": a.verdict.value,
                "parts": a.summary(),
                "command": first.command if first else "",
                "cost": "" if first is None else (first.cost if isinstance(first.cost, str) else first.cost.text()),
            }
        )
    return pd.DataFrame(rows).set_index("claim")


def ledger_html(results: str | ResultFolders = "results", assessments: list[Assessment] | None = None) -> str:
    """The whole ledger: one row per claim with its verdict, what decided it, and the command that would test it."""
    folders = results if isinstance(results, ResultFolders) else ResultFolders(results)
    assessments = assess(folders) if assessments is None else assessments
    rows = []
    for a in assessments:
        step = a.steps[0] if a.steps else None
        settle = "" if step is None else f"<br><em>{escape(step.what)}:</em> {_code(step.command)} ({_cost(step)})"
        rows.append([_claim_cell(a), badge(a.verdict), escape(a.summary()) + settle])
    caption = escape(caption_text("Claims and verdicts", SOURCES))
    headers = [("Claim (the paper's numbers)", "40%"), ("Verdict", "20%"), ("Evidence, and the next test", "40%")]
    return _table(caption, headers, rows) + _rejected(folders) + _provenance(folders)


def chapter_opening(chapter: str, results: str = "results"):
    """The claims a chapter bears on, with their verdicts (an HTML output for the chapter's first cell)."""
    from IPython.display import HTML

    assessments = assess(results, chapter)
    rows = [[_claim_cell(a), badge(a.verdict)] for a in assessments]
    caption = (
        "The paper's claims this chapter bears on, with the verdict the evidence gives (every claim, and its "
        f'evidence in full: <a href="findings.html">Findings</a>). Source: {escape(SOURCES)}.'
    )
    return HTML(_table(caption, [("Claim (the paper's numbers)", "76%"), ("Verdict", "24%")], rows))


def closing_html(assessments: list[Assessment], folders: ResultFolders) -> str:
    blocks = []
    for a in assessments:
        parts = "".join(f"<li>{badge(p.verdict)} {escape(p.name)}: {escape(p.reason)}</li>" for p in a.parts)
        evidence = "".join(
            f"<li>{escape(i.text)} <em>({escape(i.source)}{'' if i.counts else '; context, not counted'})</em></li>"
            for i in a.evidence
        )
        steps = "".join(f"<li>{escape(s.what)}: {_code(s.command)}<br>{_cost_text(s)}</li>" for s in a.steps)
        blocks.append(
            f'<div class="ecalib-claim" style="margin-bottom:1em"><p><strong>{escape(a.claim.title)}</strong> '
            f"{badge(a.verdict)}<br>{escape(a.statement)} <em>({escape(a.claim.source)})</em></p>"
            f"<ul>{parts}</ul>"
            + (f"<p>Evidence:</p><ul>{evidence}</ul>" if evidence else "")
            + (f"<p>To test it:</p><ul>{steps}</ul>" if steps else "")
            + "</div>"
        )
    return "".join(blocks) + _rejected(folders) + _provenance(folders)


def chapter_closing(chapter: str, results: str = "results"):
    """What the evidence says about each of a chapter's claims: the parts' verdicts, the evidence (counted or
    context), and the commands that would test what is untested, with their projected cost."""
    from IPython.display import HTML

    folders = ResultFolders(results)
    return HTML(closing_html(assess(folders, chapter), folders))
