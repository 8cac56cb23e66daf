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
  function onActivity() {
    lastInput = Date.now();
    if (lastInput - lastReport > 60000) {
      lastReport = lastInput;
      fetch(body.dataset.activityUrl, { method: "POST", headers: { "X-CSRF-Token": token }, credentials: "same-origin" });
    }
  }
  ["pointerdown", "keydown", "input", "wheel", "touchstart"].forEach(function (name) {
    document.addEventListener(name, onActivity, { passive: true, capture: true });
  });
  document.addEventListener("htmx:afterRequest", function () { lastReport = Date.now(); });
  setInterval(function () {
    if (Date.now() - lastInput > idleSeconds * 1000) { window.location.assign(body.dataset.unlockUrl); }
  }, 5000);
})();
