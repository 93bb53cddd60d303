"""Route maps with Folium: the only module that imports folium.

An overview with a layer per vehicle shift (a colour each) and one map per vehicle shift.
Maps open with no network: Leaflet is copied from `_vendor/` beside them, and no
background tiles are fetched unless a tile server is configured (tile requests would tell
a server which streets are being looked at). A slider plays the day, moving each vehicle
along its run; a panel shows one run, all or none.

Folium draws the map itself; what goes on it comes from one JSON block (safe.script_json:
nothing in it can close the script or start a template literal) and is put on the page by
a fixed script through textContent and DOM nodes, never as HTML: an id, label or vehicle
type holding markup or script shows as text and runs nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import folium

from pts_optimiser.domain.clock import format_clock
from pts_optimiser.domain.plan import Event, Plan, Roster, Stop
from pts_optimiser.domain.problem import Journey, Mobility
from pts_optimiser.domain.safe import clean, file_stems, html_text, script_json

LEAFLET_DIR = Path(__file__).resolve().parent.parent / "_vendor" / "leaflet"
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39",
           "#7b4173", "#3182bd", "#e6550d", "#31a354", "#756bb1", "#636363")
MOBILITY_WORD = {Mobility.SEATED: "seated", Mobility.WHEELCHAIR: "wheelchair",
                 Mobility.STRETCHER: "stretcher"}
PRIVATE_DECIMALS = 2  # about 1 km: shows the area a patient lives in, not the house
LEAFLET_JS = "leaflet.js"
LEAFLET_CSS = "leaflet.css"
OVERVIEW = "overview.html"


def _at_home(stop: Stop) -> bool:
    """True where a stop may be at a home: not at a named site, or a break (taken anywhere)."""
    if stop.event is Event.BREAK:
        return True
    if stop.journey is None:
        return False
    place = stop.journey.pickup if stop.event is Event.PICKUP else stop.journey.dropoff
    return not place.site


def _blur(lat: float, lon: float) -> tuple[float, float]:
    return round(lat, PRIVATE_DECIMALS), round(lon, PRIVATE_DECIMALS)


def _home_words(journey: Journey) -> str:
    """What a private map says instead of a home's label: the district, if booked."""
    district = dict(journey.extra).get("district", "").strip()
    return f"home ({district})" if district else "home"


def _shown(stop: Stop, privacy: bool) -> tuple[float, float]:
    """Where a stop is drawn: homes (and breaks) blurred when privacy is asked for."""
    if privacy and _at_home(stop):
        return _blur(stop.lat, stop.lon)
    return stop.lat, stop.lon


def _label(stop: Stop, privacy: bool) -> str:
    if privacy and _at_home(stop) and stop.journey is not None:
        return _home_words(stop.journey)
    return stop.label


def _booked(journey: Journey) -> str:
    if journey.appointment_min is not None:
        return f"appointment {format_clock(journey.appointment_min)}"
    if journey.ready_min is not None:
        return f"ready {format_clock(journey.ready_min)}"
    return ""


def _run(roster: Roster, colour: str, privacy: bool, page: str) -> dict[str, Any]:
    """One vehicle shift's run as the page's script draws it."""
    vehicle = roster.vehicle
    points = [_shown(s, privacy) for s in roster.stops]
    marks = []
    for seq, (stop, (lat, lon)) in enumerate(zip(roster.stops, points, strict=True)):
        journey = stop.journey
        if journey is None:
            continue
        what = "Collect" if stop.event is Event.PICKUP else "Drop off"
        travels = MOBILITY_WORD[journey.mobility] + (
            f", {journey.escorts} escort(s)" if journey.escorts else "")
        popup = [f"{seq}. {what} {journey.journey_id}", f"patient {journey.patient_id}",
                 f"{format_clock(stop.service_start_min)} {_label(stop, privacy)}",
                 travels, _booked(journey), f"vehicle {vehicle.vehicle_id}"]
        marks.append({"lat": lat, "lon": lon, "n": str(seq), "event": str(stop.event),
                      "popup": [clean(line) for line in popup if line]})
    return {"name": clean(f"{vehicle.vehicle_id} ({vehicle.vehicle_type}, "
                          f"{len(roster.journeys)} journeys)"),
            "id": clean(vehicle.vehicle_id), "colour": colour, "page": page,
            "line": [list(p) for p in points], "marks": marks,
            "stops": [[s.arrival_min, s.departure_min, lat, lon]
                      for s, (lat, lon) in zip(roster.stops, points, strict=True)]}


