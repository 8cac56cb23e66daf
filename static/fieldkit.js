// fieldkit page glue: the CSRF header for HTMX, saving what is pending before the page changes, and
// the idle lock. No inline script anywhere (CSP).
(function () {
  "use strict";
  var body = document.body;
  var token = document.querySelector('meta[name="csrf-token"]').content;

  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRF-Token"] = token;
  });

  // htmx notes the current address (with search terms) in sessionStorage, which a browser may keep on
  // disk; we keep nothing in browser storage, so it goes again at once.
  function forgetHistoryPath() { try { sessionStorage.removeItem("htmx-current-path-for-history"); } catch (e) { /* no storage */ } }
  forgetHistoryPath();
  ["htmx:pushedIntoHistory", "htmx:replacedInHistory", "htmx:afterSettle"].forEach(function (name) {
    document.addEventListener(name, forgetHistoryPath);
  });

  // Nothing typed may be lost when the page changes. Screens that save in the background register a
  // saver: `pending()` says whether something is not on disk yet, `flush()` sends it now and resolves
  // true once the server confirmed it, false if it could not (offline). Links, forms, the lock, the
  // idle lock and closing the window wait for every saver before they leave.
  var savers = [];
  var fieldkit = window.fieldkit = {
    token: token,
    addSaver: function (saver) { savers.push(saver); },
    pending: function () { return savers.some(function (saver) { return saver.pending(); }); },
    flush: function () {
      return Promise.all(savers.map(function (saver) { return saver.pending() ? saver.flush() : true; }))
        .then(function (results) { return results.every(Boolean); });
    },
    // Run `go` once everything is saved; if something cannot be saved, ask before leaving it behind.
    leave: function (go) {
      if (!fieldkit.pending()) { go(); return; }
      fieldkit.flush().then(function (saved) {
        if (saved || window.confirm(body.dataset.msgLeave)) { go(); }
      });
    },
    // The desktop window asks before it closes: save, then tell the server the window may go. If
    // something could not be saved, the window stays while the person decides whether to lose it.
    closeWindow: function () {
      var tell = function (decision) {
        return fetch(body.dataset.windowCloseUrl, { method: "POST", credentials: "same-origin", body: new URLSearchParams({ decision: decision }),
                                                    headers: { "X-CSRF-Token": token } });
      };
      fieldkit.flush().then(function (saved) {
        if (saved) { tell("close"); return; }
        tell("stay").then(function () { if (window.confirm(body.dataset.msgLeave)) { tell("close"); } });
      }, function () { tell("close"); });
    }
  };

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[href]");
    if (!link || event.defaultPrevented || !fieldkit.pending() || event.button !== 0 || event.ctrlKey ||
        event.metaKey || event.shiftKey || link.target || link.hasAttribute("download") ||
        link.getAttribute("href").charAt(0) === "#") { return; }
    event.preventDefault();
    fieldkit.leave(function () { window.location.assign(link.href); });
  });
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented || form.dataset.saved === "yes" || !fieldkit.pending()) { return; }
    event.preventDefault();
    var submitter = event.submitter;
    fieldkit.leave(function () { form.dataset.saved = "yes"; form.requestSubmit(submitter); });
  });
  // Leaving another way (typed address, Back, reload): send what is pending without waiting; only if
  // the last attempt already failed is there reason to ask.
  window.addEventListener("beforeunload", function (event) {
    if (!fieldkit.pending()) { return; }
    var lost = savers.some(function (saver) { return saver.pending() && !saver.sendBeforeUnload(); });
    if (lost) { event.preventDefault(); event.returnValue = body.dataset.msgLeave; }
  });
  // A page restored from the back/forward cache may show text that was never saved: load it anew.
  window.addEventListener("pageshow", function (event) { if (event.persisted) { window.location.reload(); } });

  // Idle lock: the server locks the vault after the idle time; the page leaves the screen at the same
  // moment so nothing stays visible. Reading and typing count as activity and are reported at most
  // once a minute, so the server's clock agrees with what the person is doing.
  var idleSeconds = parseInt(body.dataset.idleSeconds || "0", 10);
  if (!idleSeconds) { return; }
  var lastInput = Date.now();
  var lastReport = Date.now();
  var reportEvery = Math.min(60000, idleSeconds * 250); // a quarter of the idle time, at most a minute
  function onActivity() {
    lastInput = Date.now();
    if (lastInput - lastReport > reportEvery) {
      lastReport = lastInput;
      fetch(body.dataset.activityUrl, { method: "POST", headers: { "X-CSRF-Token": token }, credentials: "same-origin" });
    }
  }
  ["pointerdown", "keydown", "input", "wheel", "touchstart"].forEach(function (name) {
    document.addEventListener(name, onActivity, { passive: true, capture: true });
  });
  document.addEventListener("htmx:afterRequest", function () { lastReport = Date.now(); });
  // Idle here means idle: save what is pending, lock the vault now (the server may not have checked
  // yet), then leave.
  var leaving = false;
  setInterval(function () {
    if (leaving || Date.now() - lastInput <= idleSeconds * 1000) { return; }
    leaving = true;
    var lock = function () {
      fetch(body.dataset.lockUrl + "?idle=1", { method: "POST", headers: { "X-CSRF-Token": token }, credentials: "same-origin" })
        .then(function (answer) {
          if (answer.status === 409) { leaving = false; lastInput = Date.now(); return; }  // a recording is running
          window.location.assign(body.dataset.unlockUrl);
        }, function () { window.location.assign(body.dataset.unlockUrl); });
    };
    fieldkit.flush().then(lock, lock);
  }, 2000);
})();

