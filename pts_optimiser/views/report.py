"""The KPI report: one self-contained HTML page (inline SVG charts, no scripts to fetch).

Charts where a person would rather look, tables where they would rather read. The
figures behind it are embedded as JSON so they can be checked against the plan.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pts_optimiser.domain.clock import format_clock
from pts_optimiser.domain.plan import Plan
from pts_optimiser.domain.safe import html_text, script_json
from pts_optimiser.views.kpi import figures
from pts_optimiser.views.runsheets import page

BAR = "#2b6cb0"
MET = "#2f855a"
MISSED = "#c53030"
PARTLY = "#d69e2e"
FUEL_COLOURS = {"diesel": "#4a5568", "petrol": "#dd6b20", "hybrid": "#805ad5",
                "electric": "#38a169"}


def _bars(values: Mapping[str, float], unit: str = "", colour: str = BAR,
          colours: Mapping[str, str] | None = None) -> str:
    """A horizontal bar chart."""
    if not values:
        return "<p>None.</p>"
    width, row, label_w = 640, 24, 200
    top = max(values.values()) or 1
    parts = [f'<svg viewBox="0 0 {width} {row * len(values) + 8}" width="{width}" '
             f'role="img">']
    for i, (name, value) in enumerate(values.items()):
        y = 4 + i * row
        length = (width - label_w - 90) * value / top
        fill = (colours or {}).get(name, colour)
        parts.append(f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end" '
                     f'font-size="12">{html_text(name)}</text>'
                     f'<rect x="{label_w}" y="{y}" width="{length:.1f}" height="{row - 6}" '
                     f'fill="{fill}"/><text x="{label_w + length + 4:.1f}" y="{y + 15}" '
                     f'font-size="12">{value:,.1f}{unit}</text>'.replace(".0<", "<"))
    parts.append("</svg>")
    return "".join(parts)


def _histogram(values: Sequence[int], limit: int, bin_min: int = 10) -> str:
    """Counts per band of minutes: within the limit green, past it red, straddling amber."""
    if not values:
        return "<p>No journeys.</p>"
    low = min(0, min(values))
    top_band = max(values) // bin_min + 1
    bands = list(range(low // bin_min, top_band))
    counts = [sum(b * bin_min <= v < (b + 1) * bin_min for v in values) for b in bands]
    width, height, bar_w = 640, 140, max(4, 600 // max(1, len(bands)))
    most = max(counts) or 1
    parts = [f'<svg viewBox="0 0 {width} {height + 30}" width="{width}" role="img">']
    for i, (band, count) in enumerate(zip(bands, counts, strict=True)):
        h = (height - 10) * count / most
        start_min, end_min = band * bin_min, (band + 1) * bin_min - 1
        colour = MET if end_min <= limit else MISSED if start_min > limit else PARTLY
        parts.append(f'<rect x="{20 + i * bar_w}" y="{height - h:.1f}" width="{bar_w - 1}" '
                     f'height="{h:.1f}" fill="{colour}"><title>{band * bin_min}-'
                     f'{(band + 1) * bin_min} min: {count}</title></rect>')
        if i % max(1, len(bands) // 8) == 0:
            parts.append(f'<text x="{20 + i * bar_w}" y="{height + 16}" font-size="11">'
                         f'{band * bin_min}</text>')
    parts.append(f'<text x="{width - 4}" y="{height + 28}" text-anchor="end" font-size="11">'
                 f"minutes</text></svg>")
    return "".join(parts)


def _gantt(shifts: Sequence[Mapping[str, Any]]) -> str:
    """Every used shift over the day: shift hours, time out, time with patients, breaks."""
    if not shifts:
        return "<p>No vehicle used.</p>"
    start: int = min(s["shift"][0] for s in shifts) // 60 * 60
    end: int = -(-max(s["shift"][1] for s in shifts) // 60) * 60
    width, row, label_w = 900, 12, 70
    scale = (width - label_w - 10) / max(1, end - start)

    def x(minute: int) -> float:
        return label_w + (minute - start) * scale

    parts = [f'<svg viewBox="0 0 {width} {row * len(shifts) + 30}" width="{width}" role="img">']
    for hour in range(start, end + 1, 60):
        parts.append(f'<line x1="{x(hour):.1f}" x2="{x(hour):.1f}" y1="0" '
                     f'y2="{row * len(shifts)}" stroke="#ddd"/><text x="{x(hour):.1f}" '
                     f'y="{row * len(shifts) + 14}" font-size="10" text-anchor="middle">'
                     f"{format_clock(hour)[:2]}</text>")
    for i, shift in enumerate(shifts):
        y = i * row
        parts.append(f'<text x="{label_w - 4}" y="{y + 9}" font-size="9" text-anchor="end">'
                     f'{html_text(shift["vehicle_id"])}</text>')
        spans = [(shift["shift"], "#edf2f7", 0), (shift["out"], "#a0aec0", 1)]
        spans += [(span, BAR, 2) for span in shift["busy"]]
        spans += [(span, "#ecc94b", 2) for span in shift["breaks"]]
        for (a, b), colour, inset in spans:
            parts.append(f'<rect x="{x(a):.1f}" y="{y + inset}" width="{(b - a) * scale:.1f}" '
                         f'height="{row - 1 - 2 * inset}" fill="{colour}"/>')
    parts.append("</svg>")
    return "".join(parts)


def share_html(standard: Mapping[str, Any]) -> str:
    """A standard's share of its journeys, green where it meets its target, red where not.

    For a standard with journeys (`pct` set): the report's and the week report's form.
    """
    pct = standard["pct"]
    colour = MET if pct >= standard["target_pct"] else MISSED
    return (f'<b style="color:{colour}">{pct:.1f}%</b> of {standard["journeys"]} '
            f'(target {standard["target_pct"]}%)')


def _patients_headline(facts: Mapping[str, Any]) -> str:
    """The first section: patients served whole, patients left, the standards' shares."""
    people = facts["patients"]
    left = people["needing_another_way_back"]
    colour = MET if people["left_somewhere"] == 0 else MISSED
    parts = [f"<p><b>{people['fully_served']}</b> of {people['servable_alone']} patients "
             "fully served: every journey of their day planned (of the "
             f"{people['total']} patients booked, {people['servable_alone']} have no journey "
             "that no vehicle or shift could ever carry). "
             f'<b style="color:{colour}">{people["left_somewhere"]}</b> left somewhere: '
             "taken there with no journey back planned.</p>"]
    if left:
        if people["outward_without_return_allowed"]:
            why = ("The policy allows an outward journey without its return: each of these "
                   "patients needs another way back.")
        elif facts.get("replanned_at"):
            # As the checker judges it (a warning): the patient was out before the call.
            why = (f"The re-plan at {html_text(facts['replanned_at'])} could not keep their "
                   "ride back, after they had been taken there: each of these patients needs "
                   "another way back, now.")
        else:
            why = "The policy does not allow this: the plan breaks a rule."
        rows = "".join(f"<tr><td>{html_text(item['patient_id'])}</td>"
                       f"<td>{html_text(item['outward_id'])}</td>"
                       f"<td>{html_text(item['return_id'])}</td>"
                       f"<td>{html_text(item['district'])}</td></tr>" for item in left)
        parts.append(f"<h3>Needing another way back</h3><p>{why}</p><table><tr><th>Patient"
                     "</th><th>Taken there by</th><th>Journey back, not planned</th>"
                     f"<th>District</th></tr>{rows}</table>")
    cells = []
    for standard in facts["standards"].values():
        pct = standard["pct"]
        if pct is None:
            share, verdict = "-", "no journeys"
        else:
            met = pct >= standard["target_pct"]
            share = f'<b style="color:{MET if met else MISSED}">{pct:.1f}%</b>'
            verdict = "met" if met else "missed"
        cells.append(f"<tr><td>{html_text(standard['title'])}</td><td>{share}</td>"
                     f"<td>{standard['target_pct']}%</td><td>{verdict}</td>"
                     f"<td>{standard['journeys']}</td></tr>")
    parts.append("<table><tr><th>Clinical standard</th><th>Share</th><th>Target</th>"
                 f"<th></th><th>Journeys planned it applies to</th></tr>{''.join(cells)}</table>")
    return "".join(parts)