def _unassigned(plan: Plan, privacy: bool) -> list[dict[str, Any]]:
    found = []
    for item in plan.unassigned:
        journey = item.journey
        lat, lon = journey.pickup.lat, journey.pickup.lon
        if privacy and not journey.pickup.site:
            lat, lon = _blur(lat, lon)
        lines = [f"Not planned: {journey.journey_id}", f"patient {journey.patient_id}",
                 item.text]
        if item.fix:
            lines.append(f"would fit if: {item.fix}")
        found.append({"lat": lat, "lon": lon, "popup": [clean(line) for line in lines]})
    return found


def _bounds(runs: Sequence[dict[str, Any]], unassigned: Sequence[dict[str, Any]],
            plan: Plan) -> list[list[float]]:
    """The box around what is drawn, from the points as drawn (blurred ones when private)."""
    points = [p for run in runs for p in run["line"]]
    points += [[u["lat"], u["lon"]] for u in unassigned]
    if not points:
        points = [[s.lat, s.lon] for s in plan.problem.sites.values()] or [[53.0, -1.5]]
    lats, lons = [p[0] for p in points], [p[1] for p in points]
    return [[min(lats), min(lons)], [max(lats), max(lons)]]


_STYLE = """<style>
.leaflet-container{background:#eef2f5}
.stopicon{border-radius:50%;width:18px;height:18px;text-align:center;
 font:bold 10px sans-serif;line-height:18px;color:#fff;border:2px solid #fff;overflow:hidden}
.stopicon.dropoff{background:#fff!important;color:#000;border-style:dashed}
.siteicon{width:9px;height:9px;background:#c53030;border:1px solid #fff}
.siteicon.station{background:#2d3748}
.runpanel{background:#fff;padding:6px 8px;border-radius:6px;font:12px sans-serif;
 box-shadow:0 1px 4px #888;max-width:300px}
.runpanel select,.runpanel button{font:12px sans-serif;margin:2px 2px 2px 0}
.runpanel .list{max-height:45vh;overflow:auto;margin-top:4px}
.runpanel label{display:block;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.runpanel .swatch{display:inline-block;width:10px;height:10px;margin-right:4px}
.runpanel.folded .body{display:none}
</style>"""

_LEGEND = (
    '<div style="position:fixed;top:90px;left:12px;z-index:1000;background:#fff;'
    'padding:6px 8px;border-radius:6px;font:12px sans-serif;box-shadow:0 1px 4px #888">'
    "numbers: stop order on the run<br>"
    "filled: collect &middot; white, dashed: drop off<br>"
    '<span style="color:#c53030">&#9632;</span> hospital &middot; '
    '<span style="color:#2d3748">&#9632;</span> station &middot; '
    '<span style="color:#c53030">&#9675;</span> not planned</div>')

