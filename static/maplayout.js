// The network map's layout, apart from the page: sizes for a map radius, where each name goes so that
// no two names, symbols or the organisation's name overlap, and ties that bend around the centre and
// around contacts they would otherwise run through. fieldkit/map_layout.py does the same for exports.
(function (global) {
  "use strict";

  // Type and symbols grow with the map and stay readable on a small laptop: names >= 15 px.
  function sizes(radius, presenting) {
    var unit = Math.min(1.4, Math.max(1, radius / 320)) * (presenting ? 1.15 : 1);
    return { font: 15 * unit, symbol: 12 * unit, hit: Math.max(23, 12 * unit + 9), tie: 3 * unit,
             egoFont: 15 * unit, ringFont: 13 * unit, sectorFont: 14 * unit, gap: 3 * unit };
  }

  // A grid of boxes for fast "is this space free?" questions.
  function Grid(cell) { this.cell = cell; this.cells = new Map(); }
  Grid.prototype.keys = function (box, visit) {
    var c = this.cell;
    for (var i = Math.floor(box.x0 / c); i <= Math.floor(box.x1 / c); i++) {
      for (var j = Math.floor(box.y0 / c); j <= Math.floor(box.y1 / c); j++) { visit(i * 100003 + j); }
    }
  };
  Grid.prototype.add = function (box) {
    var cells = this.cells;
    this.keys(box, function (key) { var list = cells.get(key); if (list) { list.push(box); } else { cells.set(key, [box]); } });
  };
  Grid.prototype.hits = function (box) {
    var cells = this.cells, hit = false;
    this.keys(box, function (key) {
      if (hit) { return; }
      var list = cells.get(key);
      if (!list) { return; }
      for (var n = 0; n < list.length; n++) {
        var other = list[n];
        if (other.x0 < box.x1 && box.x0 < other.x1 && other.y0 < box.y1 && box.y0 < other.y1) { hit = true; return; }
      }
    });
    return hit;
  };

  // Where each name goes: beside its symbol if there is room (below, above, right, left, diagonals),
  // else further out with a leader line. items: {id, x, y, r, w, h}; obstacles: boxes; bounds: a box.
  var NEAR = [[0, 1], [0, -1], [1, 0], [-1, 0], [0.75, 0.75], [-0.75, 0.75], [0.75, -0.75], [-0.75, -0.75]];
  function placeLabels(items, obstacles, bounds, pad) {
    pad = pad === undefined ? 2 : pad;
    var grid = new Grid(48), placed = new Map();
    items.forEach(function (item) { grid.add({ x0: item.x - item.r, y0: item.y - item.r, x1: item.x + item.r, y1: item.y + item.r }); });
    obstacles.forEach(function (box) { grid.add(box); });
    var order = items.slice().sort(function (a, b) {
      return (a.x * a.x + a.y * a.y) - (b.x * b.x + b.y * b.y) || (a.id < b.id ? -1 : 1);
    });
    order.forEach(function (item) {
      var spot = findSpot(item, grid, bounds, pad);
      placed.set(item.id, spot);
      if (!spot) { return; }
      grid.add({ x0: spot.x - item.w / 2 - pad, y0: spot.y - item.h / 2 - pad, x1: spot.x + item.w / 2 + pad, y1: spot.y + item.h / 2 + pad });
    });
    return placed;
  }
  function findSpot(item, grid, bounds, pad) {
    var halfW = item.w / 2 + pad, halfH = item.h / 2 + pad, gap = item.r + 2;
    function free(x, y) {
      var box = { x0: x - halfW, y0: y - halfH, x1: x + halfW, y1: y + halfH };
      return box.x0 >= bounds.x0 && box.y0 >= bounds.y0 && box.x1 <= bounds.x1 && box.y1 <= bounds.y1 && !grid.hits(box);
    }
    for (var n = 0; n < NEAR.length; n++) {
      var dx = NEAR[n][0], dy = NEAR[n][1];
      var x = item.x + dx * gap + Math.sign(dx) * halfW, y = item.y + dy * gap + Math.sign(dy) * halfH;
      if (free(x, y)) { return { x: x, y: y, leader: false }; }
    }
    // Further out, first away from the centre, then turning to either side.
    var out = Math.atan2(item.y, item.x) || Math.PI / 2;
    for (var step = 1; step <= FAR_STEPS; step++) {
      var distance = gap + step * item.h * 0.8;
      for (var turn = 0; turn < 16; turn++) {
        var angle = out + (turn % 2 ? -1 : 1) * Math.ceil(turn / 2) * Math.PI / 8;
        var ux = Math.cos(angle), uy = Math.sin(angle);
        var cx = item.x + ux * distance + ux * halfW, cy = item.y + uy * distance + uy * halfH;
        if (free(cx, cy)) { return { x: cx, y: cy, leader: true }; }
      }
    }
    return null;  // no room anywhere near: the name shows when its contact is selected, focused or pointed at
  }
  var FAR_STEPS = 10;

  // A tie as a path: straight where it is clear, bent away from the centre and from contacts it would
  // run through, and spread sideways (offset, px) when several ties join the same two ends.
  function tiePath(start, end, startGap, endGap, offset, circles, ends) {
    var dx = end[0] - start[0], dy = end[1] - start[1], length = Math.hypot(dx, dy) || 1;
    var ux = dx / length, uy = dy / length, nx = -uy, ny = ux;
    var x1 = start[0] + ux * startGap, y1 = start[1] + uy * startGap, x2 = end[0] - ux * endGap, y2 = end[1] - uy * endGap;
    var bend = 0, side = 0;
    for (var n = 0; n < circles.length; n++) {
      var circle = circles[n];
      if (circle.id === ends[0] || circle.id === ends[1]) { continue; }
      var along = ((circle.x - start[0]) * ux + (circle.y - start[1]) * uy) / length;
      if (along <= 0.08 || along >= 0.92) { continue; }
      var across = (circle.x - start[0]) * nx + (circle.y - start[1]) * ny;
      if (Math.abs(across) >= circle.r) { continue; }
      if (!side) { side = across > 0 ? -1 : 1; }  // bend away from the first thing in the way
      var needed = (circle.r + side * across) / (2 * along * (1 - along));
      bend = Math.max(bend, Math.min(needed, length * 0.9));
    }
    var lift = side * bend + offset * 2;
    var cx = (x1 + x2) / 2 + nx * lift, cy = (y1 + y2) / 2 + ny * lift;
    return "M " + x1.toFixed(1) + " " + y1.toFixed(1) + " Q " + cx.toFixed(1) + " " + cy.toFixed(1) + " " + x2.toFixed(1) + " " + y2.toFixed(1);
  }

  // A name in lines no wider than `width`, at most `lines` of them (the last one shortened with …).
  function wrap(text, width, measure, lines) {
    var words = text.split(/\s+/).filter(Boolean), result = [], line = "";
    words.forEach(function (word) {
      var candidate = line ? line + " " + word : word;
      if (!line || measure(candidate) <= width) { line = candidate; } else { result.push(line); line = word; }
    });
    if (line) { result.push(line); }
    if (result.length > lines) {
      var last = result.slice(lines - 1).join(" ");
      while (last.length > 1 && measure(last + "…") > width) { last = last.slice(0, -1); }
      result = result.slice(0, lines - 1).concat([last.trim() + "…"]);
    }
    return result.length ? result : [""];
  }

  global.MapLayout = { sizes: sizes, placeLabels: placeLabels, tiePath: tiePath, wrap: wrap };
})(window);
