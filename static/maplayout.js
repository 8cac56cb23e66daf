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

  // A grid of boxes for fast "is this space free?" questions; boxes can be taken out again.
  function Grid(cell) { this.cell = cell; this.cells = new Map(); }
  Grid.prototype.add = function (box) {
    var c = this.cell, i1 = Math.floor(box.x1 / c), j1 = Math.floor(box.y1 / c);
    for (var i = Math.floor(box.x0 / c); i <= i1; i++) {
      for (var j = Math.floor(box.y0 / c); j <= j1; j++) {
        var key = i * 100003 + j, list = this.cells.get(key);
        if (list) { list.push(box); } else { this.cells.set(key, [box]); }
      }
    }
  };
  Grid.prototype.remove = function (box) {
    var c = this.cell, i1 = Math.floor(box.x1 / c), j1 = Math.floor(box.y1 / c);
    for (var i = Math.floor(box.x0 / c); i <= i1; i++) {
      for (var j = Math.floor(box.y0 / c); j <= j1; j++) {
        var list = this.cells.get(i * 100003 + j), at = list ? list.indexOf(box) : -1;
        if (at >= 0) { list.splice(at, 1); }
      }
    }
  };
  Grid.prototype.hits = function (x0, y0, x1, y1) {
    var c = this.cell, i1 = Math.floor(x1 / c), j1 = Math.floor(y1 / c);
    for (var i = Math.floor(x0 / c); i <= i1; i++) {
      for (var j = Math.floor(y0 / c); j <= j1; j++) {
        var list = this.cells.get(i * 100003 + j);
        if (!list) { continue; }
        for (var n = 0; n < list.length; n++) {
          var other = list[n];
          if (other.x0 < x1 && x0 < other.x1 && other.y0 < y1 && y0 < other.y1) { return true; }
        }
      }
    }
    return false;
  };

  // Where each name goes: beside its symbol if there is room (below, above, right, left, diagonals),
  // else further out with a leader line; null where there is no room anywhere near.
  // items: {id, x, y, r, w, h}; obstacles and bounds: boxes {x0, y0, x1, y1}.
  var NEAR = [[0, 1], [0, -1], [1, 0], [-1, 0], [0.75, 0.75], [-0.75, 0.75], [0.75, -0.75], [-0.75, -0.75]];
  var FAR_STEPS = 6, TURNS = 12;
  function Placer(obstacles, bounds, pad) {
    this.grid = new Grid(48);
    this.bounds = bounds;
    this.pad = pad === undefined ? 2 : pad;
    this.symbols = new Map();
    this.labels = new Map();  // id -> {item, spot, box}
    var grid = this.grid;
    obstacles.forEach(function (box) { grid.add(box); });
  }
  Placer.prototype.addSymbol = function (item) {
    var box = { x0: item.x - item.r, y0: item.y - item.r, x1: item.x + item.r, y1: item.y + item.r };
    this.symbols.set(item.id, box);
    this.grid.add(box);
  };
  Placer.prototype.place = function (item) {
    var spot = this.find(item), placed = { item: item, spot: spot, box: null };
    if (spot) {
      var pad = this.pad;
      placed.box = { x0: spot.x - item.w / 2 - pad, y0: spot.y - item.h / 2 - pad, x1: spot.x + item.w / 2 + pad, y1: spot.y + item.h / 2 + pad };
      this.grid.add(placed.box);
    }
    this.labels.set(item.id, placed);
    return spot;
  };
  Placer.prototype.find = function (item) {
    var halfW = item.w / 2 + this.pad, halfH = item.h / 2 + this.pad, gap = item.r + 2, bounds = this.bounds, grid = this.grid;
    function free(x, y) {
      var x0 = x - halfW, y0 = y - halfH, x1 = x + halfW, y1 = y + halfH;
      return x0 >= bounds.x0 && y0 >= bounds.y0 && x1 <= bounds.x1 && y1 <= bounds.y1 && !grid.hits(x0, y0, x1, y1);
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
      for (var turn = 0; turn < TURNS; turn++) {
        var angle = out + (turn % 2 ? -1 : 1) * Math.ceil(turn / 2) * 2 * Math.PI / TURNS;
        var ux = Math.cos(angle), uy = Math.sin(angle);
        var cx = item.x + ux * distance + ux * halfW, cy = item.y + uy * distance + uy * halfH;
        if (free(cx, cy)) { return { x: cx, y: cy, leader: true }; }
      }
    }
    return null;  // no room anywhere near: the name shows when its contact is selected, focused or pointed at
  };
  // Everything at once: inner names first (the rings are narrow there), in a fixed order.
  Placer.prototype.placeAll = function (items) {
    var self = this, spots = new Map();
    items.forEach(function (item) { self.addSymbol(item); });
    items.slice().sort(function (a, b) {
      return (a.x * a.x + a.y * a.y) - (b.x * b.x + b.y * b.y) || (a.id < b.id ? -1 : 1);
    }).forEach(function (item) { spots.set(item.id, self.place(item)); });
    return spots;
  };
  // One contact moved (a drag): its symbol and name go to the new place, and only the names its symbol
  // now covers move out of the way. The next full placement tidies up. Returns the changed spots.
  Placer.prototype.move = function (item) {
    var grid = this.grid, changed = new Map(), self = this;
    grid.remove(this.symbols.get(item.id));
    var before = this.labels.get(item.id);
    if (before && before.box) { grid.remove(before.box); }
    this.addSymbol(item);
    var symbol = this.symbols.get(item.id), displaced = [];
    this.labels.forEach(function (placed, id) {
      var box = placed.box;
      if (id !== item.id && box && box.x0 < symbol.x1 && symbol.x0 < box.x1 && box.y0 < symbol.y1 && symbol.y0 < box.y1) {
        grid.remove(box);
        displaced.push(placed.item);
      }
    });
    changed.set(item.id, this.place(item));
    displaced.forEach(function (other) { changed.set(other.id, self.place(other)); });
    return changed;
  };

  // A tie as a path: straight where it is clear, bent away from the centre and from contacts it would
  // run through, to the side away from the one nearest its middle, and spread sideways (offset, px)
  // when several ties join the same two ends. circles: {id, x, y, r}, sorted by x (contactsByX).
  function tiePath(start, end, startGap, endGap, offset, circles, endA, endB) {
    var sx = start[0], sy = start[1], dx = end[0] - sx, dy = end[1] - sy, length = Math.hypot(dx, dy) || 1;
    var ux = dx / length, uy = dy / length, nx = -uy, ny = ux;
    var x1 = sx + ux * startGap, y1 = sy + uy * startGap, x2 = end[0] - ux * endGap, y2 = end[1] - uy * endGap;
    var left = Math.min(sx, end[0]) - circles.reach, right = Math.max(sx, end[0]) + circles.reach;
    var low = 0, high = circles.length;
    while (low < high) { var middle = (low + high) >> 1; if (circles[middle].x < left) { low = middle + 1; } else { high = middle; } }
    var blocking = [], closest = 1;
    for (var n = low; n < circles.length && circles[n].x <= right; n++) {
      var circle = circles[n];
      if (circle.id === endA || circle.id === endB) { continue; }
      var along = ((circle.x - sx) * ux + (circle.y - sy) * uy) / length;
      if (along <= 0.08 || along >= 0.92) { continue; }
      var across = (circle.x - sx) * nx + (circle.y - sy) * ny;
      if (across >= circle.r || across <= -circle.r) { continue; }
      blocking.push(along, across, circle.r);
      if (Math.abs(along - 0.5) < closest) { closest = Math.abs(along - 0.5); var side = across > 0 ? -1 : 1; }
    }
    var bend = 0;
    for (var k = 0; k < blocking.length; k += 3) {
      var t = blocking[k];
      bend = Math.max(bend, Math.min((blocking[k + 2] + side * blocking[k + 1]) / (2 * t * (1 - t)), length * 0.9));
    }
    var lift = (bend ? side * bend : 0) + offset * 2;
    var cx = (x1 + x2) / 2 + nx * lift, cy = (y1 + y2) / 2 + ny * lift;
    return "M " + x1.toFixed(1) + " " + y1.toFixed(1) + " Q " + cx.toFixed(1) + " " + cy.toFixed(1) + " " + x2.toFixed(1) + " " + y2.toFixed(1);
  }
  // The circles ties keep clear of, sorted by x for tiePath; `reach` is the largest radius.
  function byX(circles) {
    var sorted = circles.slice().sort(function (a, b) { return a.x - b.x; });
    sorted.reach = circles.reduce(function (most, circle) { return Math.max(most, circle.r); }, 0);
    return sorted;
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

  global.MapLayout = { sizes: sizes, Placer: Placer, byX: byX, tiePath: tiePath, wrap: wrap };
})(window);
