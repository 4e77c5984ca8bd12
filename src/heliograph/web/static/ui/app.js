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
})();
