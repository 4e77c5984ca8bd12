// Behaviour shared by every page. No inline scripts anywhere (the Content-Security-Policy forbids
// them); pages that need more load their own file from /static/ui/.
"use strict";
(function () {
  // A form marked data-confirm asks before it submits (revoking a key, removing a member).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  }, true);

  // #flash holds the error of the last request that failed. Once a request the person made succeeds
  // it is stale (it would go on saying "400 … not a number" above the results of the corrected
  // filter); the live tail's polls are not the person's doing and leave it.
  document.addEventListener("htmx:afterSwap", function (event) {
    var detail = event.detail || {};
    var flash = document.getElementById("flash");
    var source = detail.elt instanceof Element ? detail.elt : null;
    if (!flash || detail.failed || !detail.target || flash.contains(detail.target) ||
        (source && source.closest('[hx-trigger^="every"]'))) {
      return;
    }
    flash.replaceChildren();
  });
})();
