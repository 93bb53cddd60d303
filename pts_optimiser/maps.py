"""Route maps with Folium: the only module that imports folium.

An overview with a layer per vehicle shift (a colour each) and one map per vehicle shift.
Maps open with no network: Leaflet is copied from `_vendor/` beside them, and no
background tiles are fetched unless a tile server is configured (tile requests would tell
a server which streets are being looked at). A slider plays the day, moving each vehicle
along its run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

import folium

from pts_optimiser.parse import format_clock
from pts_optimiser.plan import Event, Plan, Roster, Stop
from pts_optimiser.problem import Mobility
from pts_optimiser.tables import file_stem

_VENDOR = Path(__file__).resolve().parent / "_vendor" / "leaflet"
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39",
           "#7b4173", "#3182bd", "#e6550d", "#31a354", "#756bb1", "#636363")
MOBILITY_LETTER = {Mobility.SEATED: "S", Mobility.WHEELCHAIR: "W", Mobility.STRETCHER: "T"}
PRIVATE_DECIMALS = 2  # about 1 km: shows the area a patient lives in, not the house
LEAFLET_JS = "leaflet.js"
LEAFLET_CSS = "leaflet.css"


def _shown(stop: Stop, privacy: bool) -> tuple[float, float]:
    """Where a stop is drawn: homes (no site code) blurred when privacy is asked for."""
    at_site = stop.journey is None or bool(
        (stop.journey.pickup if stop.event is Event.PICKUP else stop.journey.dropoff).site)
    if privacy and not at_site:
        return round(stop.lat, PRIVATE_DECIMALS), round(stop.lon, PRIVATE_DECIMALS)
    return stop.lat, stop.lon


def _new_map(plan: Plan, centre: tuple[float, float], tiles: str, tiles_credit: str
             ) -> folium.Map:
    fmap = folium.Map(location=centre, zoom_start=10, tiles=None, control_scale=True)
    # Leaflet from the copy beside the map, not the CDN links folium would add.
    fmap.default_js = [("leaflet", LEAFLET_JS)]
    fmap.default_css = [("leaflet_css", LEAFLET_CSS)]
    root: Any = fmap.get_root()
    # folium's popups build their content with jQuery's $(html)[0], and only that: a
    # one-line stand-in keeps the page free of a fetched jQuery.
    root.header.add_child(folium.Element(
        "<script>window.$=window.$||function(h){var t=document.createElement('template');"
        "t.innerHTML=h.trim();return [t.content.firstChild];};</script>"), name="dollar")
    root.header.add_child(folium.Element(
        "<style>.leaflet-container{background:#eef2f5}.stopicon{border-radius:50%;"
        "width:18px;height:18px;line-height:18px;text-align:center;font:bold 10px sans-serif;"
        "color:#fff;border:2px solid #fff}.stopicon.dropoff{background:#fff!important;"
        "color:#000;border-style:dashed}</style>"), name="stop_style")
    if tiles:
        folium.TileLayer(tiles=tiles, attr=tiles_credit or "map tiles", name="background",
                         control=False).add_to(fmap)
    return fmap


def _sites_layer(plan: Plan) -> folium.FeatureGroup:
    layer = folium.FeatureGroup(name="Stations and hospitals", show=True)
    for site in plan.problem.sites.values():
        colour = "#2d3748" if site.kind == "station" else "#c53030"
        # A square: Leaflet's own DivIcon (folium's polygon markers fetch a plugin).
        icon = folium.DivIcon(html=f'<div style="width:9px;height:9px;background:{colour};'
                                   'border:1px solid #fff"></div>',
                              icon_size=(9, 9), icon_anchor=(5, 5))
        folium.Marker((site.lat, site.lon), icon=icon,
                      popup=folium.Popup(escape(f"{site.name} ({site.kind})"), max_width=250),
                      ).add_to(layer)
    return layer


def _vehicle_layer(roster: Roster, colour: str, privacy: bool) -> folium.FeatureGroup:
    vehicle = roster.vehicle
    layer = folium.FeatureGroup(name=f"{vehicle.vehicle_id} ({vehicle.vehicle_type}, "
                                     f"{len(roster.journeys)} journeys)")
    points = [_shown(s, privacy) for s in roster.stops]
    folium.PolyLine(points, color=colour, weight=3, opacity=0.7).add_to(layer)
    for stop, point in zip(roster.stops, points, strict=True):
        if stop.journey is None:
            continue
        journey = stop.journey
        what = "Collect" if stop.event is Event.PICKUP else "Drop off"
        popup = (f"<b>{what} {escape(journey.journey_id)}</b><br>patient "
                 f"{escape(journey.patient_id)}<br>{format_clock(stop.service_start_min)} "
                 f"{escape(stop.label)}<br>{journey.mobility}"
                 f"{f', {journey.escorts} escort(s)' if journey.escorts else ''}<br>"
                 f"vehicle {escape(vehicle.vehicle_id)}")
        icon = folium.DivIcon(
            html=f'<div class="stopicon {stop.event}" style="background:{colour};'
                 f'border-color:{colour}">{MOBILITY_LETTER[journey.mobility]}</div>',
            icon_size=(22, 22), icon_anchor=(11, 11))
        folium.Marker(point, icon=icon, popup=folium.Popup(popup, max_width=260)).add_to(layer)
    return layer


def _unassigned_layer(plan: Plan, privacy: bool) -> folium.FeatureGroup:
    layer = folium.FeatureGroup(name=f"Not planned ({len(plan.unassigned)})")
    for item in plan.unassigned:
        journey = item.journey
        lat, lon = journey.pickup.lat, journey.pickup.lon
        if privacy and not journey.pickup.site:
            lat, lon = round(lat, PRIVATE_DECIMALS), round(lon, PRIVATE_DECIMALS)
        folium.CircleMarker(
            (lat, lon), radius=7, color="#c53030", fill=True, fill_opacity=0.3,
            popup=folium.Popup(f"<b>{escape(journey.journey_id)}</b> patient "
                               f"{escape(journey.patient_id)}<br>{escape(item.text)}",
                               max_width=300)).add_to(layer)
    return layer


def _slider(fmap: folium.Map, rosters: Sequence[Roster], colours: Sequence[str],
            privacy: bool) -> None:
    """A time slider that moves every vehicle along its run; Play runs the day."""
    runs = [{"id": r.vehicle.vehicle_id, "colour": colour,
             "stops": [[s.arrival_min, s.departure_min, *_shown(s, privacy)] for s in r.stops]}
            for r, colour in zip(rosters, colours, strict=True)]
    if not runs:
        return
    first = min(r.stops[0].departure_min for r in rosters)
    last = max(r.stops[-1].arrival_min for r in rosters)
    name = fmap.get_name()
    root: Any = fmap.get_root()  # a branca Figure: header, html and script sections
    root.html.add_child(folium.Element(
        f'<div id="dayslider" style="position:fixed;bottom:18px;left:60px;z-index:1000;'
        f'background:#fff;padding:6px 10px;border-radius:6px;font:13px sans-serif;'
        f'box-shadow:0 1px 4px #888"><button id="dayplay">Play</button> '
        f'<input id="daytime" type="range" min="{first}" max="{last}" value="{first}" '
        f'style="width:320px;vertical-align:middle"> <span id="dayclock"></span></div>'))
    # Run once the page has loaded: folium defines the map after this script is placed.
    root.script.add_child(folium.Element(f"""
