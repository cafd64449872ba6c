// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";

  // Messages in one place: the #flash region of base.html. Sections send theirs there out of
  // band; a refusal htmx does not swap is said there too. Each stays until dismissed or until
  // the next change is sent.
  var flash = function (text, tags) {
    var region = document.getElementById("flash");
    if (!region) return;
    var message = document.createElement("div");
    message.className = "message " + (tags || "error");
    message.setAttribute("data-testid", "flash-message");
    var span = document.createElement("span");
    span.textContent = text;
    var dismiss = document.createElement("button");
    dismiss.type = "button";
    dismiss.className = "flash-dismiss";
    dismiss.setAttribute("data-dismiss", "");
    dismiss.setAttribute("aria-label", "Dismiss");
    dismiss.textContent = "×";
    message.appendChild(span);
    message.appendChild(dismiss);
    region.replaceChildren(message);
  };
  var toast = function (text) { flash(text, "error"); };
  document.addEventListener("click", function (event) {
    var dismiss = event.target.closest ? event.target.closest("#flash [data-dismiss]") : null;
    if (dismiss) dismiss.closest(".message").remove();
  });

  // Loading feedback says what is happening: while a request runs, the button that sent it reads
  // its data-loading-text, or a verb made from its own label ("Apply 2 changes" → "Applying…").
  var VERBS = {
    add: "Adding", apply: "Applying", change: "Changing", check: "Checking", copy: "Copying",
    create: "Creating", delete: "Deleting", deploy: "Deploying", destroy: "Destroying",
    detach: "Detaching", import: "Importing", invite: "Inviting", preview: "Previewing",
    promote: "Promoting", register: "Registering", remove: "Removing", restore: "Restoring",
    retry: "Retrying", reveal: "Revealing", revoke: "Revoking", roll: "Rolling back",
    save: "Saving", set: "Setting", update: "Updating"
  };
  var loadingText = function (button) {
    var given = button.getAttribute("data-loading-text");
    if (given) return given;
    var first = (button.textContent.trim().split(/\s+/)[0] || "").toLowerCase();
    return VERBS[first] ? VERBS[first] + "…" : "Working…";
  };
  var sender = function (event) {
    var elt = event.detail.elt;
    var trigger = event.detail.requestConfig && event.detail.requestConfig.triggeringEvent;
    var button = trigger && trigger.submitter;
    if (!button && elt && elt.matches && elt.matches("button")) button = elt;
    if (!button && elt && elt.matches && elt.matches("form")) button = elt.querySelector("button[type=submit], button:not([type])");
    return button && button.matches("button") && !button.classList.contains("link") ? button : null;
  };
  document.addEventListener("htmx:beforeRequest", function (event) {
    var verb = (event.detail.requestConfig && event.detail.requestConfig.verb) || "get";
    if (verb !== "get") {
      var region = document.getElementById("flash");
      if (region) region.replaceChildren();
    }
    var button = sender(event);
    if (!button || button._loading) return;
    button._loading = button.innerHTML;
    button.textContent = loadingText(button);
    button.setAttribute("aria-busy", "true");
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var button = sender(event);
    if (!button || !button._loading) return;
    // Usually the response has replaced the button; one still on the page reads as before.
    button.innerHTML = button._loading;
    button._loading = null;
    button.removeAttribute("aria-busy");
  });

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

  // After an htmx swap, say what happened and put focus somewhere useful.
  // A live region swapped in with its message already inside is not announced: each swapped
  // region's own status region (role=status, aria-live) is emptied and refilled a moment later,
  // which screen readers announce. Focus lost with the old content moves into the swapped
  // region: to its autofocus button or field, its first invalid field (its error is named by
  // aria-describedby), its [data-focus] element, its heading, or its first control.
  var CONTROLS = "a[href], button:not([disabled]), input:not([type=hidden]):not([disabled]), select, textarea";
  var reannounce = function (live) {
    var nodes = Array.prototype.slice.call(live.childNodes);
    if (!live.textContent.trim()) return;
    nodes.forEach(function (node) { live.removeChild(node); });
    setTimeout(function () { nodes.forEach(function (node) { live.appendChild(node); }); }, 100);
  };
  var focusInto = function (region) {
    var active = document.activeElement;
    if (active && active !== document.body && document.body.contains(active)) return;
    var target = region.querySelector("[autofocus]") || region.querySelector("[aria-invalid=true]") ||
      region.querySelector("[data-focus]") || region.querySelector("h1, h2, h3") || region.querySelector(CONTROLS);
    if (!target) return;
    if (!target.matches(CONTROLS) && !target.hasAttribute("tabindex")) target.setAttribute("tabindex", "-1");
    target.focus();
  };
  var settled = [];
  document.addEventListener("htmx:afterSettle", function (event) {
    var elt = event.detail.elt;
    if (!elt || elt.nodeType !== 1) return;
    settled.push(elt);
    if (settled.length > 1) return;
    // One swap settles its out-of-band elements first, then its target: handle them together.
    setTimeout(function () {
      var regions = settled.filter(function (el) { return document.body.contains(el); });
      settled = [];
      regions.forEach(function (region) {
        var lives = region.matches("[aria-live]") ? [region] : [];
        lives.concat(Array.prototype.slice.call(region.querySelectorAll("[aria-live]"))).forEach(reannounce);
      });
      if (regions.length) focusInto(regions[regions.length - 1]);
    }, 0);
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