def _district_table(facts: Mapping[str, Any]) -> str:
    standards = facts["standards"]
    head = "".join(f"<th>{html_text(s['title'])}</th>" for s in standards.values())
    rows = []
    for district, values in facts["by_district"].items():
        cells = []
        for key, standard in standards.items():
            pct = values[key]
            if pct is None:
                cells.append("<td>-</td>")
            else:
                colour = MET if pct >= standard["target_pct"] else MISSED
                cells.append(f'<td style="color:{colour}">{pct:.0f}%</td>')
        people = values["patients"]
        rows.append(f"<tr><td>{html_text(district)}</td><td>{people['total']}</td>"
                    f"<td>{people['fully_served']}</td><td>{people['left_somewhere']}</td>"
                    f"<td>{values['served']}</td>{''.join(cells)}</tr>")
    return ("<table><tr><th>District</th><th>Patients</th><th>Fully served</th>"
            f"<th>Left somewhere</th><th>Journeys served</th>{head}</tr>{''.join(rows)}"
            "</table>")


def _gaps_html(facts: Mapping[str, Any]) -> str:
    """The gap between the best-served and worst-served district, figure by figure."""
    titles = {"patients_fully_served": "Patients fully served (of those who could be)"}
    titles |= {key: s["title"] for key, s in facts["standards"].items()}
    rows = []
    for key, gap in facts["district_gaps"].items():
        if gap is None:
            continue
        high, low = gap["highest"], gap["lowest"]
        if high["pct"] == low["pct"]:
            ends = f'<td colspan="2">every district {high["pct"]:.1f}%</td>'
        else:
            ends = (f"<td>{html_text(high['district'])} {high['pct']:.1f}%</td>"
                    f"<td>{html_text(low['district'])} {low['pct']:.1f}%</td>")
        rows.append(f"<tr><td>{html_text(titles[key])}</td><td>{gap['gap_pts']:.1f}</td>"
                    f"{ends}</tr>")
    if not rows:
        return "<h3>Between districts</h3><p>Fewer than two districts to compare.</p>"
    return ("<h3>Between districts</h3><p>The gap, in percentage points, between the "
            "district served best and the one served worst (districts with no patient or "
            "journey the figure counts are left out).</p><table><tr><th>Figure</th>"
            "<th>Gap (points)</th><th>Highest</th><th>Lowest</th></tr>"
            f"{''.join(rows)}</table>")


