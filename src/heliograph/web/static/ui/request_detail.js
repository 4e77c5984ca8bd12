// One request, in the Requests list's drawer or on its own page. Esc closes the drawer and puts the
// list's URL back in the address bar; ArrowUp/ArrowDown follow the Previous/Next links (not while
// typing in a field); the drawer's Close button; focus moves into the drawer when it opens, so a
// keyboard or screen reader user lands on what they asked for. Loaded by the list and the page.
"use strict";
(function () {
  function drawer() {
    return document.getElementById("drawer");
  }

  function panel() {
    var aside = drawer();
    return aside ? aside.querySelector(".drawer-panel") : null;
  }

  function rowOf(id) {
    return id ? document.querySelector('#rows tr[data-request-id="' + CSS.escape(id) + '"]') : null;
  }

  // The list's row of the open request is marked (requests.js marks it on a click; this follows
  // the keyboard).
  function mark(id) {
    document.querySelectorAll('#rows tr[aria-current="true"]').forEach(function (row) {
      row.removeAttribute("aria-current");
    });
    var row = rowOf(id);
    if (row) {
      row.setAttribute("aria-current", "true");
    }
  }

  function close() {
    var aside = drawer();
    var open = panel();
    if (!aside || !open) {
      return false;
    }
    var listUrl = open.getAttribute("data-list-url");
    var row = rowOf(open.getAttribute("data-request-id"));
    aside.replaceChildren();
    mark(null);
    if (listUrl && window.location.pathname + window.location.search !== listUrl) {
      // Marked as htmx's own entry, so that Back and Forward through it are restored by htmx.
      window.history.pushState({ htmx: true }, "", listUrl);
    }
    // Back on the row that was open, as a dialog's closing returns focus to its opener.
    var link = row ? row.querySelector("a.request-link") : null;
    if (link) {
      link.focus();
    }
    return true;
  }

  var busy = false;

  function idle() {
    busy = false;
  }

  function typing(target) {
    return target instanceof Element &&
      !!target.closest('input, textarea, select, pre, [contenteditable=""], [contenteditable="true"]');
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) {
      return;
    }
    if (typing(event.target)) {
      return;
    }
    if (event.key === "Escape") {
      if (close()) {
        event.preventDefault();
      }
      return;
    }
    if (event.key !== "ArrowUp" && event.key !== "ArrowDown") {
      return;
    }
    var open = panel();
    var scope = open || document.querySelector(".detail-page");
    var rel = event.key === "ArrowUp" ? "prev" : "next";
    var link = scope ? scope.querySelector('a[data-nav="' + rel + '"]') : null;
    if (!link) {
      return;
    }
    event.preventDefault();
    var url = link.getAttribute("hx-get");
    if (open && url && window.htmx) {
      // Asked of htmx directly: a link swapped in a moment ago is not yet htmx's (it takes them over
      // when the swap settles), and a click on it then would load the whole page. One at a time.
      if (!busy) {
        busy = true;
        window.htmx.ajax("GET", url, { source: link, target: "#drawer" }).then(idle, idle);
      }
    } else {
      link.click();
    }
  });

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (target instanceof Element && target.closest("[data-close-drawer]")) {
      event.preventDefault();
      close();
    }
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail ? event.detail.target : null;
    if (!target || target.id !== "drawer") {
      return;
    }
    var open = panel();
    if (!open) {
      return;
    }
    mark(open.getAttribute("data-request-id"));
    var focus = open.querySelector("[data-notice]") || open.querySelector("#drawer-title");
    if (focus) {
      focus.focus();
    }
  });
})();
