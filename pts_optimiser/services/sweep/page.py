"""sweep.html: what a manager reads at a glance, one self-contained page that opens offline.

Charts are drawn by matplotlib as SVG and put in the page inline: no script, no network.
Every name from the user (days, fleet and policy files) is cleaned, and escaped twice
over: matplotlib escapes the SVG's text, html_text the page's.
"""

from __future__ import annotations

import io
import math
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pts_optimiser.domain.safe import clean, html_text
from pts_optimiser.views.runsheets import page

STANDARDS = (("renal_collect", "Renal collected"), ("renal_on_board", "Renal on board"),
             ("renal_early", "Renal on time, not too early"),
             ("planned_early", "Outpatients on time, not too early"),
             ("discharge_collect", "Discharges collected"))
_LABEL_CHARS = 40
_PALETTE = ("#1f6fb2", "#d9822b", "#2e8b57", "#b2403a", "#7b5ea7", "#8c6d31", "#3d9ea8",
            "#c75a9b")


def _label(text: object) -> str:
    shown = clean(text)
    return shown if len(shown) <= _LABEL_CHARS else shown[:_LABEL_CHARS - 1] + "…"


def scenario(row: Mapping[str, object]) -> str:
    """A scenario is a fleet under a policy; days and seeds are its spread."""
    return f"{row['fleet']} · {row['config']}"


def _number(row: Mapping[str, object], key: str) -> float | None:
    value = row.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else None


def _mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else 0.0


def _svg(figure: Any, index: int) -> str:
    """The figure as inline SVG; ids salted so several charts on one page do not clash."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": f"pts-sweep-{index}", "svg.fonttype": "none"}):
        # No date (the page is the same for the same rows), no link to matplotlib's site.
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None},
                       bbox_inches="tight")
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def _figure(width_in: float = 7.5, height_in: float = 3.6) -> Any:
    import matplotlib

    # No TeX and no $...$ maths: a file name with dollars is shown as written.
    matplotlib.rcParams["text.parse_math"] = False
    matplotlib.rcParams["text.usetex"] = False
    from matplotlib.figure import Figure

    return Figure(figsize=(width_in, height_in), layout="constrained")


def _by(rows: Sequence[Mapping[str, object]], key: str) -> dict[str, list[Mapping[str, object]]]:
    groups: dict[str, list[Mapping[str, object]]] = defaultdict(list)
    for row in rows:
        groups[str(row[key])].append(row)
    return dict(groups)


def _fleet_chart(rows: Sequence[Mapping[str, object]]) -> Any:
    """Patients fully served and left behind against vehicles, a line per policy."""
    from matplotlib.ticker import MaxNLocator

    figure = _figure()
    served, behind = figure.subplots(1, 2)
    for colour, (config, group) in zip(_PALETTE * 8, sorted(_by(rows, "config").items()),
                                       strict=False):
        by_size: dict[float, list[Mapping[str, object]]] = defaultdict(list)
        for row in group:
            by_size[_number(row, "vehicles_available") or 0.0].append(row)
        sizes = sorted(by_size)
        for axes, key in ((served, "patients_fully_served"), (behind, "patients_left_behind")):
            points = [(s, _number(r, key) or 0.0) for s in sizes for r in by_size[s]]
            axes.scatter([p[0] for p in points], [p[1] for p in points], color=colour,
                         alpha=0.45, s=18)
            axes.plot(sizes, [_mean([_number(r, key) or 0.0 for r in by_size[s]])
                              for s in sizes], color=colour, marker="o", label=_label(config))
    served.set_title("Patients fully served (all their journeys)")
    behind.set_title("Patients left behind (out, not home)")
    for axes in (served, behind):
        axes.set_xlabel("vehicle shifts in the fleet")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(alpha=0.3)
    served.legend(title="policy", fontsize="small")
    return figure


def _carbon_chart(rows: Sequence[Mapping[str, object]]) -> Any:
    """CO2 against the fleet's electric share, a colour per fleet."""
    figure = _figure(7.5, 3.4)
    axes = figure.subplots()
    for colour, (fleet, group) in zip(_PALETTE * 8, sorted(_by(rows, "fleet").items()),
                                      strict=False):
        axes.scatter([_number(r, "electric_share_pct") or 0.0 for r in group],
                     [_number(r, "co2_kg_total") or 0.0 for r in group], color=colour,
                     label=_label(fleet), alpha=0.8)
    axes.set_xlabel("electric vehicle shifts, % of the fleet")
    axes.set_ylabel("kg CO2e for the day")
    axes.set_title("Carbon against electric share (each point a task)")
    axes.grid(alpha=0.3)
    axes.legend(title="fleet", fontsize="small")
    return figure