def report_html(plan: Plan) -> str:
    """The whole KPI report page."""
    facts = figures(plan)
    standards_html = []
    for standard in facts["standards"].values():
        verdict = "no journeys" if standard["pct"] is None else share_html(standard)
        standards_html.append(f"<h3>{html_text(standard['title'])}</h3><p>{verdict}</p>"
                              f"{_histogram(standard['values_min'], standard['limit_min'])}")
    saved = facts["co2_saved_by_electric_kg"]
    km_total = sum(facts["km_by_fuel"].values())
    co2_total = sum(facts["co2_kg_by_fuel"].values())
    body = f"""
<h1>Plan report: {html_text(facts['service_date'] or 'service day')}</h1>
<h2>Patients</h2>
{_patients_headline(facts)}
<h2>Journeys</h2>
<p><b>{facts['served']}</b> of {facts['journeys']} journeys planned on
<b>{facts['vehicles_used']}</b> of {facts['vehicles_available']} vehicle shifts;
{km_total:,.0f} km; {co2_total:,.0f} kg CO2e.</p>
<h3>Journeys served, by purpose</h3>{_bars(facts['served_by_purpose'])}
<h3>Journeys not planned, by reason</h3>{_bars(facts['unassigned_by_reason'], colour=MISSED)}
<h2>Clinical standards</h2>
<p>Share of the planned journeys a standard applies to that meet it (a journey not
planned is counted above, by reason, not here); green bands meet it, red ones miss it,
amber ones straddle the limit.</p>
{''.join(standards_html)}
<h2>Time on board, all journeys</h2>{_histogram(facts['on_board_min'], 60)}
<h2>Vehicle use over the day</h2>
<p>Light: the shift; grey: out of base; blue: patients on board; yellow: crew break.</p>
{_gantt(facts['shifts'])}
<h2>Distance and carbon, by fuel</h2>
{_bars(facts['km_by_fuel'], ' km', colours=FUEL_COLOURS)}
{_bars(facts['co2_kg_by_fuel'], ' kg', colours=FUEL_COLOURS)}
<p>The electric cars saved about <b>{saved:,.0f} kg CO2e</b> against the same km in
petrol cars.</p>
<h2>Patients and standards by district</h2>{_district_table(facts)}
{_gaps_html(facts)}
<script type="application/json" id="figures">{script_json(facts)}</script>
"""
    return page(f"Plan report {facts['service_date']}", body)