// Playing a recording from a moment: a button with data-play-src (the audio) and data-play-at
// (seconds) starts the page's player there. fieldkit.playFrom serves the map's replay too.
(function () {
  "use strict";
  window.fieldkit.playFrom = function (player, source, seconds) {
    var go = function () { player.currentTime = Math.max(0, seconds); player.play().catch(function () { /* paused meanwhile */ }); };
    if (player.src !== source) {
      player.src = source;
      player.addEventListener("loadedmetadata", go, { once: true });
      player.load();
    } else { go(); }
  };
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-play-src]");
    var player = document.getElementById("audio-player");
    if (!button || !player) { return; }
    window.fieldkit.playFrom(player, new URL(button.dataset.playSrc, window.location.href).href,
                             parseFloat(button.dataset.playAt) || 0);
  });
})();

// Interview screens: autosave states, keyboard shortcuts, the section clock, marking quotes.
(function () {
  "use strict";
  // A question shown only for a certain answer appears and disappears as that answer is chosen here
  // (the server decides the same when the page is drawn).
  function answerOf(fieldset) {
    return Array.prototype.filter.call(fieldset.querySelectorAll("input, textarea"), function (input) {
      return (input.type !== "radio" && input.type !== "checkbox") || input.checked;
    }).map(function (input) { return input.value.trim(); }).filter(Boolean);
  }
  // A typed answer waits for a pause like a note; leaving first saves it (save-now).
  var answersWaiting = new Set();
  document.addEventListener("htmx:afterRequest", function (event) {
    if (event.detail.successful) { answersWaiting.delete(event.detail.elt); }
  });
  window.fieldkit.addSaver({
    pending: function () { return answersWaiting.size > 0; },
    flush: function () {
      return Promise.all(Array.from(answersWaiting).map(function (fieldset) {
        return new Promise(function (resolve) {
          var done = function (event) {
            if (event.detail.elt !== fieldset) { return; }
            document.removeEventListener("htmx:afterRequest", done);
            resolve(event.detail.successful);
          };
          document.addEventListener("htmx:afterRequest", done);
          window.htmx.trigger(fieldset, "save-now");
        });
      })).then(function (results) { return results.every(Boolean); });
    },
    sendBeforeUnload: function () { return false; }
  });
  document.addEventListener("input", function (event) {
    var fieldset = event.target.closest && event.target.closest("fieldset.answer-value");
    if (!fieldset) { return; }
    if (fieldset.hasAttribute("hx-post")) { answersWaiting.add(fieldset); }
    var chosen = answerOf(fieldset);
    document.querySelectorAll('[data-show-if="' + fieldset.dataset.question + '"]').forEach(function (question) {
      var wanted = question.dataset.showEquals;
      question.hidden = !(wanted ? chosen.indexOf(wanted) >= 0 : chosen.length > 0);
    });
  });
  var body = document.body;
  var token = window.fieldkit.token;
  var pending = new Set();
  var KEEPALIVE_LIMIT = 60000; // bytes a request may carry while the page unloads

  // The browser may put back text it remembered in a form (Back, reload); the page shows only what
  // the server has, which it rendered as the field's default.
  document.querySelectorAll("textarea[hx-post]").forEach(function (area) {
    if (area.value !== area.defaultValue) { area.value = area.defaultValue; }
  });

  function slotFor(element) {
    var target = element.getAttribute("hx-target");
    return target ? document.querySelector(target) : null;
  }
  function say(element, text, kind) {
    var slot = slotFor(element);
    if (slot) { slot.innerHTML = ""; var span = document.createElement("span"); span.className = "save-status " + kind; span.textContent = text; slot.appendChild(span); }
  }

  // A note shows "saved" only after the server answered, i.e. after the encrypted write is on disk,
  // and only if nothing was typed after that request left.
  document.addEventListener("input", function (event) {
    var area = event.target;
    if (area.matches && area.matches("textarea[hx-post]")) {
      area.edits = (area.edits || 0) + 1;
      area.failed = false;
      pending.add(area);
      say(area, body.dataset.msgPending, "pending");
    }
  });
  document.addEventListener("htmx:configRequest", function (event) { event.detail.elt.sent = event.detail.elt.edits; });
  document.addEventListener("htmx:afterRequest", function (event) {
    var element = event.detail.elt;
    if (!pending.has(element)) { return; }
    if (event.detail.xhr.status === 200 && element.sent === element.edits) { pending.delete(element); }
    else if (event.detail.xhr.status === 200) { say(element, body.dataset.msgPending, "pending"); }
    settle(element);
  });
  document.addEventListener("htmx:sendError", function (event) {
    var element = event.detail.elt;
    if (element.matches("textarea[hx-post]")) {
      pending.add(element);
      element.failed = true;
      say(element, body.dataset.msgOffline, "failed");
      settle(element);
      setTimeout(function () { htmx.trigger(element, "retry"); }, 3000);
    }
  });

  // Saving now goes through htmx's own queue for the note (hx-sync), so it lands after any request
  // already on its way and never overwrites newer text with older.
  var waiting = new Map(); // note → callbacks waiting for its next answer
  function settle(area) {
    var callbacks = waiting.get(area) || [];
    if (!pending.has(area) || area.failed) {
      waiting.delete(area);
      callbacks.forEach(function (callback) { callback(!pending.has(area)); });
    }
  }
  function saveNow(area) {
    return new Promise(function (resolve) {
      if (!pending.has(area)) { resolve(true); return; }
      waiting.set(area, (waiting.get(area) || []).concat([resolve]));
      area.failed = false;
      htmx.trigger(area, "retry");
    });
  }
  window.fieldkit.addSaver({
    pending: function () { return pending.size > 0; },
    flush: function () {
      return Promise.all(Array.from(pending).map(saveNow)).then(function (results) { return results.every(Boolean); });
    },
    sendBeforeUnload: function () {
      return Array.from(pending).every(function (area) {
        var form = new URLSearchParams({ text: area.value });
        if (area.failed || form.toString().length > KEEPALIVE_LIMIT) { return false; }
        fetch(area.getAttribute("hx-post"), { method: "POST", body: form, keepalive: true, credentials: "same-origin",
                                              headers: { "X-CSRF-Token": token, "HX-Request": "true" } });
        return true;
      });
    }
  });

  // Alt+key presses the element marked data-key="key" (Alt, so typing in the notes is never taken).
  document.addEventListener("keydown", function (event) {
    if (!event.altKey || event.ctrlKey || event.metaKey) { return; }
    // event.code, not event.key: Alt+letter types special characters on some layouts (macOS).
    var match = /^(?:Key([A-Z])|Digit(\d))$/.exec(event.code);
    var key = match ? (match[1] || match[2]).toLowerCase() : "";
    if (!key) { return; }
    // Prefer the control beside the focused note (a whole section has one quote button per question).
    var scope = document.activeElement && document.activeElement.closest && document.activeElement.closest(".notes");
    var target = (scope && scope.querySelector('[data-key="' + key + '"]')) || document.querySelector('[data-key="' + key + '"]');
    if (target) { event.preventDefault(); target.click(); }
  });

  // Colour swatches of the codebook (no inline styles under our Content-Security-Policy).
  document.querySelectorAll("[data-colour]").forEach(function (swatch) { swatch.style.backgroundColor = swatch.dataset.colour; });

  // The section clock: shows the time spent in this section and reports it every 30 s and on leaving,
  // together with where the interviewer is, so reopening the interview returns here.
  var runner = document.querySelector(".runner");
  if (runner && runner.dataset.editable === "yes") {
    var shown = document.getElementById("section-clock");
    var total = parseInt(runner.dataset.clockSeconds || "0", 10);
    var unreported = 0;
    var report = function () {
      var seconds = unreported;
      var form = new URLSearchParams({ section: runner.dataset.section, question: runner.dataset.question,
                                       mode: runner.dataset.mode, seconds: String(seconds) });
      unreported = 0;
      fetch(runner.dataset.clockUrl, { method: "POST", body: form, keepalive: true, credentials: "same-origin",
                                       headers: { "X-CSRF-Token": token } })
        .catch(function () { unreported += seconds; });  // offline: report these seconds with the next try
    };
    var render = function () {
      var minutes = Math.floor(total / 60), seconds = total % 60;
      shown.textContent = minutes + ":" + (seconds < 10 ? "0" : "") + seconds;
    };
    render();
    report();
    setInterval(function () {
      if (document.visibilityState !== "visible") { return; }
      total += 1; unreported += 1; render();
      if (unreported >= 30) { report(); }
    }, 1000);
    window.addEventListener("pagehide", function () { if (unreported) { report(); } });
  }

  // Marking a quote: the selected characters of a note or transcript (offsets in code points,
  // as the server counts them), sent once the note is saved.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest(".mark-quote");
    if (!button) { return; }
    var area = document.getElementById(button.dataset.for);
    var start = area.selectionStart, end = area.selectionEnd;
    var hint = button.parentNode.querySelector(".quote-hint");
    if (start === end) {  // said beside the button, not in a dialog that stops the interview
      if (hint) { hint.textContent = body.dataset.msgSelect; }
      area.focus();
      return;
    }
    if (hint) { hint.textContent = ""; }
    // What was selected at the click is what is quoted; the server checks it against the saved note.
    var values = {
      source_kind: area.dataset.sourceKind || "answer",
      source_id: area.dataset.sourceId || area.dataset.question,
      start: Array.from(area.value.slice(0, start)).length,
      end: Array.from(area.value.slice(0, end)).length,
      text: area.value.slice(start, end)
    };
    saveNow(area).then(function () {
      htmx.ajax("POST", button.dataset.url, { target: "#quotes", swap: "outerHTML", values: values });
    });
  });
})();

