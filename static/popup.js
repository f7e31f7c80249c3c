// popup.js: the chat window opened by startChat without `embedded`. The
// opener passes its plain options in the query string; functions (custom
// registration, transport, logger) stay with the opener's page.
(function () {
  "use strict";
  var query = new URLSearchParams(location.search);
  var options = { embedded: true };
  if (query.get("localization")) options.localization = query.get("localization");
  if (query.get("maxOfflineDuration")) options.maxOfflineDuration = Number(query.get("maxOfflineDuration"));
  if (query.get("disableWebSockets") === "true") options.disableWebSockets = true;
  if (query.get("debug") === "true") options.debug = true;
  window.chat.startChatInThisWindow(options);
})();
