"""The report model as Markdown: the matrix as a table, for a pull request or an issue."""

from __future__ import annotations

from .model import ReportModel
from .releases import release_changes, releases_markdown


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(model: ReportModel) -> str:
    lines = ["# zarrmatrix summary", ""]
    if not model.readers or not model.fixtures:
        return "\n".join(lines + ["No read attempts in these results.", ""])
    lines.append("Rows: reader cells. Columns: fixtures. Each entry: verdict (control verdict on the unzipped folder).")
    lines.append("")
    header = ["reader"] + [f"`{f.name}`" for f in model.fixtures]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    for reader in model.readers:
        row = [f"{reader.label} (`{reader.id}`)"]
        for fixture in model.fixtures:
            s = model.cells.get((reader.id, fixture.name))
            row.append("" if s is None else f"{s.verdict} ({s.control_verdict or '—'})")
        lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
    lines.append("")
    lines.append(releases_markdown(release_changes(model)))
    return "\n".join(lines)
