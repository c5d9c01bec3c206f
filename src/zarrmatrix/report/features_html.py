"""The Features view as HTML: the feature x implementation table (squares with the versions that read it and
their triage links), the interop scores, the failures specific to one core reader, and a section per feature
with every attempt on its fixtures. One HTML table, so links in squares can be followed."""

from __future__ import annotations

import html

from ..triage import Known, Triage
from .features import FeaturesView, Square, build_features, explained
from .model import ReportModel
from .tables import table

e = html.escape
LEVEL_COLOURS = {"all": "#c8e6c9", "some": "#ffe0b2", "none": "#ffcdd2", "untested": "#eeeeee"}


def _percent(passed: int, pairs: int) -> str:
    return f"{100 * passed / pairs:.0f}% <small>({passed}/{pairs})</small>" if pairs else "—"


def _known(known: Known | None) -> str:
    if known is None:
        return ""
    return (f'<br><a class="triage" href="{e(known.url)}" title="{e(known.note)}">known: {e(known.label)}</a>')


def _square(square: Square) -> str:
    hover = [f"reads every fixture: {', '.join(square.reading) or 'none'}"]
    if square.partly:
        hover.append(f"reads some: {', '.join(square.partly)}")
    if square.left_out:
        hover.append(f"{square.left_out} reads left out: the reader fails that writer's plain fixtures alike")
    return (f'<td style="background:{LEVEL_COLOURS[square.level]}" title="{e("; ".join(hover))}">'
            f"{e(square.text)}{_known(square.known)}</td>")


def _grid(view: FeaturesView) -> str:
    head = "".join(f"<th>{e(impl)}<br><small>core: {e(view.core[impl].version)}</small></th>"
                   for impl in view.implementations)
    rows = []
    group = None
    for row in view.rows:
        if row.feature.group != group:
            group = row.feature.group
            rows.append(f'<tr><th colspan="{len(view.implementations) + 3}">{e(group)}</th></tr>')
        writers = sorted({f.implementation for f in row.fixtures})
        score = _percent(row.passed, row.pairs)
        rows.append(f'<tr><td><a href="#feature-{e(row.feature.id)}">{e(row.feature.title)}</a><br>'
                    f"<small><code>{e(row.feature.id)}</code> · v{row.feature.zarr_format}</small></td>"
                    f"<td>{score}</td><td><small>{e(', '.join(writers) or 'none')}</small></td>"
                    + "".join(_square(row.squares[impl]) for impl in view.implementations) + "</tr>")
    return (f'<table class="features"><tr><th>feature</th><th>interop</th><th>written by</th>{head}</tr>'
            + "".join(rows) + "</table>")


def _pairs(view: FeaturesView) -> str:
    writers = sorted({w for w, _ in view.pair_scores})
    rows = [[e(w)] + [_percent(*view.pair_scores[(w, r)]) if (w, r) in view.pair_scores else "—"
                      for r in view.implementations] for w in writers]
    return table(["writer → reader"] + [e(r) for r in view.implementations], rows, "pairs")


def _specific(view: FeaturesView) -> str:
    rows = []
    for impl in view.implementations:
        found = view.specific.get(impl, [])
        listed = sorted({feature for feature, _ in found})
        rows.append([e(f"{impl} {view.core[impl].version}"), str(len(found)),
                     ", ".join(f'<a href="#feature-{e(f)}">{e(f)}</a>' for f in listed) or "none"])
    return table(["core reader", "fixtures only it fails", "features"], rows, "specific")


def _sections(model: ReportModel, view: FeaturesView, triage: Triage) -> str:
    parts = []
    for row in view.rows:
        rows = []
        for fixture in row.fixtures:
            for reader in model.readers:
                summary = model.cells.get((reader.id, fixture.name))
                if summary is None or not summary.attempts:
                    continue
                known = explained(model, triage, reader, row.feature, fixture,
                                  view.versions.get(reader.id, reader.version))
                rows.append([e(fixture.writer_label), e(reader.label), f"<b>{e(summary.verdict.value)}</b>",
                             e(summary.reason[:200]) + _known(known),
                             e(summary.control_verdict.value if summary.control_verdict else "")])
        refused = "".join(f"<li>{e(w)} cannot write it: {e(why.strip().splitlines()[-1][:200] if why.strip() else '?')}"
                          f"</li>" for w, why in view.cannot_write.get(row.feature.id, []))
        edit = f"<p>Hand edit: {e(row.feature.edit)}</p>" if row.feature.edit else ""
        parts.append(f'<details id="feature-{e(row.feature.id)}"><summary>{e(row.feature.title)} '
                     f"<code>{e(row.feature.id)}</code> — {len(row.fixtures)} fixtures, {len(rows)} squares</summary>"
                     f"{edit}<ul>{refused}</ul>"
                     + table(["writer", "reader", "verdict (zip)", "reason", "control"], rows, "feature-attempts")
                     + "</details>")
    return "".join(parts)


def _known_table(view: FeaturesView) -> str:
    """Every triage entry that explains a square, with the squares it explains."""
    squares: dict[str, tuple[Known, list[str]]] = {}
    for row in view.rows:
        for square in row.squares.values():
            if square.known is not None:
                squares.setdefault(square.known.url, (square.known, []))[1].append(
                    f"{square.implementation} × {row.feature.id}")
    rows = [[f'<a href="{e(k.url)}">{e(k.label)}</a>', e(k.note), e(", ".join(where))]
            for k, where in squares.values()]
    return table(["upstream issue", "note", "squares it explains"], rows, "known") if rows else \
        "<p>No square of this run matches an entry of triage.yaml.</p>"


def features_html(model: ReportModel, triage: Triage) -> str:
    """The Features section (id "features"), or a line saying the run wrote no feature fixture."""
    if not model.feature_fixtures:
        return '<h2 id="features">Features</h2><p>No feature fixture in these results.</p>'
    view = build_features(model, triage)
    linked = sum(1 for row in view.rows for sq in row.squares.values() if sq.known)
    return f"""<h2 id="features">Features: which reader reads which Zarr feature</h2>
<p>Each feature of the catalogue is one small array in a fixture of its own, written by every writer that can
express it ({sum(f.written_ok for f in model.feature_fixtures)} fixtures, and
{sum(not f.written_ok for f in model.feature_fixtures)} refusals; {view.writers_per_feature():.1f} writer
implementations per feature on average). A square names the versions of an implementation that read every fixture
of the feature (checked against the writer's manifest, shape and dtype included; through the zip or, where the zip
itself is what fails, the unzipped control, except for the features of the zip itself), leaving out a writer's
fixture where the reader fails that writer's plain fixtures of the format alike: green every version, amber
some, red none. <i>Interop</i> is the share of writer × reader pairs that pass over the core readers (the newest
release of each implementation). {linked} squares link the upstream issue that explains them (triage.yaml).</p>
{_grid(view)}
<h3>Interop per writer → reader pair</h3>
<p>The share of feature fixtures of each writer implementation that each core reader reads.</p>
{_pairs(view)}
<h3>Failures specific to one reader</h3>
<p>Fixtures that this core reader fails while every other core reader reads them.</p>
{_specific(view)}
<h3>Known upstream issues</h3>
<p>The entries of triage.yaml that explain squares of this run.</p>
{_known_table(view)}
<h3>Every feature, every attempt</h3>
{_sections(model, view, triage)}"""
