// The steward's review, keyboard first: N/P move between findings (open ones first), R replaces,
// K keeps, X marks "not a name" for the whole project, F approves. Each decision comes back as the
// whole review (htmx), and the next open finding takes the focus.
(function () {
  "use strict";
  var review = document.getElementById("review");
  if (!review) { return; }

  function flags() { return Array.prototype.slice.call(review.querySelectorAll(".flag")); }
  function current() { return document.activeElement && document.activeElement.closest && document.activeElement.closest(".flag"); }
  function focusFlag(flag) {
    if (!flag) { return; }
    flag.focus();
    review.querySelectorAll("mark.finding.current").forEach(function (mark) { mark.classList.remove("current"); });
    var mark = review.querySelector('mark.finding[data-flag="' + flag.dataset.flag + '"]');
    if (mark) { mark.classList.add("current"); mark.scrollIntoView({ block: "nearest" }); }
  }
  function step(direction) {
    var all = flags();
    if (!all.length) { return; }
    var index = all.indexOf(current());
    var open = all.filter(function (flag) { return flag.classList.contains("open"); });
    var pool = open.length ? open : all;
    var position = pool.indexOf(current());
    if (position < 0) { position = direction > 0 ? -1 : 0; if (index >= 0 && !open.length) { position = index; } }
    focusFlag(pool[(position + direction + pool.length) % pool.length]);
  }
  function firstOpen() { focusFlag(review.querySelector(".flag.open") || null); }

  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey) { return; }
    if (event.target.closest && event.target.closest("input, select, textarea")) { return; }
    var key = event.key.toLowerCase();
    if (key === "n" || key === "arrowdown") { event.preventDefault(); step(1); }
    else if (key === "p" || key === "arrowup") { event.preventDefault(); step(-1); }
    else if (key === "f") { var approve = document.getElementById("approve"); if (approve && !approve.disabled) { event.preventDefault(); approve.click(); } }
    else if (key === "r" || key === "k" || key === "x") {
      var flag = current() || review.querySelector(".flag.open");
      var button = flag && flag.querySelector('[data-decide="' + key + '"]');
      if (button) { event.preventDefault(); button.click(); }
    }
  });
  review.addEventListener("click", function (event) {
    var mark = event.target.closest && event.target.closest("mark.finding");
    if (mark) { focusFlag(review.querySelector('.flag[data-flag="' + mark.dataset.flag + '"]')); }
  });
  review.addEventListener("focusin", function (event) {
    var flag = event.target.closest && event.target.closest(".flag");
    if (flag && event.target === flag) { focusFlag(flag); }
  });
  document.addEventListener("htmx:afterSwap", function (event) { if (event.detail.target === review) { firstOpen(); } });
  firstOpen();
})();