window.addEventListener('load', function() {{
  var runs = {json.dumps(runs)};
  var map = {name};
  var dots = runs.map(function(run) {{
    return L.circleMarker([run.stops[0][2], run.stops[0][3]], {{radius: 7, color: '#000',
      weight: 1, fillColor: run.colour, fillOpacity: 1}}).bindTooltip(run.id).addTo(map);
  }});
  function where(stops, t) {{
    if (t <= stops[0][1]) return [stops[0][2], stops[0][3]];
    for (var i = 1; i < stops.length; i++) {{
      var a = stops[i - 1], b = stops[i];
      if (t <= b[0]) {{
        var f = (t - a[1]) / Math.max(1, b[0] - a[1]);
        return [a[2] + f * (b[2] - a[2]), a[3] + f * (b[3] - a[3])];
      }}
      if (t <= b[1]) return [b[2], b[3]];
    }}
    var z = stops[stops.length - 1];
    return [z[2], z[3]];
  }}
  var input = document.getElementById('daytime');
  var clock = document.getElementById('dayclock');
  function show() {{
    var t = parseInt(input.value, 10);
    clock.textContent = ('0' + Math.floor(t / 60)).slice(-2) + ':' + ('0' + t % 60).slice(-2);
    runs.forEach(function(run, k) {{ dots[k].setLatLng(where(run.stops, t)); }});
  }}
  input.addEventListener('input', show);
  var timer = null;
  document.getElementById('dayplay').addEventListener('click', function() {{
    if (timer) {{ clearInterval(timer); timer = null; this.textContent = 'Play'; return; }}
    this.textContent = 'Pause';
    timer = setInterval(function() {{
      var t = parseInt(input.value, 10) + 5;
      if (t > {last}) t = {first};
      input.value = t; show();
    }}, 100);
  }});
  show();
}});
"""))


_LEGEND = (
    '<div style="position:fixed;top:90px;left:12px;z-index:1000;background:#fff;'
    'padding:6px 8px;border-radius:6px;font:12px sans-serif;box-shadow:0 1px 4px #888">'
    '<b>S</b> seated &middot; <b>W</b> wheelchair &middot; <b>T</b> stretcher<br>'
    'filled: collect &middot; white, dashed: drop off<br>'
    '<span style="color:#c53030">&#9632;</span> hospital &middot; '
    '<span style="color:#2d3748">&#9632;</span> station &middot; '
    '<span style="color:#c53030">&#9675;</span> not planned</div>')


def _bounds(rosters: Sequence[Roster], plan: Plan) -> list[list[float]]:
    lats = [s.lat for r in rosters for s in r.stops] + [u.journey.pickup.lat
                                                         for u in plan.unassigned]
    lons = [s.lon for r in rosters for s in r.stops] + [u.journey.pickup.lon
                                                         for u in plan.unassigned]
    if not lats:
        lats = [s.lat for s in plan.problem.sites.values()] or [53.0]
        lons = [s.lon for s in plan.problem.sites.values()] or [-1.5]
    return [[min(lats), min(lons)], [max(lats), max(lons)]]


def _render(plan: Plan, rosters: Sequence[Roster], privacy: bool, tiles: str,
            tiles_credit: str, with_unassigned: bool) -> str:
    bounds = _bounds(rosters, plan)
    centre = ((bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2)
    fmap = _new_map(plan, centre, tiles, tiles_credit)
    _sites_layer(plan).add_to(fmap)
    index = {r.vehicle.vehicle_id: i for i, r in enumerate(plan.rosters)}
    colours = [PALETTE[index[r.vehicle.vehicle_id] % len(PALETTE)] for r in rosters]
    for roster, colour in zip(rosters, colours, strict=True):
        _vehicle_layer(roster, colour, privacy).add_to(fmap)
    if with_unassigned:
        _unassigned_layer(plan, privacy).add_to(fmap)
    folium.LayerControl(collapsed=len(rosters) > 12).add_to(fmap)
    root: Any = fmap.get_root()
    root.html.add_child(folium.Element(_LEGEND))
    fmap.fit_bounds(bounds)
    _slider(fmap, rosters, colours, privacy)
    html: str = fmap.get_root().render()
    return html


def maps(plan: Plan, privacy: bool = False, tiles: str = "", tiles_credit: str = ""
         ) -> dict[str, str]:
    """File name to text: `overview.html`, one map per used vehicle shift, and Leaflet."""
    used = [r for r in plan.rosters if r.used]
    pages = {"overview.html": _render(plan, used, privacy, tiles, tiles_credit, True),
             LEAFLET_JS: (_VENDOR / LEAFLET_JS).read_text(encoding="utf-8"),
             LEAFLET_CSS: (_VENDOR / LEAFLET_CSS).read_text(encoding="utf-8")}
    for roster in used:
        pages[f"{file_stem(roster.vehicle.vehicle_id)}.html"] = _render(
            plan, [roster], privacy, tiles, tiles_credit, False)
    return pages
