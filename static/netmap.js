// The network map: drawing (editor and replay), pointer, touch and keyboard editing, saving each change.
// The server keeps the truth: every change goes to it at once, in order, and is retried until it lands.
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var root = document.querySelector("[data-map-editor], [data-map-replay]");
  if (!root) { return; }
  var config = JSON.parse(root.dataset.config);
  var egoRadius = config.ego_radius;
  var messages = config.messages;
  var sectorById = {};
  config.sectors.forEach(function (sector, index) { sector.index = index; sectorById[sector.id] = sector; });
  var svg = root.querySelector("svg.map");
  var stage = root.querySelector(".map-stage");
  var layer = {};
  ["background", "ties", "ego", "alters", "rings"].forEach(function (name) { layer[name] = svg.querySelector(".map-" + name); });
  var Layout = window.MapLayout;

  // Geometry, as fieldkit/network.py has it: rings outwards from the ego disc, sectors clockwise from 12.
  function ringOf(x, y) {
    var rings = config.rings.length;
    var step = (Math.hypot(x, y) - egoRadius) / ((1 - egoRadius) / rings);
    return Math.min(rings - 1, Math.max(0, Math.floor(step + 1e-9)));
  }
  function sectorOf(x, y) {
    var angle = Math.atan2(x, -y);
    if (angle < 0) { angle += 2 * Math.PI; }
    var count = config.sectors.length;
    return config.sectors[Math.floor(angle / (2 * Math.PI / count) + 1e-9) % count];
  }
  function clamp(x, y) {
    var radius = Math.hypot(x, y);
    if (radius === 0) { return [0, -(egoRadius + 0.01)]; }
    var target = Math.min(1, Math.max(egoRadius + 0.01, radius));
    return [round(x * target / radius), round(y * target / radius)];
  }
  function round(value) { return Math.round(value * 1e5) / 1e5; }
  function sectorMiddle(sector, ring) {
    var angle = (sector.index + 0.5) * 2 * Math.PI / config.sectors.length;
    var radius = egoRadius + (ring + 0.5) * (1 - egoRadius) / config.rings.length;
    return [round(radius * Math.sin(angle)), round(-radius * Math.cos(angle))];
  }
  function whereText(x, y) {
    return messages.ring + " " + (ringOf(x, y) + 1) + " (" + config.rings[ringOf(x, y)] + ") · " + sectorOf(x, y).name;
  }

  // The frame: the map fills its stage; R is the map's radius in pixels, sizes follow it.
  var frame = { width: 0, height: 0, radius: 100, size: Layout.sizes(100, false) };
  var fontFamily = '"DejaVu Sans", "Noto Sans", system-ui, sans-serif';  // as .map in fieldkit.css: names measured before any layout
  var measurer = document.createElement("canvas").getContext("2d"), widths = new Map();
  function measure(text, size, bold) {
    var key = (bold ? "b" : "") + size.toFixed(2) + "|" + text, width = widths.get(key);
    if (width === undefined) {
      measurer.font = (bold ? "700 " : "") + size + "px " + fontFamily;
      width = measurer.measureText(text).width;
      if (widths.size > 20000) { widths.clear(); }
      widths.set(key, width);
    }
    return width;
  }
  function sectorLabel(sector, radius, size) {
    var angle = (sector.index + 0.5) * 2 * Math.PI / config.sectors.length;
    var font = size.sectorFont, lines = Layout.wrap(sector.name, font * 7, function (text) { return measure(text, font); }, 3);
    var width = Math.max.apply(null, lines.map(function (line) { return measure(line, font); })), height = lines.length * font * 1.2;
    var sin = Math.sin(angle), cos = -Math.cos(angle), distance = radius + size.gap * 2;
    var anchor = Math.abs(sin) < 0.3 ? "middle" : sin > 0 ? "start" : "end";
    var x = sin * distance, y = cos * distance + (Math.abs(sin) < 0.3 ? Math.sign(cos) * height / 2 : 0);
    var left = anchor === "middle" ? x - width / 2 : anchor === "start" ? x : x - width;
    return { lines: lines, x: x, y: y, anchor: anchor, font: font,
             box: { x0: left - 2, y0: y - height / 2 - 2, x1: left + width + 2, y1: y + height / 2 + 2 } };
  }
  function fit() {
    var inside = stage.getBoundingClientRect(), border = stage.clientLeft * 2;
    var width = inside.width - border, height = inside.height - border;
    if (!width || !height) { return false; }
    var presenting = document.body.classList.contains("presenting");
    var radius = Math.min(width, height) / 2 - 8, size = Layout.sizes(radius, presenting);
    for (var attempt = 0; attempt < 8; attempt++) {  // shrink until every sector's name fits in the frame
      size = Layout.sizes(radius, presenting);
      var over = 0;
      config.sectors.forEach(function (sector) {
        var box = sectorLabel(sector, radius, size).box;
        over = Math.max(over, box.x1 - width / 2, -width / 2 - box.x0, box.y1 - height / 2, -height / 2 - box.y0);
      });
      if (over <= 0) { break; }
      radius = Math.max(80, radius - over - 2);
    }
    var changed = width !== frame.width || height !== frame.height || radius !== frame.radius || size.font !== frame.size.font;
    frame = { width: width, height: height, radius: radius, size: size };
    svg.setAttribute("viewBox", (-width / 2) + " " + (-height / 2) + " " + width + " " + height);
    svg.dataset.radius = String(radius);
    svg.style.setProperty("--font", size.font + "px");
    return changed;
  }
  function toScreen(x, y) { return [x * frame.radius, y * frame.radius]; }

  function drawBackground() {
    var radius = frame.radius, size = frame.size, rings = config.rings.length, count = config.sectors.length;
    var background = document.createDocumentFragment(), top = document.createDocumentFragment();
    obstacles = [];
    config.sectors.forEach(function (sector) {
      var start = sector.index * 2 * Math.PI / count, end = (sector.index + 1) * 2 * Math.PI / count;
      element("path", { "class": "sector", fill: sector.colour, d: "M 0 0 L " + (radius * Math.sin(start)).toFixed(1) + " " +
        (-radius * Math.cos(start)).toFixed(1) + " A " + radius + " " + radius + " 0 0 1 " + (radius * Math.sin(end)).toFixed(1) +
        " " + (-radius * Math.cos(end)).toFixed(1) + " Z" }, background);
      var label = sectorLabel(sector, radius, size);
      var text = element("text", { "class": "sector-label", x: label.x.toFixed(1), "text-anchor": label.anchor, "font-size": label.font.toFixed(1) }, background);
      label.lines.forEach(function (line, index) {
        var span = element("tspan", { x: label.x.toFixed(1), y: (label.y + (index - (label.lines.length - 1) / 2) * label.font * 1.2).toFixed(1),
                                      "dominant-baseline": "central" }, text);
        span.textContent = line;
      });
      obstacles.push(label.box);
    });
    for (var ring = 0; ring < rings; ring++) {
      var outer = (egoRadius + (ring + 1) * (1 - egoRadius) / rings) * radius;
      element("circle", { "class": "ring", r: outer.toFixed(1) }, background);
      // Ring numbers sit on the border between the last and the first sector, above the contacts.
      var middle = outer - (1 - egoRadius) / rings * radius / 2, font = size.ringFont, half = font * 0.75;
      var badge = element("g", { "class": "ring-number", transform: "translate(0 " + (-middle).toFixed(1) + ")" }, top);
      element("rect", { x: -half, y: -half, width: 2 * half, height: 2 * half, rx: half / 2 }, badge);
      var number = element("text", { "text-anchor": "middle", "dominant-baseline": "central", "font-size": font.toFixed(1) }, badge);
      number.textContent = String(ring + 1);
      obstacles.push({ x0: -half - 2, y0: -middle - half - 2, x1: half + 2, y1: -middle + half + 2 });
    }
    layer.background.replaceChildren(background);
    layer.rings.replaceChildren(top);
    drawEgo();
  }
  function drawEgo() {
    var ego = layer.ego, radius = egoRadius * frame.radius, name = ego.dataset.name;
    // As large as fits in the circle; a name too long for it goes on a plate that hides the ties under it.
    var font, lines, smallest = Math.max(12, frame.size.egoFont * 0.7);
    function inCircle(size) {
      var measureEgo = function (text) { return measure(text, size, true); };
      var wrapped = Layout.wrap(name, radius * 1.7, measureEgo, 3);
      var fits = wrapped.length * size * 1.2 <= radius * 1.8 && wrapped.every(function (line) { return measureEgo(line) <= radius * 1.8; });
      return fits ? wrapped : null;
    }
    for (font = frame.size.egoFont; font >= smallest && !(lines = inCircle(font)); font -= 1) { /* smaller */ }
    if (!lines) {
      font = Math.max(12, frame.size.egoFont * 0.85);
      lines = Layout.wrap(name, font * 8, function (text) { return measure(text, font, true); }, 3);
    }
    var width = Math.max.apply(null, lines.map(function (line) { return measure(line, font, true); })), height = lines.length * font * 1.2;
    var parts = document.createDocumentFragment();
    element("circle", { r: radius.toFixed(1) }, parts);
    if (width > radius * 1.8 || height > radius * 1.8) {  // a long name gets a plate that hides the ties under it
      element("rect", { "class": "ego-plate", x: (-width / 2 - 4).toFixed(1), y: (-height / 2 - 2).toFixed(1), width: (width + 8).toFixed(1),
                        height: (height + 4).toFixed(1), rx: 4 }, parts);
    }
    var text = element("text", { "text-anchor": "middle", "font-size": font.toFixed(1) }, parts);
    lines.forEach(function (line, index) {
      var span = element("tspan", { x: 0, y: ((index - (lines.length - 1) / 2) * font * 1.2).toFixed(1), "dominant-baseline": "central" }, text);
      span.textContent = index ? " " + line : line;  // words stay apart when the lines are read as one text
    });
    var title = element("title", {}, null);  // the accessible name: the whole name, also where the lines shorten it
    title.textContent = ego.dataset.label;
    parts.insertBefore(title, parts.firstChild);
    ego.replaceChildren(parts);
    var half = Math.max(radius, width / 2 + 4), halfHeight = Math.max(radius, height / 2 + 2);
    obstacles.push({ x0: -half, y0: -halfHeight, x1: half, y1: halfHeight });
  }

  // The drawing -------------------------------------------------------------------------------------
  var alters = new Map(), ties = new Map(), nodes = new Map(), lines = new Map(), incident = new Map();
  var obstacles = [];

  function element(name, attributes, parent) {
    var node = document.createElementNS(SVG, name);
    for (var key in attributes) { node.setAttribute(key, attributes[key]); }
    if (parent) { parent.appendChild(node); }
    return node;
  }
  function alterNode(alter) {
    var sector = sectorById[alter.actor_type] || { colour: "#777777", symbol: "circle", name: alter.actor_type };
    var size = frame.size;
    var group = element("g", { "class": "alter", tabindex: "0", role: "button", "data-id": alter.id });
    element("circle", { "class": "hit", r: size.hit.toFixed(1) }, group);
    element("path", { d: config.symbols[sector.symbol], fill: sector.colour, "class": "symbol",
                      transform: "scale(" + size.symbol.toFixed(2) + ")", "stroke-width": (1.5 / size.symbol).toFixed(3) }, group);
    var label = element("text", { "class": "label", "text-anchor": "middle", "dominant-baseline": "central", "font-size": size.font.toFixed(1) }, group);
    label.textContent = alter.label;
    group.setAttribute("aria-label", alter.label + ", " + sector.name + ", " + messages.ring + " " + (ringOf(alter.x, alter.y) + 1));
    place(group, alter.x, alter.y);
    return group;
  }
  function place(group, x, y) {
    var point = toScreen(x, y);
    group.setAttribute("transform", "translate(" + point[0].toFixed(1) + " " + point[1].toFixed(1) + ")");
  }

  // Names: placed together, so none covers another, a symbol, a ring number or the organisation.
  var placer = null;
  function labelItem(alter) {
    var size = frame.size, point = toScreen(alter.x, alter.y);
    // symbols reach 1.2× their size
    return { id: alter.id, x: point[0], y: point[1], r: size.symbol * 1.25 + 1, w: measure(alter.label, size.font), h: size.font * 1.2 };
  }
  function placeLabels() {
    var bounds = { x0: -frame.width / 2 + 2, y0: -frame.height / 2 + 2, x1: frame.width / 2 - 2, y1: frame.height / 2 - 2 };
    var items = [];
    alters.forEach(function (alter) { items.push(labelItem(alter)); });
    placer = new Layout.Placer(obstacles, bounds);
    showLabels(placer.placeAll(items));
  }
  function showLabels(spots) {
    spots.forEach(function (spot, id) {
      var node = nodes.get(id), item = placer.labels.get(id).item;
      if (!node) { return; }
      var crowded = !spot, label = node.lastChild, leader = node.querySelector(".leader");
      spot = spot || { x: item.x, y: item.y + item.r + item.h / 2 + 2, leader: false };
      label.classList.toggle("crowded", crowded);
      label.setAttribute("x", (spot.x - item.x).toFixed(1));
      label.setAttribute("y", (spot.y - item.y).toFixed(1));
      if (!spot.leader) { if (leader) { leader.remove(); } return; }
      leader = leader || node.insertBefore(element("line", { "class": "leader" }), label);
      var dx = spot.x - item.x, dy = spot.y - item.y, distance = Math.hypot(dx, dy) || 1, start = frame.size.symbol + 1;
      var reach = Math.max(start, distance - Math.min(Math.abs(item.w / 2 / (dx / distance || 1e-9)), Math.abs(item.h / 2 / (dy / distance || 1e-9))));
      leader.setAttribute("x1", (dx / distance * start).toFixed(1));
      leader.setAttribute("y1", (dy / distance * start).toFixed(1));
      leader.setAttribute("x2", (dx / distance * reach).toFixed(1));
      leader.setAttribute("y2", (dy / distance * reach).toFixed(1));
    });
  }

  function positionOf(id) { return id ? toScreen(alters.get(id).x, alters.get(id).y) : [0, 0]; }
  var circles = [];
  function obstacleCircles() {
    var size = frame.size;
    var list = [{ id: "ego", x: 0, y: 0, r: egoRadius * frame.radius + size.tie * 2 }];
    alters.forEach(function (alter) {
      var point = toScreen(alter.x, alter.y);
      list.push({ id: alter.id, x: point[0], y: point[1], r: size.symbol + size.tie * 1.5 });
    });
    circles = Layout.byX(list);
  }
  function tiePath(tie) {
    var size = frame.size, start = positionOf(tie.source_id), end = positionOf(tie.target_id);
    var startGap = tie.source_id ? size.symbol + 2 : egoRadius * frame.radius, endGap = size.symbol + 2;
    return Layout.tiePath(start, end, startGap, endGap, (tie.offset || 0) * size.tie * 1.6, circles, tie.source_id || "ego", tie.target_id);
  }
  function tieWidth(tie) { return frame.size.tie * (0.75 + 0.25 * tie.strength); }
  function tieNode(tie) {
    var style = config.tie_styles[tie.type], width = tieWidth(tie);
    var path = element("path", { "class": "tie", d: tiePath(tie), stroke: style.colour, "data-id": tie.id,
                                 "stroke-width": width.toFixed(2), "stroke-linecap": style.cap || "butt" });
    if (style.dash) { path.setAttribute("stroke-dasharray", style.dash.split(" ").map(function (part) { return (part * width).toFixed(1); }).join(" ")); }
    var marker = "url(#arrow-" + tie.type + ")";
    if (tie.direction === "forward" || tie.direction === "mutual") { path.setAttribute("marker-end", marker); }
    if (tie.direction === "backward" || tie.direction === "mutual") { path.setAttribute("marker-start", marker); }
    var title = element("title", {}, path);
    title.textContent = config.tie_types[tie.type];
    return path;
  }
  // Ties between the same two ends are drawn as curves beside each other.
  function spreadTies() {
    var groups = {};
    ties.forEach(function (tie) {
      var key = [tie.source_id || "ego", tie.target_id].sort().join("|");
      (groups[key] = groups[key] || []).push(tie);
    });
    Object.keys(groups).forEach(function (key) {
      var group = groups[key];
      group.forEach(function (tie, index) {  // offsets follow each tie's own direction: flip the reversed ones
        tie.offset = ((tie.source_id || "") > tie.target_id ? -1 : 1) * (index - (group.length - 1) / 2) * 5;
      });
    });
  }
  function drawAll(state) {
    alters.clear(); ties.clear(); nodes.clear(); lines.clear(); incident.clear();
    state.alters.forEach(function (alter) { alters.set(alter.id, alter); });
    state.ties.forEach(function (tie) { ties.set(tie.id, tie); });
    fit();
    drawBackground();
    redraw();
  }
  function redraw() {
    spreadTies();
    obstacleCircles();
    incident.clear();
    var tieFragment = document.createDocumentFragment(), alterFragment = document.createDocumentFragment();
    lines.clear(); nodes.clear();
    ties.forEach(function (tie) {
      var path = tieNode(tie);
      lines.set(tie.id, path);
      tieFragment.appendChild(path);
      [tie.source_id, tie.target_id].forEach(function (end) {
        if (end) { (incident.get(end) || incident.set(end, []).get(end)).push(tie.id); }
      });
    });
    alters.forEach(function (alter) { var node = alterNode(alter); nodes.set(alter.id, node); alterFragment.appendChild(node); });
    layer.ties.replaceChildren(tieFragment);
    layer.alters.replaceChildren(alterFragment);
    placeLabels();
    if (selection && ((selection.kind === "alter" && !alters.has(selection.id)) || (selection.kind === "tie" && !ties.has(selection.id)))) {
      selection = null;
    }
    markSelection();
  }
  // A contact on the move: its ties follow, and the names make room.
  function moveDrawn(id, x, y) {
    place(nodes.get(id), x, y);
    var point = toScreen(x, y);
    circles.forEach(function (circle) { if (circle.id === id) { circle.x = point[0]; circle.y = point[1]; } });
    circles.sort(function (a, b) { return a.x - b.x; });  // tiePath looks circles up by x
    (incident.get(id) || []).forEach(function (tieId) { lines.get(tieId).setAttribute("d", tiePath(ties.get(tieId))); });
    showLabels(placer.move(labelItem(alters.get(id))));
  }
  // After a move: every tie finds its way again, and every name its place.
  function settle() {
    obstacleCircles();
    lines.forEach(function (path, id) { path.setAttribute("d", tiePath(ties.get(id))); });
    placeLabels();
  }
  function record(steps) {
    steps.forEach(function (step) {
      var store = (step.put || step.remove) === "alter" ? alters : ties;
      if (step.put) { store.set(step.record.id, step.record); } else { store.delete(step.id); }
    });
  }
  function applySteps(steps) { record(steps); redraw(); }
  new ResizeObserver(function () { if (fit()) { drawBackground(); redraw(); } }).observe(stage);

  var selection = null;  // {kind: "alter" | "tie" | "ego", id}
  // The quotes linked to the selected contact or tie (mixed methods: the interview's words beside the map).
  var linkedPanel = root.querySelector("#linked-quotes");
  function showLinked() {
    if (!linkedPanel) { return; }
    var found = selection && selection.kind !== "ego" ? (config.linked || {})[selection.id] || [] : [];
    linkedPanel.hidden = !found.length;
    var list = linkedPanel.querySelector(".linked-list");
    list.replaceChildren.apply(list, found.map(function (quote) {
      var block = document.createElement("blockquote");
      block.textContent = quote.text;
      return block;
    }));
  }
  function markSelection() {
    svg.querySelectorAll(".selected").forEach(function (node) { node.classList.remove("selected"); });
    showLinked();
    if (!selection) { return; }
    var node = selection.kind === "alter" ? nodes.get(selection.id) : selection.kind === "tie" ? lines.get(selection.id)
      : svg.querySelector(".map-ego");
    if (node) { node.classList.add("selected"); }
  }

  if (root.hasAttribute("data-map-replay")) { replay(); return; }
  editor();

  // The replay -----------------------------------------------------------------------------------------
  function replay() {
    var events = config.history;
    var slider = root.querySelector("#replay-step"), caption = root.querySelector("#replay-caption");
    var playButton = root.querySelector("[data-action=play]");
    var position = 0, timer = null;
    slider.max = String(events.length);
    function show(step) {
      position = Math.max(0, Math.min(events.length, step));
      alters.clear(); ties.clear();
      events.slice(0, position).forEach(function (event) { record(event.forward); });
      redraw();
      slider.value = String(position);
      caption.textContent = position === 0 ? config.replay_start : describe(events[position - 1], position);
    }
    function describe(event, number) {
      var when = new Date(event.at).toLocaleString(document.documentElement.lang);
      var named = event.forward.filter(function (change) { return change.put; }).map(function (change) {
        return change.put === "alter" ? change.record.label : config.tie_types[change.record.type];
      });
      return number + "/" + events.length + " · " + when + " · " + (config.event_labels[event.action] || event.action) +
        (named.length && named.length < 4 ? ": " + named.join(", ") : "");
    }
    // With a recording, playing is the sound: the map follows the audio, step by step as each was made.
    var player = document.getElementById("audio-player");
    var heard = player ? events.map(function (event) {
      return event.audio ? { src: new URL(event.audio.src, window.location.href).href, at: event.audio.at } : null;
    }) : [];
    var sounded = heard.some(Boolean);
    function stop() {
      clearInterval(timer); timer = null; playButton.textContent = config.play_label;
      if (sounded && !player.paused) { player.pause(); }
    }
    function playSound() {
      if (!player.paused) { stop(); return; }
      if (position >= events.length) { show(0); }
      var next = heard.slice(position).find(Boolean) || heard.find(Boolean);
      playButton.textContent = config.pause_label;
      window.fieldkit.playFrom(player, next.src, next.at - 1);
    }
    if (sounded) {
      player.addEventListener("timeupdate", function () {
        var step = -1;
        heard.forEach(function (moment, index) { if (moment && moment.src === player.src && moment.at <= player.currentTime) { step = index + 1; } });
        if (step >= 0 && step !== position) { show(step); }
      });
      player.addEventListener("pause", function () { playButton.textContent = config.play_label; });
      player.addEventListener("play", function () { playButton.textContent = config.pause_label; });
    }
    function play() {
      if (sounded) { playSound(); return; }
      if (timer) { stop(); return; }
      if (position >= events.length) { show(0); }
      playButton.textContent = config.pause_label;
      timer = setInterval(function () { if (position >= events.length) { stop(); } else { show(position + 1); } },
                          parseInt(root.querySelector("#replay-speed").value, 10));
    }
    root.addEventListener("click", function (event) {
      var button = event.target.closest("[data-action]");
      if (!button) { return; }
      var action = button.dataset.action;
      if (action === "play") { play(); return; }
      stop();
      show({ first: 0, back: position - 1, forward: position + 1, last: events.length }[action]);
    });
    slider.addEventListener("input", function () { stop(); show(parseInt(slider.value, 10)); });
    root.querySelector("#replay-speed").addEventListener("change", function () { if (timer) { stop(); play(); } });
    show(events.length);
  }

  // The editor -----------------------------------------------------------------------------------------
  function editor() {
    var token = document.querySelector('meta[name="csrf-token"]').content;
    var readonly = root.hasAttribute("data-readonly");
    var status = root.querySelector("#map-status");
    var hint = root.querySelector("#map-hint");
    var alterForm = root.querySelector("#alter-form"), tieForm = root.querySelector("#tie-form");
    var dialog = root.querySelector("#sector-dialog");
    var measures = root.querySelector("#measures");
    var undoButton = root.querySelector("[data-action=undo]"), redoButton = root.querySelector("[data-action=redo]");
    var tieTypeChoice = root.querySelector("#new-tie-type");
    var tieSource = null;  // while a tie is being drawn: its first end (null id = ego)
    var pendingAdd = null;  // the place of a contact about to be added

    var start = performance.now();
    drawAll(config.state);
    svg.getBoundingClientRect();  // include layout in the first draw's time
    performance.measure("map-first-draw", { start: start, end: performance.now() });
    if (config.highlight) {  // opened from a quote: its contact or tie is selected
      selection = { kind: alters.has(config.highlight) ? "alter" : "tie", id: config.highlight };
      markSelection();
    }
    root.dataset.drawn = "yes";
    updateHistoryButtons(config.state);
    function present() {
      var on = document.body.classList.toggle("presenting");
      root.querySelector("[data-action=present]").setAttribute("aria-pressed", on ? "true" : "false");
      if (on && document.documentElement.requestFullscreen) { document.documentElement.requestFullscreen().catch(function () {}); }
      if (!on && document.fullscreenElement) { document.exitFullscreen().catch(function () {}); }
    }
    if (readonly) {
      root.querySelector("[data-action=present]").addEventListener("click", present);
      document.addEventListener("keydown", function (event) {
        if ((event.key === "p" || event.key === "P") && !event.target.closest("input, textarea, select")) { present(); }
      });
      return;
    }

    // Saving: one change at a time, in order; a lost connection is retried, a refusal reloads the map.
    var queue = [], sending = false;
    function send(change, onDone) {
      change.op_id = change.op_id || crypto.randomUUID();
      queue.push({ change: change, done: onDone });
      say(messages.saving, "pending");
      pump();
    }
    function pump() {
      if (sending || !queue.length) { return; }
      sending = true;
      var item = queue[0];
      fetch(root.dataset.changesUrl, { method: "POST", credentials: "same-origin", body: JSON.stringify(item.change),
                                       headers: { "Content-Type": "application/json", "X-CSRF-Token": token } })
        .then(function (response) {
          if (response.redirected || response.status === 204 || response.status === 401) { window.location.reload(); return null; }
          return response.json().then(function (body) { return { ok: response.ok, body: body }; },
                                      function () { return { ok: false, body: {} }; });  // an error page, not JSON
        })
        .then(function (answer) {
          sending = false;
          if (!answer) { return; }
          queue.shift();
          if (!answer.ok) { refused(answer.body.error); return; }
          updateHistoryButtons(answer.body);
          if (item.done) { item.done(answer.body); }
          if (!queue.length) { say(messages.saved + " " + new Date().toLocaleTimeString(document.documentElement.lang, { hour: "2-digit", minute: "2-digit" }), "saved"); }
          settleWaiting(true);
          if (measures && window.htmx) { window.htmx.trigger(measures, "map-changed"); }
          pump();
        })
        .catch(function () {
          sending = false;
          say(messages.offline, "failed");
          settleWaiting(false);
          setTimeout(pump, 2000);
        });
    }
    function refused(reason) {
      queue = [];
      settleWaiting(true);  // refused for good: nothing is pending any more
      say(messages.failed + " " + (reason || ""), "failed");
      fetch(root.dataset.stateUrl, { credentials: "same-origin" }).then(function (r) { return r.json(); })
        .then(function (state) { drawAll(state); updateHistoryButtons(state); showPanel(); });
    }
    function say(text, kind) { status.textContent = text; status.className = "save-status " + kind; }
    function updateHistoryButtons(state) {
      if (!undoButton) { return; }
      undoButton.disabled = !state.can_undo;
      redoButton.disabled = !state.can_redo;
    }

    // Selecting and the side panel
    function select(kind, id) {
      selection = kind ? { kind: kind, id: id } : null;
      pendingAdd = null;
      markSelection();
      showPanel();
    }
    function showPanel() {
      alterForm.hidden = !(pendingAdd || (selection && selection.kind === "alter" && alters.has(selection.id)));
      tieForm.hidden = !(selection && selection.kind === "tie" && ties.has(selection.id));
      // a half-filled new contact stays as typed (an undo meanwhile redraws the panel)
      if (!alterForm.hidden && !(pendingAdd && alterForm.dataset.mode === "add")) { fillAlterForm(); }
      if (!tieForm.hidden) { fillTieForm(ties.get(selection.id)); }
    }
    function fillAlterForm() {
      var adding = Boolean(pendingAdd);
      var alter = adding ? { label: "", actor_type: pendingAdd.actor_type, x: pendingAdd.x, y: pendingAdd.y, attributes: {} }
        : alters.get(selection.id);
      alterForm.dataset.mode = adding ? "add" : "edit";
      alterForm.querySelectorAll("[data-adding]").forEach(function (part) { part.hidden = !adding; });
      alterForm.querySelectorAll("[data-editing]").forEach(function (part) { part.hidden = adding; });
      alterForm.elements.label.value = alter.label;
      alterForm.elements.actor_type.value = alter.actor_type;
      Array.prototype.forEach.call(alterForm.querySelectorAll("[data-attribute]"), function (field) {
        field.value = alter.attributes[field.name] || "";
      });
      alterForm.querySelector("#alter-where").textContent = whereText(alter.x, alter.y);
      if (adding) { alterForm.elements.label.focus(); }
    }
    function fillTieForm(tie) {
      var name = function (id) { return id ? alters.get(id).label : messages.ego; };
      tieForm.querySelector("#tie-ends").textContent = name(tie.source_id) + " – " + name(tie.target_id);
      tieForm.elements.type.value = tie.type;
      tieForm.elements.direction.value = tie.direction;
      tieForm.elements.strength.value = String(tie.strength);
      tieForm.elements.note.value = tie.note;
    }
    function attributesFromForm() {
      var attributes = {};
      Array.prototype.forEach.call(alterForm.querySelectorAll("[data-attribute]"), function (field) {
        if (field.value.trim()) { attributes[field.name] = field.value.trim(); }
      });
      return attributes;
    }

    // Adding a contact: drop a sector chip on the map, tap the map, or press the chip (middle of its sector).
    function startAdd(actorType, x, y) {
      var place = x === undefined ? sectorMiddle(sectorById[actorType], config.rings.length - 1) : clamp(x, y);
      selection = null;
      markSelection();
      pendingAdd = { actor_type: actorType, x: place[0], y: place[1] };
      alterForm.dataset.mode = "";
      showPanel();
    }
    alterForm.addEventListener("submit", function (event) {
      event.preventDefault();
      if (alterForm.dataset.mode !== "add") { saveAlterFields(); return; }
      var alter = { id: crypto.randomUUID(), label: alterForm.elements.label.value.trim(),
                    actor_type: alterForm.elements.actor_type.value, x: pendingAdd.x, y: pendingAdd.y,
                    attributes: attributesFromForm() };
      if (!alter.label) { alterForm.elements.label.reportValidity(); return; }
      if (sectorById[alter.actor_type] !== sectorOf(alter.x, alter.y)) {  // type chosen in the form: into its sector
        var moved = sectorMiddle(sectorById[alter.actor_type], ringOf(alter.x, alter.y));
        alter.x = moved[0]; alter.y = moved[1];
      }
      applySteps([{ put: "alter", record: alter }]);
      send({ action: "add_alter", alter: alter });
      select("alter", alter.id);
      nodes.get(alter.id).focus();
    });
    function saveAlterFields() {
      if (!selection || selection.kind !== "alter") { return; }
      var alter = alters.get(selection.id);
      var fields = { label: alterForm.elements.label.value.trim(), actor_type: alterForm.elements.actor_type.value,
                     attributes: attributesFromForm() };
      if (!fields.label) { alterForm.elements.label.reportValidity(); return; }
      if (fields.actor_type !== alter.actor_type && sectorById[fields.actor_type] !== sectorOf(alter.x, alter.y)) {
        var moved = sectorMiddle(sectorById[fields.actor_type], ringOf(alter.x, alter.y));
        fields.x = moved[0]; fields.y = moved[1];
      }
      var updated = Object.assign({}, alter, fields);
      if (JSON.stringify(updated) === JSON.stringify(alter)) { return; }
      applySteps([{ put: "alter", record: updated }]);
      send({ action: "edit_alter", id: alter.id, fields: fields });
    }
    alterForm.addEventListener("change", function () { if (alterForm.dataset.mode === "edit") { saveAlterFields(); } });
    tieForm.addEventListener("change", saveTieFields);
    tieForm.addEventListener("submit", function (event) { event.preventDefault(); saveTieFields(); });
    function saveTieFields() {
      var tie = ties.get(selection.id);
      var fields = { type: tieForm.elements.type.value, direction: tieForm.elements.direction.value,
                     strength: parseInt(tieForm.elements.strength.value, 10), note: tieForm.elements.note.value };
      applySteps([{ put: "tie", record: Object.assign({}, tie, fields) }]);
      send({ action: "edit_tie", id: tie.id, fields: fields });
    }

    // Ties: choose the first end, then the second; Escape or the cancel button stops.
    function startTie() {
      if (!selection || selection.kind === "tie" || (selection.kind === "alter" && !alters.has(selection.id))) {
        say(messages.pick_source, "pending");
        return;
      }
      tieSource = selection.kind === "ego" ? null : selection.id;
      root.classList.add("drawing-tie");
      hint.textContent = messages.pick_target;
    }
    function cancelTie() {
      root.classList.remove("drawing-tie");
      hint.textContent = "";
    }
    function finishTie(targetKind, targetId) {
      var source = tieSource, target = targetKind === "ego" ? null : targetId;
      cancelTie();
      if (source === target || (source !== null && !alters.has(source)) || (target !== null && !alters.has(target))) { return; }
      if (target === null) { target = source; source = null; }  // ego is always the first end
      var tie = { id: crypto.randomUUID(), source_id: source, target_id: target, type: tieTypeChoice.value,
                  direction: "undirected", strength: 1, note: "" };
      applySteps([{ put: "tie", record: tie }]);
      send({ action: "add_tie", tie: tie });
      select("tie", tie.id);
    }

    function remove() {
      cancelTie();
      flushKeyMove();
      if (!selection) { return; }
      if (selection.kind === "alter" && alters.has(selection.id)) {
        var id = selection.id;
        var steps = (incident.get(id) || []).map(function (tieId) { return { remove: "tie", id: tieId }; });
        applySteps(steps.concat([{ remove: "alter", id: id }]));
        send({ action: "delete_alter", id: id });
      } else if (selection.kind === "tie" && ties.has(selection.id)) {
        applySteps([{ remove: "tie", id: selection.id }]);
        send({ action: "delete_tie", id: selection.id });
      }
      select(null);
    }
    function history(action) {
      flushKeyMove();
      send({ action: action }, function (result) { applySteps(result.steps); showPanel(); });
    }

    // Moving a contact ends in one saved change; crossing into another sector asks about the actor type.
    function commitMove(id, from) {
      var alter = alters.get(id);
      if (!alter || (alter.x === from[0] && alter.y === from[1])) { return; }
      var landed = sectorOf(alter.x, alter.y);
      if (landed.id === alter.actor_type) { send({ action: "edit_alter", id: id, fields: { x: alter.x, y: alter.y } }); return; }
      dialog.querySelector("#sector-question").textContent = dialog.dataset.question
        .replace("{label}", alter.label).replace("{sector}", landed.name);
      dialog.querySelector("[data-choice=change]").textContent = dialog.dataset.change.replace("{sector}", landed.name);
      dialog.querySelector("[data-choice=back]").textContent = dialog.dataset.back.replace("{sector}", sectorById[alter.actor_type].name);
      dialog.onclose = function () {
        if (dialog.returnValue === "change") {
          alter.actor_type = landed.id;
          redraw();
          send({ action: "edit_alter", id: id, fields: { x: alter.x, y: alter.y, actor_type: landed.id } });
        } else {
          alter.x = from[0]; alter.y = from[1];
          moveDrawn(id, alter.x, alter.y);
        }
        showPanel();
        nodes.get(id).focus();
      };
      dialog.returnValue = "";
      dialog.showModal();
    }

    function toMap(event) {
      var point = svg.createSVGPoint();
      point.x = event.clientX; point.y = event.clientY;
      var local = point.matrixTransform(svg.getScreenCTM().inverse());
      return [local.x / frame.radius, local.y / frame.radius];
    }

    // Pointer: drag contacts, tap to select or to pick a tie's end, tap empty map to add there.
    var drag = null;
    svg.addEventListener("pointerdown", function (event) {
      if (event.button !== 0) { return; }
      var node = event.target.closest(".alter");
      if (node && !root.classList.contains("drawing-tie")) {
        var alter = alters.get(node.dataset.id);
        drag = { id: alter.id, from: [alter.x, alter.y], moved: false, start: [event.clientX, event.clientY], frame: 0 };
        svg.setPointerCapture(event.pointerId);
        event.preventDefault();
      }
    });
    svg.addEventListener("pointermove", function (event) {
      if (!drag) { return; }
      if (!drag.moved && Math.hypot(event.clientX - drag.start[0], event.clientY - drag.start[1]) < 4) { return; }
      drag.moved = true;
      drag.last = event;
      if (drag.frame) { return; }
      drag.frame = requestAnimationFrame(function () {
        drag.frame = 0;
        var place = clamp.apply(null, toMap(drag.last));
        var alter = alters.get(drag.id);
        alter.x = place[0]; alter.y = place[1];
        moveDrawn(drag.id, alter.x, alter.y);
        hint.textContent = alter.label + ": " + whereText(alter.x, alter.y);
      });
    });
    svg.addEventListener("pointerup", function (event) {
      if (drag) {
        var finished = drag;
        drag = null;
        if (finished.frame) { cancelAnimationFrame(finished.frame); }
        if (finished.moved) {
          var place = clamp.apply(null, toMap(event));
          var alter = alters.get(finished.id);
          alter.x = place[0]; alter.y = place[1];
          moveDrawn(finished.id, alter.x, alter.y);
          settle();
          hint.textContent = "";
          select("alter", finished.id);
          commitMove(finished.id, finished.from);
        } else {
          select("alter", finished.id);
        }
        return;
      }
      tap(event);
    });
    svg.addEventListener("pointercancel", function () {
      if (!drag) { return; }
      var alter = alters.get(drag.id);
      alter.x = drag.from[0]; alter.y = drag.from[1];
      moveDrawn(drag.id, alter.x, alter.y);
      drag = null;
    });
    function tap(event) {
      var node = event.target.closest(".alter, .map-ego, .tie");
      var kind = !node ? null : node.classList.contains("alter") ? "alter" : node.classList.contains("tie") ? "tie" : "ego";
      if (root.classList.contains("drawing-tie")) {
        if (kind === "alter" || kind === "ego") { finishTie(kind, node.dataset.id); }
        return;
      }
      if (kind) { select(kind, node.dataset.id); return; }
      // A tap on the empty map adds a contact there, whatever was selected: one tap per new contact.
      var place = toMap(event);
      if (Math.hypot(place[0], place[1]) > 1.02) { select(null); return; }
      startAdd(sectorOf(place[0], place[1]).id, place[0], place[1]);
    }

    // Palette chips: drag one onto the map to add a contact there, or press it.
    var chipDrag = null;
    root.querySelectorAll(".palette .chip").forEach(function (chip) {
      chip.addEventListener("pointerdown", function (event) {
        if (event.button !== 0) { return; }
        chipDrag = { chip: chip, start: [event.clientX, event.clientY], ghost: null };
        chip.setPointerCapture(event.pointerId);
      });
      chip.addEventListener("pointermove", function (event) {
        if (!chipDrag || chipDrag.chip !== chip) { return; }
        if (!chipDrag.ghost && Math.hypot(event.clientX - chipDrag.start[0], event.clientY - chipDrag.start[1]) < 6) { return; }
        if (!chipDrag.ghost) {
          chipDrag.ghost = chip.cloneNode(true);
          chipDrag.ghost.classList.add("ghost");
          document.body.appendChild(chipDrag.ghost);
        }
        chipDrag.ghost.style.transform = "translate(" + (event.clientX + 8) + "px, " + (event.clientY + 8) + "px)";
      });
      chip.addEventListener("pointerup", function (event) {
        if (!chipDrag || chipDrag.chip !== chip) { return; }
        var dragged = chipDrag.ghost;
        if (dragged) { dragged.remove(); }
        chipDrag = null;
        if (!dragged) { startAdd(chip.dataset.sector); return; }
        var box = svg.getBoundingClientRect();
        if (event.clientX < box.left || event.clientX > box.right || event.clientY < box.top || event.clientY > box.bottom) { return; }
        var place = toMap(event);
        startAdd(chip.dataset.sector, place[0], place[1]);
      });
      chip.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); startAdd(chip.dataset.sector); }
      });
    });

    // Keyboard: Tab through contacts, arrows move (Shift: further), T draws a tie, Enter picks its end,
    // Delete removes, Escape cancels, Ctrl+Z / Ctrl+Y undo and redo, P presents.
    var keyMove = null;
    svg.addEventListener("focusin", function (event) {
      var node = event.target.closest(".alter, .map-ego");
      if (!node || root.classList.contains("drawing-tie")) { return; }
      var kind = node.classList.contains("alter") ? "alter" : "ego";
      if (!selection || selection.id !== node.dataset.id || selection.kind !== kind) { select(kind, node.dataset.id); }
    });
    document.addEventListener("keydown", function (event) {
      var typing = event.target.closest && event.target.closest("input, textarea, select, dialog");
      if ((event.ctrlKey || event.metaKey) && !typing) {
        var key = event.key.toLowerCase();
        if (key === "z" && !event.shiftKey) { event.preventDefault(); history("undo"); }
        else if (key === "y" || (key === "z" && event.shiftKey)) { event.preventDefault(); history("redo"); }
        return;
      }
      if (event.key === "Escape") { if (root.classList.contains("drawing-tie")) { event.preventDefault(); cancelTie(); } else if (!typing) { select(null); } return; }
      if (typing || event.altKey || event.ctrlKey || event.metaKey) { return; }
      var focused = event.target.closest && event.target.closest(".alter, .map-ego");
      if (root.classList.contains("drawing-tie") && focused && (event.key === "Enter" || event.key === " ")) {
        event.preventDefault();
        finishTie(focused.classList.contains("alter") ? "alter" : "ego", focused.dataset.id);
        return;
      }
      if (event.key === "t" || event.key === "T") { event.preventDefault(); startTie(); return; }
      if (event.key === "p" || event.key === "P") { event.preventDefault(); present(); return; }
      if ((event.key === "Delete" || event.key === "Backspace") && focused) { event.preventDefault(); remove(); return; }
      var arrows = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
      if (arrows[event.key] && focused && focused.classList.contains("alter")) {
        event.preventDefault();
        var alter = alters.get(focused.dataset.id);
        if (!keyMove || keyMove.id !== alter.id) { flushKeyMove(); keyMove = { id: alter.id, from: [alter.x, alter.y] }; }
        var step = event.shiftKey ? 0.08 : 0.02;
        var place = clamp(alter.x + arrows[event.key][0] * step, alter.y + arrows[event.key][1] * step);
        alter.x = place[0]; alter.y = place[1];
        moveDrawn(alter.id, alter.x, alter.y);
        hint.textContent = alter.label + ": " + whereText(alter.x, alter.y);
        clearTimeout(keyMove.timer);
        keyMove.timer = setTimeout(flushKeyMove, 600);
      }
    });
    function flushKeyMove() {
      if (!keyMove) { return; }
      clearTimeout(keyMove.timer);
      var done = keyMove;
      keyMove = null;
      hint.textContent = "";
      settle();
      commitMove(done.id, done.from);
    }

    root.addEventListener("click", function (event) {
      var button = event.target.closest("button[data-action]");
      if (!button) { return; }
      var action = button.dataset.action;
      if (action === "undo" || action === "redo") { history(action); }
      else if (action === "tie") { startTie(); }
      else if (action === "cancel-tie") { cancelTie(); }
      else if (action === "delete") { remove(); }
      else if (action === "present") { present(); }
      else if (action === "close-panel") { select(null); }
    });
    // Leaving the page waits until every change is on the server (see fieldkit.js).
    var drained = [];
    window.fieldkit.addSaver({
      pending: function () { return queue.length > 0 || keyMove !== null; },
      flush: function () {
        flushKeyMove();
        if (!queue.length) { return Promise.resolve(true); }
        return new Promise(function (resolve) { drained.push(resolve); pump(); });
      },
      sendBeforeUnload: function () { return false; }  // changes go one by one, in order: nothing to send at once
    });
    function settleWaiting(saved) {
      if (queue.length && saved) { return; }
      drained.splice(0).forEach(function (resolve) { resolve(saved); });
    }
  }
})();