// The guide editor: each field (data-path) saves after a pause in typing; adding, moving, previewing or
// publishing first saves the fields still waiting (as notes do), so no edit is lost to the page changing.
(function () {
  "use strict";
  var editor = document.querySelector(".guide-editor");
  if (!editor) { return; }
  var status = document.getElementById("editor-status");
  var timers = new Map(), waiting = new Set();
  function send(field) {
    clearTimeout(timers.get(field));
    timers.delete(field);
    var body = new URLSearchParams({ path: field.dataset.path, value: field.value });
    return fetch(editor.dataset.fieldUrl, { method: "POST", body: body, credentials: "same-origin",
                                            headers: { "X-CSRF-Token": window.fieldkit.token } })
      .then(function (response) {
        return response.text().then(function (answer) {
          status.innerHTML = answer; // our own page fragment: saved, or why not, and what is left to do
          if (response.ok) { waiting.delete(field); }
          return response.ok;
        });
      }, function () { status.textContent = document.body.dataset.msgOffline || ""; return false; });
  }
  editor.addEventListener("input", function (event) {
    var field = event.target;
    if (!field.dataset || !field.dataset.path) { return; }
    waiting.add(field);
    clearTimeout(timers.get(field));
    timers.set(field, setTimeout(function () { send(field); }, 600));
  });
  window.fieldkit.addSaver({
    pending: function () { return waiting.size > 0; },
    flush: function () {
      return Promise.all(Array.from(waiting).map(send)).then(function (results) { return results.every(Boolean); });
    },
    sendBeforeUnload: function () { return false; }
  });

  // Dragging an item by its grip onto another item of the same list moves it there (the ↑ ↓ buttons do
  // the same by keyboard).
  var dragged = null;
  function listItem(element) { return element && element.closest && element.closest("li[id^='at-']"); }
  function sibling(element) { // the item of the dragged one's list that holds element (items nest: probes in questions)
    var item = listItem(element);
    while (item && dragged && item.parentElement !== dragged.parentElement) { item = listItem(item.parentElement); }
    return item;
  }
  editor.addEventListener("dragstart", function (event) {
    if (!event.target.classList || !event.target.classList.contains("grip")) { return; }
    dragged = listItem(event.target);
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", event.target.dataset.item);
  });
  editor.addEventListener("dragover", function (event) {
    var target = sibling(event.target);
    if (dragged && target && target !== dragged && target.parentElement === dragged.parentElement) { event.preventDefault(); }
  });
  editor.addEventListener("drop", function (event) {
    var target = sibling(event.target);
    if (!dragged || !target || target.parentElement !== dragged.parentElement) { return; }
    event.preventDefault();
    var to = Array.prototype.indexOf.call(target.parentElement.children, target);
    var move = function () {
      var form = document.getElementById("editor-change");
      var body = new URLSearchParams({ op: "move|" + dragged.id.slice(3) + "|" + to });
      fetch(form.action, { method: "POST", body: body, credentials: "same-origin", headers: { "X-CSRF-Token": window.fieldkit.token } })
        .then(function (response) { window.location.assign(response.url); });
    };
    window.fieldkit.leave(move);
  });
})();
