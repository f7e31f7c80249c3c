// chat.js: Parley's chat widget in the browser. The server renders the
// widget; this script only enhances it: forms post in the background and the
// server's fragment replaces the widget, and the registration form's draft
// is saved as the visitor types, so a reload brings it back.
(function () {
  "use strict";

  var WIDGET_ID = "parley-widget";
  var DRAFT_DELAY_MS = 400;

  function widget() {
    return document.getElementById(WIDGET_ID);
  }

  function csrfToken(form) {
    var field = form && form.querySelector("input[name=_csrf]");
    return field ? field.value : "";
  }

  function post(url, body, token) {
    return fetch(url, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "HX-Request": "true", "X-CSRF-Token": token }
    });
  }

  // replaceWidget swaps in the server's fragment, keeping focus on the
  // control that had it so typing goes on uninterrupted.
  function replaceWidget(html) {
    var current = widget();
    if (!current) return;
    var template = document.createElement("template");
    template.innerHTML = html.trim();
    var fresh = template.content.querySelector("#" + WIDGET_ID);
    if (!fresh) {
      // An error fragment: show it inside the widget, keeping what is there.
      var line = template.content.firstElementChild;
      var old = current.querySelector(":scope > .parley-error");
      if (old) old.remove();
      if (line) current.querySelector(".parley-header").after(line);
      return;
    }
    var focusedId = document.activeElement && current.contains(document.activeElement) ? document.activeElement.id : "";
    current.replaceWith(fresh);
    var refocus = focusedId && document.getElementById(focusedId);
    if (refocus) refocus.focus();
    scrollLog(fresh);
  }

  function scrollLog(root) {
    var log = root.querySelector(".parley-log");
    if (log) log.scrollTop = log.scrollHeight;
  }

  var draftTimer = 0;
  function scheduleDraft(form) {
    clearTimeout(draftTimer);
    draftTimer = setTimeout(function () {
      var body = new FormData(form);
      post(form.getAttribute("data-draft-action"), body, csrfToken(form)).catch(function () {});
    }, DRAFT_DELAY_MS);
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.closest || !form.closest("#" + WIDGET_ID)) return;
    event.preventDefault();
    clearTimeout(draftTimer);
    var button = form.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    post(form.action, new FormData(form), csrfToken(form))
      .then(function (response) { return response.text(); })
      .then(replaceWidget)
      .catch(function () { form.submit(); })
      .finally(function () { if (button) button.disabled = false; });
  });

  document.addEventListener("input", function (event) {
    var form = event.target.form;
    if (form && form.hasAttribute("data-draft-action") && form.closest("#" + WIDGET_ID)) {
      scheduleDraft(form);
    }
  });

  // Enter sends, Shift+Enter makes a new line, as in every chat.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Enter" || event.shiftKey || event.isComposing) return;
    var box = event.target;
    if (box.id === "parley-message" && box.form) {
      event.preventDefault();
      box.form.requestSubmit();
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    var w = widget();
    if (w) scrollLog(w);
  });

  window.chat = window.chat || {
    restoreChat: function () { return Promise.resolve(); }
  };
})();
