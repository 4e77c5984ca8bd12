// The Requests page: "select all on this page", the count of selected rows, and a click anywhere on a
// row opening its request. Without JavaScript the per-row boxes and the time links still work.
"use strict";
(function () {
  function boxes() {
    return Array.prototype.slice.call(document.querySelectorAll('#rows input[name="selected"]'));
  }

  function refresh() {
    var all = document.getElementById("select-all");
    var count = document.getElementById("selected-count");
    var list = boxes();
    var checked = list.filter(function (box) { return box.checked; }).length;
    if (all) {
      all.hidden = false;
      all.checked = list.length > 0 && checked === list.length;
      all.indeterminate = checked > 0 && checked < list.length;
    }
    if (count) {
      count.textContent = checked ? checked + " selected" : "";
    }
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (!(target instanceof HTMLInputElement)) {
      return;
    }
    if (target.id === "select-all") {
      boxes().forEach(function (box) { box.checked = target.checked; });
      refresh();
    } else if (target.name === "selected") {
      refresh();
    }
  });

  // The open request's row is marked; a click on a row's empty space opens it like its time link.
  function mark(row) {
    document.querySelectorAll('#rows tr[aria-current="true"]').forEach(function (other) {
      other.removeAttribute("aria-current");
    });
    if (row) {
      row.setAttribute("aria-current", "true");
    }
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!(target instanceof Element)) {
      return;
    }
    var row = target.closest("#rows tr");
    if (!row) {
      return;
    }
    if (target.closest("a.request-link")) {
      mark(row);
      return;
    }
    var selected = window.getSelection ? String(window.getSelection()) : "";
    if (target.closest("a, button, input, label, summary, details") || selected) {
      return;
    }
    var link = row.querySelector("a.request-link");
    if (link) {
      mark(row);
      link.click();
    }
  });

  // Exporting (or adding to a dataset) nothing would only answer an error page: say so here instead.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form instanceof HTMLFormElement && form.id === "selection" &&
        !boxes().some(function (box) { return box.checked; })) {
      event.preventDefault();
      var adding = event.submitter && event.submitter.name === "add";
      var count = document.getElementById("selected-count");
      if (count) {
        count.textContent = adding ? "Select requests to add first" : "Select requests to export first";
      }
    }
  });

  document.addEventListener("htmx:afterSettle", refresh);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", refresh);
  } else {
    refresh();
  }
})();