# The page's one script. It reads the data block and builds every marker, popup, tooltip
# and control with DOM nodes and textContent; no text from the data is parsed as HTML.
_SCRIPT = """
window.addEventListener('load', function() {
  var data = JSON.parse(document.getElementById('pts-data').textContent);
  var map = __MAP__;
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function lines(list) {
    var box = el('div');
    list.forEach(function(t, i) { box.appendChild(el(i ? 'div' : 'b', null, t));
                                  if (!i) box.appendChild(el('br')); });
    return box;
  }
  function icon(node, size) {
    return L.divIcon({html: node, className: '', iconSize: [size, size],
                      iconAnchor: [size / 2, size / 2]});
  }
  var layers = [];
  var sites = L.featureGroup();
  data.sites.forEach(function(s) {
    var square = el('div', s.station ? 'siteicon station' : 'siteicon');
    L.marker([s.lat, s.lon], {icon: icon(square, 9)})
      .bindPopup(lines([s.name, s.kind])).addTo(sites);
  });
  layers.push({name: 'Stations and hospitals', group: sites, colour: '#2d3748', run: false});
  data.runs.forEach(function(run) {
    var g = L.featureGroup();
    L.polyline(run.line, {color: run.colour, weight: 3, opacity: 0.7}).addTo(g);
    run.marks.forEach(function(m) {
      var node = el('div', 'stopicon ' + m.event, m.n);
      node.style.background = run.colour;
      node.style.borderColor = run.colour;
      L.marker([m.lat, m.lon], {icon: icon(node, 22)}).bindPopup(lines(m.popup)).addTo(g);
    });
    layers.push({name: run.name, group: g, colour: run.colour, run: run});
  });
  if (data.unassigned) {
    var left = L.featureGroup();
    data.unassigned.forEach(function(u) {
      L.circleMarker([u.lat, u.lon], {radius: 7, color: '#c53030', fill: true,
                                      fillOpacity: 0.3}).bindPopup(lines(u.popup)).addTo(left);
    });
    layers.push({name: 'Not planned (' + data.unassigned.length + ')', group: left,
                 colour: '#c53030', run: false});
  }
  var dots = [];
  function refresh() {
    layers.forEach(function(l) {
      if (l.box.checked) { l.group.addTo(map); } else { map.removeLayer(l.group); }
    });
    dots.forEach(function(d) {
      if (d.layer.box.checked) { d.marker.addTo(map); } else { map.removeLayer(d.marker); }
    });
  }
  var Panel = L.Control.extend({options: {position: 'topright'}, onAdd: function() {
    var box = el('div', 'runpanel');
    var fold = el('button', null, 'Runs (' + data.runs.length + ')');
    fold.title = 'fold or unfold this panel';
    fold.addEventListener('click', function() { box.classList.toggle('folded'); });
    box.appendChild(fold);
    var body = el('div', 'body');
    var pick = el('select');
    pick.appendChild(el('option', null, 'Show one run...')).value = '';
    data.runs.forEach(function(run, k) {
      pick.appendChild(el('option', null, run.name)).value = String(k); });
    pick.addEventListener('change', function() {
      if (pick.value === '') return;
      var chosen = data.runs[parseInt(pick.value, 10)];
      layers.forEach(function(l) { if (l.run) l.box.checked = (l.run === chosen); });
      refresh();
      map.fitBounds(layers.filter(function(l) { return l.run === chosen; })[0].group.getBounds(),
                    {padding: [20, 20], animate: false});
    });
    if (data.runs.length > 1) body.appendChild(pick);
    var all = el('button', null, 'Show all'), none = el('button', null, 'Hide all');
    all.addEventListener('click', function() {
      layers.forEach(function(l) { l.box.checked = true; }); pick.value = ''; refresh(); });
    none.addEventListener('click', function() {
      layers.forEach(function(l) { if (l.run) l.box.checked = false; }); pick.value = '';
      refresh(); });
    if (data.runs.length > 1) body.appendChild(el('br'));
    body.appendChild(all); body.appendChild(none);
    var list = el('div', 'list');
    layers.forEach(function(l) {
      var row = el('label'), tick = el('input'), swatch = el('span', 'swatch');
      tick.type = 'checkbox'; tick.checked = true;
      tick.addEventListener('change', refresh);
      swatch.style.background = l.colour;
      row.appendChild(tick); row.appendChild(swatch); row.appendChild(el('span', null, l.name));
      if (l.run && data.runs.length > 1) {
        var own = el('a', null, ' map');
        own.href = l.run.page;  // a file name made of letters, digits, - and _ only
        own.title = 'this run on its own map';
        row.appendChild(own);
      }
      row.title = l.name;
      l.box = tick;
      list.appendChild(row);
    });
    body.appendChild(list);
    if (data.overview) {
      var back = el('a', null, 'All runs (overview)');
      back.href = data.overview;
      body.appendChild(back);
    }
    box.appendChild(body);
    if (data.folded) box.classList.add('folded');
    L.DomEvent.disableClickPropagation(box);
    L.DomEvent.disableScrollPropagation(box);
    return box;
  }});
  new Panel().addTo(map);
  map.fitBounds(data.bounds, {padding: [10, 10]});
  var runs = layers.filter(function(l) { return l.run; });
  runs.forEach(function(l) {
    var s = l.run.stops[0];
    var marker = L.circleMarker([s[2], s[3]], {radius: 7, color: '#000', weight: 1,
      fillColor: l.run.colour, fillOpacity: 1}).bindTooltip(el('span', null, l.run.id));
    dots.push({marker: marker, layer: l, stops: l.run.stops});
  });
  refresh();
  function where(stops, t) {
    if (t <= stops[0][1]) return [stops[0][2], stops[0][3]];
    for (var i = 1; i < stops.length; i++) {
      var a = stops[i - 1], b = stops[i];
      if (t <= b[0]) {
        var f = (t - a[1]) / Math.max(1, b[0] - a[1]);
        return [a[2] + f * (b[2] - a[2]), a[3] + f * (b[3] - a[3])];
      }
      if (t <= b[1]) return [b[2], b[3]];
    }
    var z = stops[stops.length - 1];
    return [z[2], z[3]];
  }
  var input = document.getElementById('daytime');
  if (!input) return;
  var clock = document.getElementById('dayclock');
  var first = data.day[0], last = data.day[1];
  function show() {
    var t = parseInt(input.value, 10);
    clock.textContent = ('0' + Math.floor(t / 60)).slice(-2) + ':' + ('0' + t % 60).slice(-2);
    dots.forEach(function(d) { d.marker.setLatLng(where(d.stops, t)); });
  }
  input.addEventListener('input', show);
  var timer = null;
  document.getElementById('dayplay').addEventListener('click', function() {
    if (timer) { clearInterval(timer); timer = null; this.textContent = 'Play'; return; }
    this.textContent = 'Pause';
    timer = setInterval(function() {
      var t = parseInt(input.value, 10) + 5;
      if (t > last) t = first;
      input.value = t; show();
    }, 100);
  });
  show();
});
"""


