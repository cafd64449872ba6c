// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";

  var toast = function (text) {
    var el = document.getElementById("toast");
    if (!el) return;
    el.textContent = text;
    el.hidden = false;
    clearTimeout(el._timer);
    el._timer = setTimeout(function () { el.hidden = true; }, 6000);
  };

  // Refusals htmx does not swap (403, 404, 5xx): say so instead of doing nothing.
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    if (status === 403) toast("Your role on this deployment does not allow this.");
    else if (status === 404) toast("That no longer exists. Reload the page to see the current state.");
    else toast("Something went wrong (" + status + "). Nothing was changed on your side; try again.");
  });
  document.addEventListener("htmx:sendError", function () {
    toast("The server could not be reached. Check your connection and try again.");
  });

  // Escape cancels an inline edit or a confirmation: it follows the region's Cancel link.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var active = document.activeElement;
    var region = active && active.closest ? active.closest("[data-escape]") : null;
    if (!region) region = document.querySelector("[data-escape]");
    var cancel = region && region.querySelector("[data-cancel]");
    if (!cancel) return;
    event.preventDefault();
    // A region swapped in a moment ago may not be initialised by htmx yet (autofocus fires
    // first): without this, the click would follow the plain link, a same-page #fragment.
    if (window.htmx) window.htmx.process(region);
    cancel.click();
  });

  // Copy buttons (the runtime token shown once).
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-copy]") : null;
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) return;
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      button.textContent = "Copied";
    });
  });

  // A kind's default variable name, shown as the placeholder of the variable name field.
  document.addEventListener("change", function (event) {
    var select = event.target;
    if (!select.matches || !select.matches("select[data-binding-kind]")) return;
    // Each option carries its kind's default name, rendered from rules.BINDING_KINDS.
    var field = document.getElementById(select.getAttribute("data-binding-kind"));
    var option = select.options[select.selectedIndex];
    if (field) field.placeholder = (option && option.getAttribute("data-variable-name")) || "";
  });
})();
