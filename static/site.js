// The demo site's own script: it restores the chat on every page, as the
// widget's documentation tells site owners to.
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