def _standards_chart(rows: Sequence[Mapping[str, object]]) -> Any:
    """Each standard's mean share met, per scenario, with the targets as ticks."""
    groups = sorted(_by([{**r, "scenario": scenario(r)} for r in rows], "scenario").items())
    figure = _figure(7.5, 1.2 + 0.55 * len(STANDARDS) * max(1, len(groups)) ** 0.5 + 0.6)
    axes = figure.subplots()
    height = 0.8 / max(1, len(groups))
    for index, (colour, (name, group)) in enumerate(zip(_PALETTE * 8, groups, strict=False)):
        # No journeys under a standard: no bar (not a bar at 0%).
        values = [statistics.fmean(met) if (met := [
            v for r in group if (v := _number(r, f"std_{key}_pct")) is not None]) else math.nan
            for key, _ in STANDARDS]
        axes.barh([i + index * height for i in range(len(STANDARDS))], values, height=height,
                  color=colour, label=_label(name))
    targets = [_number(rows[0], f"std_{key}_target_pct") or 0.0 for key, _ in STANDARDS]
    axes.scatter(targets, [i + 0.4 - height / 2 for i in range(len(STANDARDS))], marker="|",
                 s=400, color="black", label="target", zorder=3)
    axes.set_yticks([i + 0.4 - height / 2 for i in range(len(STANDARDS))],
                    [title for _, title in STANDARDS])
    axes.invert_yaxis()
    axes.set_xlim(0, 100)
    axes.set_xlabel("% of the journeys it covers that meet it (mean over days and seeds)")
    axes.set_title("Clinical standards per scenario")
    axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return figure


def _spread_chart(rows: Sequence[Mapping[str, object]]) -> Any:
    """Patients fully served per scenario: the spread over days and seeds."""
    groups = sorted(_by([{**r, "scenario": scenario(r)} for r in rows], "scenario").items())
    figure = _figure(7.5, 1.0 + 0.45 * len(groups))
    axes = figure.subplots()
    axes.boxplot([[_number(r, "patients_fully_served") or 0.0 for r in group]
                  for _, group in groups], orientation="horizontal", widths=0.5)
    for index, (_, group) in enumerate(groups, start=1):
        values = [_number(r, "patients_fully_served") or 0.0 for r in group]
        axes.scatter(values, [index] * len(values), color=_PALETTE[0], alpha=0.6, s=16,
                     zorder=3)
    axes.set_yticks(range(1, len(groups) + 1), [_label(name) for name, _ in groups])
    axes.invert_yaxis()
    axes.set_xlabel("patients fully served (each point a day and seed)")
    axes.set_title("Spread over days and seeds")
    axes.grid(alpha=0.3, axis="x")
    return figure


_TABLE = (("tasks", "tasks"), ("vehicles_available", "vehicles"),
          ("electric_share_pct", "electric %"), ("served_pct", "journeys served %"),
          ("patients_fully_served", "patients fully served"),
          ("patients_left_behind", "left behind"), ("violations", "violations"),
          ("vehicles_used", "vehicles used"), ("km_total", "km"), ("co2_kg_total", "kg CO2e"),
          ("on_board_median_min", "on board, median min"),
          ("on_board_p90_min", "on board, 90th pct min"))


def _table(rows: Sequence[Mapping[str, object]]) -> str:
    groups = sorted(_by([{**r, "scenario": scenario(r)} for r in rows], "scenario").items())
    head = "".join(f"<th>{html_text(title)}</th>" for _, title in
                   (("scenario", "scenario (fleet · policy)"), *_TABLE,
                    *((f"std_{k}_pct", f"{t} %") for k, t in STANDARDS)))
    body = []
    for name, group in groups:
        cells = [f"<td>{html_text(name)}</td>"]
        for key, _ in (*_TABLE, *((f"std_{k}_pct", "") for k, _ in STANDARDS)):
            if key == "tasks":
                cells.append(f"<td>{len(group)}</td>")
                continue
            values = [v for r in group if (v := _number(r, key)) is not None]
            cells.append(f"<td>{_mean(values):,.1f}</td>" if values else "<td>–</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
            "<p>Means over each scenario's days and seeds.</p>")


def sweep_html(rows: Sequence[Mapping[str, object]]) -> str:
    """The whole page for a sweep's rows."""
    good = [r for r in rows if r.get("status") == "ok"]
    bad = [r for r in rows if r.get("status") != "ok"]
    parts = [f"<h1>Fleet and policy sweep</h1><p>{len(rows)} tasks: {len(good)} planned and "
             f"passed the independent checker"
             + (f", <b>{len(bad)} not</b> (listed at the end)" if bad else "") + ".</p>"]
    if good:
        charts = (("Patients against fleet size", _fleet_chart),
                  ("Carbon against electric share", _carbon_chart),
                  ("Clinical standards per scenario", _standards_chart),
                  ("Spread over days and seeds", _spread_chart))
        for index, (title, draw) in enumerate(charts):
            parts.append(f"<h2>{html_text(title)}</h2>{_svg(draw(good), index)}")
        parts.append(f"<h2>Scenarios</h2>{_table(good)}")
    if bad:
        items = "".join(f"<li>{html_text(r.get('day'))}, {html_text(scenario(r))}, seed "
                        f"{html_text(r.get('seed'))}: {html_text(r.get('status'))} "
                        f"{html_text(r.get('error', ''))}</li>" for r in bad)
        parts.append(f"<h2>Tasks without a checked plan</h2><ul>{items}</ul>")
    return page("Fleet and policy sweep", "\n".join(parts))


def write_page(path: Path, rows: Sequence[Mapping[str, object]]) -> None:
    """Write sweep.html, atomically."""
    from pts_optimiser.io.tables import write_text

    write_text(path, sweep_html(rows))
