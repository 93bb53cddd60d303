// The planning board's pages: upload, plan, assign (drag or pick), lock, re-plan, publish.
// Every change goes through the JSON API with the session's CSRF token; the server answers
// with the new version or the rule it refused on, and the page reloads from the server.
"use strict";
(function () {
  function text(node, value) { node.textContent = value; }

  // The pages' controls come disabled: a click before this script has attached its handlers
  // would do nothing (or submit a form to the page's own address). They work from here on.
  function ready() {
    document.querySelectorAll("[data-script]").forEach(function (node) { node.disabled = false; });
    document.body.dataset.ready = "true";
  }

  // A session ended (the server restarted, or 8 hours idle): to the sign-in page, not a
  // message that blames the files or the plan.
  function signedOut(status) {
    if (status !== 401) { return false; }
    window.location.href = "/login";
    return true;
  }

  async function send(url, csrf, payload) {
    const response = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
      body: JSON.stringify(payload || {})});
    let answer = {};
    try { answer = await response.json(); } catch (e) { answer = {}; }
    signedOut(response.status);
    return {status: response.status, answer: answer};
  }

  // -- the days page: upload, with the findings of a refused day in a table --------------
  const upload = document.getElementById("upload");
  if (upload) {
    upload.addEventListener("submit", async function (event) {
      event.preventDefault();
      const out = document.getElementById("findings");
      text(out, "Reading the files...");
      const response = await fetch("/api/days", {method: "POST", credentials: "same-origin",
        headers: {"X-CSRF-Token": upload.dataset.csrf}, body: new FormData(upload)});
      if (signedOut(response.status)) { return; }
      let answer = {};
      try { answer = await response.json(); } catch (e) { answer = {}; }
      if (response.status === 201) { window.location.href = "/days/" + encodeURIComponent(answer.day); return; }
      if (!answer.findings) {  // not the files: the server's own answer (a viewer, a fault)
        text(out, "Not stored: " + (answer.error || answer.detail || "the server answered " + response.status));
        return;
      }
      out.replaceChildren();
      const table = document.createElement("table");
      table.className = "list findings";
      const caption = table.createCaption();
      text(caption, "The day was not stored: fix these and upload again");
      const head = table.createTHead().insertRow();
      ["File", "Row", "Column or setting", "Code", "Problem", "How to fix"].forEach(function (h) {
        const th = document.createElement("th"); th.scope = "col"; text(th, h); head.appendChild(th); });
      const body = table.createTBody();
      (answer.findings || []).forEach(function (f) {
        const row = body.insertRow();
        [f.file, f.row, f.column || f.key, f.code, f.message, f.hint].forEach(function (cell) {
          text(row.insertCell(), cell === null || cell === undefined ? "" : String(cell)); });
      });
      out.appendChild(table);
    });
  }

  const outbox = document.getElementById("outbox");
  if (outbox) {
    outbox.addEventListener("submit", async function (event) {
      event.preventDefault();
      const r = await send("/api/outbox/open", outbox.dataset.csrf, {plan: document.getElementById("plan").value});
      if (r.status === 201) { window.location.href = "/days/" + encodeURIComponent(r.answer.day); return; }
      text(document.getElementById("findings"), "Not opened: " + (r.answer.detail || r.answer.error || r.status));
    });
  }

  // -- the board -------------------------------------------------------------------------
  const board = document.getElementById("board");
  if (!board) { ready(); return; }
  const day = board.dataset.day, csrf = board.dataset.csrf;
  const version = parseInt(board.dataset.version, 10);
  const base = "/api/days/" + encodeURIComponent(day);
  const message = document.getElementById("message");
  const data = JSON.parse(document.getElementById("board-data").textContent);

  // While the day plans, its progress is asked for every 2 s and the page reloads once the
  // plan is in: what a coordinator is typing or has selected stays until then.
  if (board.dataset.status === "planning") {
    const watch = async function () {
      const response = await fetch(base + "/plan", {credentials: "same-origin"});
      if (signedOut(response.status)) { return; }
      let answer = {};
      try { answer = await response.json(); } catch (e) { answer = {}; }
      if (answer.status !== "planning") { window.location.reload(); return; }
      const shown = document.getElementById("progress");
      if (shown && answer.progress) {
        text(shown, "Planning: " + (answer.progress.planned ? answer.progress.planned +
             " journeys planned so far, " : "") + answer.progress.time_left_s + " s left.");
      }
      window.setTimeout(watch, 2000);
    };
    window.setTimeout(watch, 2000);
  }

  // The board reloads after every action: the seconds a coordinator chose stay for the tab.
  const secondsField = document.getElementById("seconds");
  function keepSeconds() { window.sessionStorage.setItem("pts-seconds", secondsField.value); }
  if (secondsField) {
    const kept = window.sessionStorage.getItem("pts-seconds");
    // Typed before this script ran (a slow machine): the coordinator's, not the kept one.
    if (secondsField.value !== secondsField.defaultValue) { keepSeconds(); }
    else if (kept && Number(kept) >= 1) { secondsField.value = kept; }
    secondsField.addEventListener("input", keepSeconds);
  }

  function seconds() {
    if (!secondsField) { return 30; }
    keepSeconds();
    return Number(secondsField.value) || 30;
  }

  async function act(path, payload, okStatus) {
    text(message, "Working...");
    const result = await send(base + path, csrf, payload);
    if (result.status === okStatus) { window.location.reload(); return result; }
    const a = result.answer;
    // Changed meanwhile by someone else: the plan as it is now, to make the change again.
    if (a.rule === "stale_version") { window.location.reload(); return result; }
    text(message, a.rule ? "Refused (" + a.rule + "): " + (a.detail || "") : (a.error || "Failed: " + result.status));
    return result;
  }

  document.querySelectorAll("[data-action]").forEach(function (button) {
    button.addEventListener("click", async function () {
      const what = button.dataset.action;
      if (what === "plan") { await act("/plan", {time_limit_s: seconds(), version: version}, 202); }
      if (what === "cancel") { await act("/plan/cancel", {}, 200); }
      if (what === "replan") { await act("/replan", {time_limit_s: seconds(), version: version}, 202); }
      if (what === "unassign" && selected) { await act("/unassign", {journey_id: selected, version: version}, 200); }
      if (what === "lock-journey" && selected) {
        await act("/lock", {journey_id: selected, locked: button.getAttribute("aria-pressed") !== "true", version: version}, 200);
      }
      if (what === "undo") { await act("/undo", {version: version}, 200); }
      if (what === "publish") {
        const r = await send(base + "/publish", csrf, {version: version});
        if (r.status === 401) { return; }
        if (r.answer.rule === "stale_version") { window.location.reload(); return; }
        message.className = r.status === 200 ? "ok" : "";
        text(message, r.status === 200 ? "Published: the plan folder is written and checked." :
             "Not published (" + (r.answer.rule || r.status) + "): " + (r.answer.detail || ""));
      }
    });
  });

  function assign(journey, vehicle) { return act("/assign", {journey_id: journey, vehicle_id: vehicle, version: version}, 200); }

  document.querySelectorAll("button.assign").forEach(function (button) {
    button.addEventListener("click", function () {
      const select = button.parentElement.querySelector("select.to");
      assign(button.dataset.journey, select.value);
    });
  });
  document.querySelectorAll("button.lock").forEach(function (button) {
    button.addEventListener("click", function () {
      act("/lock", {vehicle_id: button.dataset.vehicle, locked: button.dataset.locked !== "true", version: version}, 200);
    });
  });

  // Drag an unassigned journey onto a run.
  document.querySelectorAll(".journey[draggable=true]").forEach(function (item) {
    item.addEventListener("dragstart", function (event) {
      event.dataTransfer.setData("text/plain", item.dataset.journey); });
  });
  document.querySelectorAll(".run").forEach(function (run) {
    run.addEventListener("dragover", function (event) { event.preventDefault(); run.classList.add("drop"); });
    run.addEventListener("dragleave", function () { run.classList.remove("drop"); });
    run.addEventListener("drop", function (event) {
      event.preventDefault(); run.classList.remove("drop");
      const journey = event.dataTransfer.getData("text/plain");
      if (journey) { assign(journey, run.dataset.vehicle); }
    });
  });

  // -- what-if: the best three slots for a new booking, and accepting one ----------------
  const whatif = document.getElementById("whatif");
  function clock(minutes) {
    return String(Math.floor(minutes / 60)).padStart(2, "0") + ":" + String(minutes % 60).padStart(2, "0");
  }
  if (whatif) {
    whatif.addEventListener("submit", async function (event) {
      event.preventDefault();
      const out = document.getElementById("slots");
      const booking = {};
      new FormData(whatif).forEach(function (value, key) { booking[key] = String(value); });
      text(out, "Looking...");
      const r = await send(base + "/whatif", csrf, {booking: booking});
      if (r.status === 401) { return; }
      out.replaceChildren();
      if (r.status !== 200) {
        const lines = (r.answer.findings || []).map(function (f) {
          return (f.column || f.file) + ": " + f.message + ". " + f.hint; });
        text(out, r.answer.rule ? r.answer.detail : (lines.join(" ") || r.answer.error || "No slot: " + r.status));
        return;
      }
      if (!r.answer.slots.length) { text(out, "No run can take it without breaking a rule."); return; }
      const list = document.createElement("ol");
      r.answer.slots.forEach(function (slot) {
        const item = document.createElement("li");
        text(item, slot.vehicle_id + ": pickup " + clock(slot.pickup_min) + ", drop-off " +
             clock(slot.dropoff_min) + ", +" + slot.added_km + " km ");
        const take = document.createElement("button");
        text(take, "Accept");
        take.addEventListener("click", function () {
          act("/whatif/accept", {token: r.answer.token, vehicle_id: slot.vehicle_id, version: version}, 200);
        });
        item.appendChild(take);
        list.appendChild(item);
      });
      out.appendChild(list);
    });
  }

  // -- selection, shared by the runs, the list and the map ---------------------------------
  function label(value) {  // tooltips as text nodes: ids and names are never read as HTML
    const span = document.createElement("span");
    span.textContent = value;
    return span;
  }

  let map = null, layer = null;
  const mapNode = document.getElementById("map");
  if (mapNode && window.L) {
    map = window.L.map(mapNode, {attributionControl: false});
    layer = window.L.layerGroup().addTo(map);
    const all = [];
    data.runs.forEach(function (r) { r.points.forEach(function (p) { all.push([p[0], p[1]]); }); });
    data.open.forEach(function (o) { all.push(o.from); all.push(o.to); });
    if (all.length) { map.fitBounds(all, {padding: [10, 10]}); } else { map.setView([53.0, -1.5], 9); }
    // No background tiles: districts always, towns and hospitals once zoomed in.
    const districts = window.L.layerGroup().addTo(map);
    const places = window.L.layerGroup();
    (data.districts || []).forEach(function (d) {
      window.L.circleMarker([d[1], d[2]], {radius: 0, opacity: 0})
        .bindTooltip(label(d[0]), {permanent: true, direction: "center", className: "district"})
        .addTo(districts);
    });
    (data.towns || []).forEach(function (t) {
      window.L.circleMarker([t[1], t[2]], {radius: 2, color: "#768692"})
        .bindTooltip(label(t[0]), {permanent: true, direction: "right", className: "town"})
        .addTo(places);
    });
    (data.sites || []).forEach(function (s) {
      window.L.circleMarker([s[1], s[2]], {radius: 4, color: "#005eb8", fillOpacity: 1})
        .bindTooltip(label(s[0]), {permanent: true, direction: "right", className: "site"})
        .addTo(places);
    });
    function labels() {
      if (map.getZoom() >= 10) { places.addTo(map); districts.remove(); }
      else { places.remove(); districts.addTo(map); }
    }
    map.on("zoomend", labels);
    labels();
  }

  function draw(vehicle, journey) {
    if (!map) { return; }
    layer.clearLayers();
    const shown = [];
    data.runs.forEach(function (r) {
      if (vehicle && r.vehicle_id !== vehicle) { return; }
      if (journey && !r.points.some(function (p) { return p[3] === journey; })) { return; }
      const line = r.points.map(function (p) { return [p[0], p[1]]; });
      window.L.polyline(line, {color: "#003087", weight: 3}).addTo(layer);
      r.points.forEach(function (p) {
        const hit = journey && p[3] === journey;
        window.L.circleMarker([p[0], p[1]], {radius: hit ? 8 : 4, color: hit ? "#ffb81c" : "#003087"})
          .bindTooltip(label(p[2] + " " + p[3])).addTo(layer);
        shown.push([p[0], p[1]]);
      });
    });
    data.open.forEach(function (o) {
      if (vehicle || (journey && o.journey_id !== journey)) { return; }
      window.L.polyline([o.from, o.to], {color: "#a00000", dashArray: "4 4"}).bindTooltip(label(o.journey_id)).addTo(layer);
      shown.push(o.from); shown.push(o.to);
    });
    if (shown.length && (vehicle || journey)) { map.fitBounds(shown, {padding: [20, 20], maxZoom: 13}); }
  }

  let selected = "";
  function select(vehicle, journey) {
    selected = journey && document.querySelector('.stop[data-journey="' + CSS.escape(journey) + '"]') ? journey : "";
    ["unassign", "lock-journey"].forEach(function (id) {
      const button = document.getElementById(id);
      if (button) { button.disabled = !selected; }
    });
    // A locked journey's button unlocks it, as a locked run's does.
    const lockButton = document.getElementById("lock-journey");
    if (lockButton) {
      const stop = selected && document.querySelector('.stop[data-journey="' + CSS.escape(selected) + '"]');
      const locked = Boolean(stop && stop.classList.contains("locked"));
      lockButton.setAttribute("aria-pressed", locked ? "true" : "false");
      text(lockButton, locked ? "Unlock the selected journey" : "Lock the selected journey to its run");
    }
    document.querySelectorAll(".selected").forEach(function (n) { n.classList.remove("selected"); });
    if (vehicle) { document.querySelectorAll('.run[data-vehicle="' + CSS.escape(vehicle) + '"]').forEach(function (n) { n.classList.add("selected"); }); }
    if (journey) {
      document.querySelectorAll('[data-journey="' + CSS.escape(journey) + '"]').forEach(function (n) {
        if (n.classList.contains("stop") || n.classList.contains("journey")) { n.classList.add("selected"); } });
    }
    draw(vehicle, journey);
  }
  document.querySelectorAll("button.pick").forEach(function (button) {
    button.addEventListener("click", function () { select(button.dataset.vehicle || "", button.dataset.journey || ""); });
  });
  document.querySelectorAll(".stop").forEach(function (stop) {
    stop.addEventListener("click", function () { select("", stop.dataset.journey); });
  });
  // Keyboard: a run's row selects its run on Enter; a journey in the list on Enter.
  document.querySelectorAll(".run, .journey").forEach(function (node) {
    node.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && event.target === node) {
        select(node.dataset.vehicle || "", node.dataset.journey || "");
      }
    });
  });
  draw("", "");
  ready();
})();
