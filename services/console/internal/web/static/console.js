// driftgate console: live updates. The server pushes one server-sent event
// per event of the stream; the page then fetches itself again and swaps
// the regions marked data-live (forms outside them keep what was typed).
(function () {
  "use strict";
  var dot = document.getElementById("live");
  var timer = null;
  var busy = false;
  var again = false;

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(location.href, { credentials: "same-origin", headers: { "X-Driftgate-Live": "1" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var doc = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live]").forEach(function (el) {
          var fresh = el.id ? doc.getElementById(el.id) : null;
          if (!fresh || typing(el)) { return; }
          el.replaceWith(document.importNode(fresh, true));
        });
        document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
      })
      .catch(function () {})
      .then(function () {
        busy = false;
        if (again) { again = false; schedule(); }
      });
  }

  // A region where someone is typing (a decision's reason) is left alone
  // until the next event.
  function typing(el) {
    if (el.contains(document.activeElement) && document.activeElement !== document.body) { return true; }
    return Array.prototype.some.call(el.querySelectorAll("input[type=text]"), function (i) { return i.value !== ""; });
  }

  function schedule() {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(function () { timer = null; refresh(); }, 150);
  }

  if (!window.EventSource) { return; }
  var es = new EventSource("/events");
  es.addEventListener("hello", function () {
    if (dot) { dot.classList.add("on"); }
    document.body.dataset.live = "on";
  });
  es.addEventListener("driftgate", schedule);
  es.onerror = function () {
    if (dot) { dot.classList.remove("on"); }
    document.body.dataset.live = "off";
  };
})();