def _slider_html(first: int, last: int) -> str:
    return (f'<div id="dayslider" style="position:fixed;bottom:18px;left:50%;z-index:1000;'
            f'transform:translateX(-50%);'
            f'background:#fff;padding:6px 10px;border-radius:6px;font:13px sans-serif;'
            f'box-shadow:0 1px 4px #888"><button id="dayplay">Play</button> '
            f'<input id="daytime" type="range" min="{first}" max="{last}" value="{first}" '
            f'style="width:320px;vertical-align:middle"> <span id="dayclock"></span></div>')


class _Literal(folium.Element):
    """A folium element that places its markup as it is.

    folium compiles an Element's text as a Jinja template: a `{{ ... }}` in a booking's
    label, a site's name or a vehicle id ran as Python when the map was drawn (on the
    board's server too, at Publish), and a stray `{{` stopped the plan being written.
    Here the template is fixed and the markup only its value. Until the thirty-seventh
    stop the markup was the template.
    """

    def __init__(self, markup: str) -> None:
        super().__init__("{{ this.markup }}")
        self.markup = markup


def _render(plan: Plan, rosters: Sequence[Roster], colours: Sequence[str], privacy: bool,
            tiles: str, tiles_credit: str, with_unassigned: bool, title: str,
            stems: Mapping[str, str]) -> str:
    runs = [_run(r, colour, privacy, f"{stems[r.vehicle.vehicle_id]}.html")
            for r, colour in zip(rosters, colours, strict=True)]
    unassigned = _unassigned(plan, privacy) if with_unassigned else []
    bounds = _bounds(runs, unassigned, plan)
    centre = ((bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2)
    # Quarter zoom steps: a whole step often leaves a county day in a third of the window.
    fmap = folium.Map(location=centre, zoom_start=10, tiles=None, control_scale=True,
                      zoom_snap=0.25, zoom_delta=0.5)
    # Leaflet from the copy beside the map, not the CDN links folium would add.
    fmap.default_js = [("leaflet", LEAFLET_JS)]
    fmap.default_css = [("leaflet_css", LEAFLET_CSS)]
    if tiles:
        # Leaflet shows the credit as HTML; it comes from a policy file (a night's inbox),
        # so as text (until 2026-12-07 `<img onerror=...>` there ran in the page).
        folium.TileLayer(tiles=tiles, attr=html_text(tiles_credit or "map tiles"),
                         name="background", control=False).add_to(fmap)
    sites = [{"lat": s.lat, "lon": s.lon, "name": clean(s.name), "kind": clean(s.kind),
              "station": s.kind == "station"} for s in plan.problem.sites.values()]
    data: dict[str, Any] = {"runs": runs, "sites": sites, "bounds": bounds,
                            "unassigned": unassigned if with_unassigned else None,
                            "folded": len(runs) > 30, "day": None,
                            "overview": None if with_unassigned else OVERVIEW}
    root: Any = fmap.get_root()  # a branca Figure: header, html and script sections
    root.header.add_child(_Literal(f"<title>{html_text(title)}</title>"), name="title")
    root.header.add_child(_Literal(_STYLE), name="pts_style")
    root.html.add_child(_Literal(_LEGEND))
    if rosters:
        first = min(r.stops[0].departure_min for r in rosters)
        last = max(r.stops[-1].arrival_min for r in rosters)
        data["day"] = [first, last]
        root.html.add_child(_Literal(_slider_html(first, last)))
    root.html.add_child(_Literal(
        f'<script type="application/json" id="pts-data">{script_json(data)}</script>'))
    # Run once the page has loaded: folium defines the map after this script is placed.
    root.script.add_child(_Literal(_SCRIPT.replace("__MAP__", fmap.get_name())))
    html: str = root.render()
    return html


def maps(plan: Plan, privacy: bool = False, tiles: str = "", tiles_credit: str = ""
         ) -> dict[str, str]:
    """File name to text: `overview.html`, one map per used vehicle shift, and Leaflet."""
    used = [r for r in plan.rosters if r.used]
    index = {r.vehicle.vehicle_id: i for i, r in enumerate(plan.rosters)}
    colours = [PALETTE[index[r.vehicle.vehicle_id] % len(PALETTE)] for r in used]
    stems = file_stems(r.vehicle.vehicle_id for r in used)
    date = plan.problem.service_date or "service day"
    pages = {OVERVIEW: _render(plan, used, colours, privacy, tiles, tiles_credit, True,
                               f"Route maps {date}", stems),
             LEAFLET_JS: (LEAFLET_DIR / LEAFLET_JS).read_text(encoding="utf-8"),
             LEAFLET_CSS: (LEAFLET_DIR / LEAFLET_CSS).read_text(encoding="utf-8")}
    for roster, colour in zip(used, colours, strict=True):
        pages[f"{stems[roster.vehicle.vehicle_id]}.html"] = _render(
            plan, [roster], [colour], privacy, tiles, tiles_credit, False,
            f"Route map {roster.vehicle.vehicle_id} {date}", stems)
    return pages
