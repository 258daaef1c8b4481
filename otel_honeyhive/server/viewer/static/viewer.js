/* otel-honeyhive viewer: progressive enhancement only; every page works without this file.
   - the first page of the session list polls for new sessions;
   - selecting an event swaps in its detail (and keeps the URL, so back/forward and reload work);
   - arrow keys move between events; collapsed values and the raw JSON are fetched when asked for.
   Server responses are inserted as the server rendered (and escaped) them, or as text. */
(function () {
  "use strict";

  // -- addresses -------------------------------------------------------------------------------------------
  // The server writes every link relative to the page it renders (so the viewer works under any path prefix a
  // proxy adds). This page changes its address (history.pushState) and takes in parts rendered for other
  // addresses, so each link is made whole once, against the address it was written for.
  function resolve(root, from) {
    root.querySelectorAll("a[href]").forEach(function (a) {
      a.setAttribute("href", new URL(a.getAttribute("href"), from).href);
    });
    root.querySelectorAll("[data-src]").forEach(function (e) { e.dataset.src = new URL(e.dataset.src, from).href; });
    root.querySelectorAll("[data-poll]").forEach(function (e) { e.dataset.poll = new URL(e.dataset.poll, from).href; });
    root.querySelectorAll("form[action]").forEach(function (f) {
      f.setAttribute("action", new URL(f.getAttribute("action"), from).href);
    });
    return root;
  }

  function rendered(html, from) {
    var t = document.createElement("template");
    t.innerHTML = html;
    return resolve(t.content, from);
  }

  resolve(document, location.href);

  function get(url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } }).then(function (r) {
      if (!r.ok) { throw new Error(r.status + " " + url); }
      return r.text();
    });
  }

  // -- the session list: new sessions appear without a reload -------------------------------------------
  function pollSessions() {
    var box = document.getElementById("session-rows");
    if (!box || !box.dataset.poll) { return; }
    var seconds = parseInt(box.dataset.pollSeconds || "5", 10);
    var last = null;
    setInterval(function () {
      if (document.hidden) { return; }
      get(box.dataset.poll).then(function (html) {
        if (html !== last && !box.contains(document.activeElement)) {
          box.replaceChildren(rendered(html, box.dataset.poll));
          last = html;
        }
      }).catch(function () { /* the server is gone or restarting: try again later */ });
    }, seconds * 1000);
  }

  // -- a session: selecting an event shows its detail --------------------------------------------------
  function links() { return Array.prototype.slice.call(document.querySelectorAll("#waterfall a[data-event]")); }

  function markCurrent(url) {
    var path = new URL(url, location.href).pathname;
    links().forEach(function (a) {
      if (new URL(a.href).pathname === path) { a.setAttribute("aria-current", "true"); }
      else { a.removeAttribute("aria-current"); }
    });
  }

  function showEvent(url, push, focusDetail) {
    var column = document.getElementById("detail-column");
    if (!column) { location.href = url; return; }
    var target = new URL(url, location.href);
    target.searchParams.set("part", "detail");
    get(target.toString()).then(function (html) {
      column.replaceChildren(rendered(html, target.toString()));
      markCurrent(url);
      if (push) { history.pushState({ event: url }, "", url); }
      var detail = document.getElementById("detail");
      var heading = document.getElementById("detail-heading");
      var status = document.getElementById("detail-status");
      if (status && heading) { status.textContent = "Showing " + heading.textContent.replace(/\s+/g, " ").trim(); }
      if (focusDetail && detail) { detail.focus(); }
    }).catch(function () { location.href = url; });
  }

  document.addEventListener("click", function (ev) {
    var a = ev.target.closest && ev.target.closest("a");
    if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) { return; }
    if (a.hasAttribute("data-event") && document.getElementById("detail-column")) {
      ev.preventDefault();
      showEvent(a.href, true, !a.closest("#waterfall"));
    } else if (a.hasAttribute("data-more")) {
      ev.preventDefault();
      expand(a);
    }
  });

  window.addEventListener("popstate", function () {
    if (document.getElementById("detail-column") && /\/events\//.test(location.pathname)) {
      showEvent(location.href, false, false);
    } else if (document.getElementById("detail-column")) {
      location.reload();
    }
  });

  document.addEventListener("keydown", function (ev) {
    if (ev.key !== "ArrowDown" && ev.key !== "ArrowUp") { return; }
    var all = links();
    var at = all.indexOf(document.activeElement);
    if (at < 0) { return; }
    ev.preventDefault();
    var next = all[Math.min(all.length - 1, Math.max(0, at + (ev.key === "ArrowDown" ? 1 : -1)))];
    next.focus();
    showEvent(next.href, true, false);
  });

  // -- collapsed values and the raw JSON, fetched when asked for ----------------------------------------
  function expand(a) {
    a.textContent = "loading…";
    get(a.href).then(function (text) {
      var holder = a.closest(".collapsed") || a;
      var whole = document.createElement("span");
      whole.className = "expanded";
      whole.textContent = text;
      holder.replaceWith(whole);
    }).catch(function () { a.textContent = "could not load it: open it"; a.removeAttribute("data-more"); });
  }

  document.addEventListener("toggle", function (ev) {
    var d = ev.target;
    if (!(d instanceof HTMLDetailsElement) || !d.open || !d.dataset.src || d.dataset.loaded) { return; }
    d.dataset.loaded = "1";
    var pre = d.querySelector("pre");
    get(d.dataset.src).then(function (text) { pre.textContent = text; })
      .catch(function () { delete d.dataset.loaded; });
  }, true);

  pollSessions();
})();
