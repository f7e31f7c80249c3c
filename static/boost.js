// boost.js: the demo site's HTMX-style boosted navigation. A link marked
// hx-boost="true" loads the next page with fetch and swaps the body in
// place, keeping every element marked hx-preserve (the chat widget) exactly
// as it is, like htmx's hx-boost. Sites that use htmx itself need none of it.
(function () {
  "use strict";

  function boostedLink(event) {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
      return null;
    }
    var link = event.target.closest && event.target.closest("a[href]");
    if (!link || link.target || link.hasAttribute("download")) return null;
    var boost = link.closest("[hx-boost]");
    if (!boost || boost.getAttribute("hx-boost") !== "true") return null;
    var url = new URL(link.href, location.href);
    if (url.origin !== location.origin) return null;
    return url;
  }

  function swap(html) {
    var next = new DOMParser().parseFromString(html, "text/html");
    next.querySelectorAll("[hx-preserve][id]").forEach(function (fresh) {
      var kept = document.getElementById(fresh.id);
      if (kept) fresh.replaceWith(kept);
    });
    document.title = next.title;
    document.body.replaceChildren.apply(document.body, Array.prototype.slice.call(next.body.childNodes));
    document.dispatchEvent(new CustomEvent("htmx:afterSettle", { detail: { boosted: true } }));
  }

  function visit(url, push) {
    return fetch(url, {
      headers: { "HX-Request": "true", "HX-Boosted": "true", "HX-Current-URL": location.href },
      credentials: "same-origin"
    }).then(function (response) {
      if (!response.ok && response.status !== 404) throw new Error("HTTP " + response.status);
      return response.text().then(function (html) {
        if (push) history.pushState({ boosted: true }, "", response.url || url);
        swap(html);
        window.scrollTo(0, 0);
      });
    }).catch(function () {
      location.href = url; // fall back to a full load rather than a broken page
    });
  }

  document.addEventListener("click", function (event) {
    var url = boostedLink(event);
    if (!url) return;
    event.preventDefault();
    visit(url.href, true);
  });

  window.addEventListener("popstate", function () {
    visit(location.href, false);
  });
})();
