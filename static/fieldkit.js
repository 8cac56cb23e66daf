// fieldkit page glue: the CSRF header for HTMX and the idle lock. No inline script anywhere (CSP).
(function () {
  "use strict";
  var token = document.querySelector('meta[name="csrf-token"]').content;

  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRF-Token"] = token;
  });

  // Idle lock: the server locks the vault after the idle time; the page leaves the screen at the same
  // moment so nothing stays visible. Reading and typing count as activity and are reported at most
  // once a minute, so the server's clock agrees with what the person is doing.
  var body = document.body;
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
  // Idle here means idle: lock the vault now (the server may not have checked yet), then leave.
  var leaving = false;
  setInterval(function () {
    if (leaving || Date.now() - lastInput <= idleSeconds * 1000) { return; }
    leaving = true;
    fetch(body.dataset.lockUrl, { method: "POST", headers: { "X-CSRF-Token": token }, credentials: "same-origin" })
      .finally(function () { window.location.assign(body.dataset.unlockUrl); });
  }, 2000);
})();
