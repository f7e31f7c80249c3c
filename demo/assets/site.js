// The demo site's own script: it restores the chat on every page, as the
// widget's documentation tells site owners to. Partial navigation (htmx)
// keeps the page, its widget and its chat session, so once is enough.
(function () {
  "use strict";
  function restore() {
    if (!window.chat) return;
    window.chat.restoreChat({ embedded: true });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", restore);
  } else {
    restore();
  }
})();
