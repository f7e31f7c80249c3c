// chat.js: Parley's chat widget API (window.chat), as DESIGN §4 and the
// README describe it. The server renders the widget; this script binds the
// session API to it, keeps it live over a WebSocket (or long-polling), and
// swaps in the HTML the server sends, so it never builds markup of its own.
(function () {
  "use strict";

  // static/build.go serves this script twice over: as chat.js
  // (PARLEY_EMBED false) for a page that renders the widget itself, and as
  // embed.js (PARLEY_EMBED true) for a page of another site, which adds it
  // with one script tag (README, "Parley on any website"). There the widget
  // lives in a closed shadow root of its own, styled by PARLEY_CSS, and
  // every request goes to the chat server's origin with the visitor's
  // partitioned cookies.
  // (A tag manager may add the embed so that it has no currentScript.)
  var script = document.currentScript || (PARLEY_EMBED ? document.querySelector("script[src$='/embed.js']") : null);
  // A site's own navigation (Turbo, htmx) may run the script tag again: the
  // widget it made is still there.
  if (PARLEY_EMBED && (!script || (window.chat && window.chat.transports))) return;
  var WIDGET_ID = "parley-widget";
  // BASE is where the host site mounted Parley's visitor routes: this
  // script is served from BASE + "/static/chat.js", or BASE + "/embed.js"
  // with the chat server's ORIGIN.
  var src = script ? new URL(script.src, location.href) : null;
  var ORIGIN = PARLEY_EMBED && src ? src.origin : "";
  var BASE = src ? ORIGIN + src.pathname.replace(/\/(static\/chat|embed)\.js$/, "") : "/chat";
  var CREDENTIALS = PARLEY_EMBED ? "include" : "same-origin";
  // ROOT holds the widget: the page, or the embed's shadow root, whose HOST
  // joins the page once the widget is in it. The root is closed, so that
  // the page's other scripts (analytics, session replay) do not read the
  // conversation from the DOM; the page's styles do not reach into it.
  var HOST = null, ROOT = document;
  if (PARLEY_EMBED) {
    HOST = document.createElement("parley-chat");
    ROOT = HOST.attachShadow({ mode: "closed" });
    var sheet = new CSSStyleSheet();
    sheet.replaceSync(PARLEY_CSS);
    ROOT.adoptedStyleSheets = [sheet];
  }
  // Calls of window.chat that the page queued before the embed loaded.
  var queued = PARLEY_EMBED && window.chat && window.chat.q || [];
  var DRAFT_DELAY_MS = 400;
  var TYPING_EVERY_MS = 2000;
  var BACKOFF_MIN_MS = 500;
  var BACKOFF_MAX_MS = 15000;
  // A setback (the server said it is closing, or an event could not be
  // applied) waits at least this long, or the server's Retry-After.
  var SETBACK_MIN_MS = 1000;
  // After falling back to long-polling, the WebSocket is tried again after
  // UPGRADE_MIN_MS, then less and less often.
  var UPGRADE_MIN_MS = 10000;
  var UPGRADE_MAX_MS = 300000;
  // A tab past its chat's connection limit asks again this often: a place
  // frees up when another tab closes.
  var TOO_MANY_RETRY_MS = 5000;

  // Error codes, published in README.md; never renumbered.
  var ERRORS = {
    invalid_options: [100, "The options passed to the chat are not valid."],
    registration_invalid: [102, "The registration data is not valid."],
    transport_failed: [107, "The connection to the chat server failed."],
    chat_ended: [106, "The chat has ended."],
    server_error: [108, "The server could not complete the request."],
    too_many_connections: [116, "The chat is open in too many tabs; close one to chat here."],
    chat_already_running: [200, "A chat is already running on this page."],
    chat_running_elsewhere: [201, "A chat is already running on another page: call restoreChat."],
    embedded_required: [202, "restoreChat requires the option embedded: true."],
    popup_blocked: [203, "The browser blocked the chat's popup window."],
    chat_closed: [204, "Chat is closed: leave a message."]
  };

  function failure(name) {
    var e = ERRORS[name] || ERRORS.server_error;
    return { error: { code: e[0], name: name, description: e[1] } };
  }

  // chatPromise is a Promise with the vendor's chainable done and fail, on
  // it and on every promise its then and catch return. Only this library
  // can settle it: the settle functions are kept out of the page's reach.
  var settlers = new WeakMap();
  function chatPromise() {
    var settle = {};
    var p = decorate(new Promise(function (resolve, reject) { settle.resolve = resolve; settle.reject = reject; }));
    settlers.set(p, settle);
    p.then(null, function () {}); // a failure nobody listens to is no page error
    return p;
  }
  function decorate(p) {
    var then = p.then;
    p.then = function (a, b) { return decorate(then.call(p, a, b)); };
    p.done = function (fn) { p.then(fn, function () {}); return p; };
    p.fail = function (fn) { p.then(null, fn); return p; };
    return p;
  }
  function settled(p) { return settlers.get(p); }

  function validOptions(o) {
    if (o === undefined) return {};
    if (!o || typeof o !== "object") return null;
    var fn = function (v) { return v === undefined || typeof v === "function"; };
    var ok = fn(o.registration) &&
      (o.ui === undefined || o.ui === false || (o.ui && typeof o.ui === "object")) &&
      (o.localization === undefined || typeof o.localization === "string") &&
      (o.maxOfflineDuration === undefined || (typeof o.maxOfflineDuration === "number" && o.maxOfflineDuration > 0)) &&
      (o.transport === undefined || (o.transport && typeof o.transport.connect === "function" &&
        typeof o.transport.send === "function" && typeof o.transport.close === "function")) &&
      (o.logger === undefined || (o.logger && typeof o.logger.info === "function"));
    return ok ? o : null;
  }

  function logger(options) {
    var out = options.logger || (options.debug ? console : null);
    function at(level) {
      return function () {
        if (!out) return;
        var args = ["[parley]"].concat(Array.from(arguments));
        (out[level] || out.info).apply(out, args);
      };
    }
    return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
  }

  function clientId() {
    var b = new Uint8Array(12);
    crypto.getRandomValues(b);
    return Array.from(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
  }

  // ---- the widget in the page ----

  function widget() { return ROOT.getElementById(WIDGET_ID); }

  function csrfToken() {
    var field = ROOT.querySelector("#" + WIDGET_ID + " input[name=parley_csrf]");
    var meta = document.querySelector("meta[name=parley-csrf-token]");
    return field ? field.value : meta ? meta.content : "";
  }

  // request asks the chat server. A plain one (a GET of the widget) sends
  // no header of its own, so that the embed's, which crosses origins, costs
  // no CORS preflight on each page; keepalive outlives the page.
  function request(method, url, body, plain, keepalive) {
    var headers = { "Accept": "application/json, text/html" };
    if (!plain) {
      headers["HX-Request"] = "true";
      headers["X-Parley-CSRF"] = csrfToken();
    }
    return fetch(url, { method: method, body: body, credentials: CREDENTIALS, headers: headers, keepalive: !!keepalive });
  }

  // html answers with the widget's HTML, or rejects with the server's coded
  // error.
  function html(response) {
    var type = response.headers.get("Content-Type") || "";
    if (type.indexOf("application/json") === 0) {
      return response.json().then(function (body) {
        if (PARLEY_EMBED && body.error && body.error.name === "origin_not_allowed") {
          console.error("Parley: " + location.origin + " may not embed the chat of " + ORIGIN + ": the chat server lists the sites that may (-embed-origin).");
        }
        throw { error: body.error };
      });
    }
    return response.text();
  }

  function formBody(fields) {
    var body = new URLSearchParams();
    body.set("parley_csrf", csrfToken());
    body.set("return_to", returnTo());
    Object.keys(fields).forEach(function (k) { if (fields[k] !== undefined) body.set(k, fields[k]); });
    return body;
  }

  function returnTo() { return location.pathname; }

  // swapWidget replaces the widget with the server's, keeping focus and any
  // half-typed message, then lets the active chat catch up with the change.
  function swapWidget(markup) {
    var current = widget();
    var fresh = parse(markup);
    if (!current || !fresh) return;
    var had = current.contains(ROOT.activeElement) ? ROOT.activeElement : null;
    var oldBox = current.querySelector("#parley-message");
    var newBox = fresh.querySelector("#parley-message");
    if (oldBox && newBox && !newBox.value) newBox.value = oldBox.value;
    // This tab's open or collapsed state, and its unread count, stay.
    show(fresh, current.getAttribute("data-open") === "true");
    if (fresh.querySelector(".parley-launcher")) setUnread(fresh, unreadOf(current));
    current.replaceWith(fresh);
    // Focus stays in the widget: on the same control, or where opening puts it.
    var again = had && ((had.id && ROOT.getElementById(had.id)) || (had.closest(".parley-launcher") ? fresh.querySelector(".parley-open") : focusTarget(fresh)));
    if (again) again.focus();
    dress(fresh);
    sync();
  }

  function parse(markup) {
    var template = document.createElement("template");
    template.innerHTML = markup.trim();
    return template.content.querySelector("#" + WIDGET_ID);
  }

  // earlier puts the page of lines before the first one shown in place,
  // keeping what the visitor was reading where it was, and says whether
  // still earlier ones exist.
  var loadingEarlier = null;
  function earlier() {
    var root = widget(), log = root && root.querySelector(".parley-log"), first = log && log.querySelector("li[data-seq]");
    if (!first || !root.querySelector(".parley-earlier")) return Promise.resolve(false);
    if (loadingEarlier) return loadingEarlier;
    loadingEarlier = request("GET", BASE + "/transcript?before=" + first.getAttribute("data-seq")).then(html).then(function (markup) {
      var t = document.createElement("template");
      t.innerHTML = markup;
      var page = t.content.querySelector(".parley-earlier-page"), link = root.querySelector(".parley-earlier");
      var scroll = root.querySelector(".parley-scroll"), fromBottom = scroll.scrollHeight - scroll.scrollTop;
      page.querySelectorAll("li[data-seq]").forEach(function (li) { log.insertBefore(li, first); localTimes(li); });
      var more = !!page.querySelector(".parley-earlier");
      if (!more) {
        if (link.contains(ROOT.activeElement)) { scroll.tabIndex = -1; scroll.focus(); }
        link.remove();
      }
      scroll.scrollTop = scroll.scrollHeight - fromBottom;
      if (state.session) controls(state.session).sync(root);
      return more;
    }).finally(function () { loadingEarlier = null; });
    return loadingEarlier;
  }

  function scrollLog(root) {
    var log = root.querySelector(".parley-scroll");
    if (log) log.scrollTop = log.scrollHeight;
  }

  // ---- open and collapsed ----

  var UI_KEY = "parley-ui";

  // show draws root open or collapsed, and nothing more.
  function show(root, open) {
    var launcher = root.querySelector(".parley-launcher"), panel = root.querySelector(".parley-panel");
    if (!launcher || !panel) return;
    root.setAttribute("data-open", String(open));
    launcher.hidden = open;
    panel.hidden = !open;
    cover();
  }

  // On a phone the open widget covers the page: the page behind it is inert
  // (no focus, nothing read out) until the widget is minimized. chat.css
  // says where a phone begins: its phone layout sets --parley-cover.
  function cover() {
    var root = widget();
    var on = root && !root.hidden && root.getAttribute("data-open") === "true" && root.querySelector(".parley-launcher") &&
      getComputedStyle(root).getPropertyValue("--parley-cover") > 0;
    document.querySelectorAll("[data-parley-inert]").forEach(function (el) { el.inert = false; el.removeAttribute("data-parley-inert"); });
    for (var el = HOST || root; on && el.parentElement && el !== document.body; el = el.parentElement) {
      Array.from(el.parentElement.children).forEach(function (other) {
        if (other !== el && !other.inert) { other.inert = true; other.setAttribute("data-parley-inert", ""); }
      });
    }
  }
  addEventListener("resize", cover);

  // focusTarget is where focus goes in the open panel: a field to correct,
  // the message box, the first field or the start button; on a touch screen
  // the panel's first button, so that the on-screen keyboard stays down.
  function focusTarget(root) {
    var touch = matchMedia("(pointer: coarse)").matches;
    return root.querySelector(".parley-panel [aria-invalid=true]") ||
      (!touch && root.querySelector(".parley-panel textarea, .parley-panel input:not([type=hidden]), .parley-panel form:not(.parley-ui) button")) ||
      root.querySelector(".parley-panel button");
  }

  // setOpen opens or collapses the widget as the visitor asked: the state is
  // remembered for the next page (a cookie the server reads) and for the
  // visitor's other tabs (storage), and focus follows.
  function setOpen(open, focus) {
    var root = widget();
    if (!root || !root.querySelector(".parley-launcher")) return;
    show(root, open);
    // The panel animates as it opens, not on each swap.
    root.classList.toggle("parley-opening", open);
    if (open) setUnread(root, 0);
    var session = state.session;
    var value = open ? "open" : "min:" + root.getAttribute("data-chat-id") + ":" + (session ? controls(session).lastSeq() : root.getAttribute("data-last-seq"));
    // The embed's page cannot write the chat server's cookie: the server
    // does, as for a browser without JavaScript.
    if (PARLEY_EMBED) request("POST", BASE + "/ui", formBody({ open: String(open) }), false, true).catch(function () {});
    else document.cookie = root.getAttribute("data-ui-cookie") + "=" + value + "; path=/; max-age=" + root.getAttribute("data-ui-max-age") + "; samesite=lax" + (location.protocol === "https:" ? "; secure" : "");
    try { localStorage.setItem(UI_KEY, value + " " + Date.now()); } catch (e) { /* one tab only */ }
    if (focus) {
      var target = open ? focusTarget(root) : root.querySelector(".parley-open");
      if (target) target.focus();
    }
  }

  function unreadOf(root) {
    var badge = root.querySelector(".parley-unread");
    return badge ? Number(badge.getAttribute("data-count")) || 0 : 0;
  }

  // setUnread shows how many agent messages came while collapsed: beside
  // the launcher (its description) and in the page's title.
  function setUnread(root, n) {
    var badge = root.querySelector(".parley-unread"), button = root.querySelector(".parley-open");
    if (!badge || !button) return;
    badge.setAttribute("data-count", String(n));
    badge.textContent = badge.getAttribute("data-template").replace("{count}", n);
    badge.hidden = !n;
    if (n) button.setAttribute("aria-describedby", badge.id); else button.removeAttribute("aria-describedby");
    var title = document.title.replace(/^\(\d+\) /, "");
    document.title = n ? "(" + n + ") " + title : title;
  }

  // collapsedMessage counts an agent's message that came while collapsed,
  // and says so politely to screen readers.
  function collapsedMessage(ev) {
    var root = widget();
    if (!root || root.getAttribute("data-open") !== "false" || ev.kind !== "message" || ev.from.type !== "agent") return;
    setUnread(root, unreadOf(root) + 1);
    var line = root.querySelector(".parley-announce");
    if (line) line.textContent = line.getAttribute("data-template").replace("{name}", ev.from.name) + ": " + ev.text;
  }

  // The visitor's other tabs follow; opening there reads the new messages.
  window.addEventListener("storage", function (event) {
    var root = widget(), open = event.newValue && event.newValue.indexOf("open ") === 0;
    if (event.key !== UI_KEY || !event.newValue || !root) return;
    show(root, open);
    if (open) setUnread(root, 0);
  });

  // showUnread puts the server's count of unread messages in the title.
  function showUnread(root) {
    if (unreadOf(root)) setUnread(root, unreadOf(root));
  }

  // On a phone the open widget fills the screen above the keyboard: the
  // visual viewport is what the keyboard leaves. The page's root element
  // carries it, so that it holds for a widget swapped in later too.
  var vv = window.visualViewport;
  function fit() {
    var style = (HOST || document.documentElement).style;
    style.setProperty("--parley-vh", vv.height + "px");
    style.setProperty("--parley-vt", vv.offsetTop + "px");
  }
  if (vv) {
    vv.addEventListener("resize", fit);
    vv.addEventListener("scroll", fit);
    fit();
  }

  // dress applies the `ui` option to a freshly rendered widget.
  function dress(root) {
    var ui = state.options && state.options.ui;
    var form = root.querySelector(".parley-registration");
    root.hidden = ui === false;
    // A site's own registration replaces the form, unless its data was refused.
    if (form) form.hidden = !!(state.options && state.options.registration && !state.showForm);
    scrollLog(root);
    localTimes(root);
    // The embed's markup is the chat server's: so are its paths.
    if (PARLEY_EMBED) {
      root.querySelectorAll("[action], [href], [data-draft-action]").forEach(function (el) {
        ["action", "href", "data-draft-action"].forEach(function (name) {
          var v = el.getAttribute(name);
          if (v && v.charAt(0) === "/") el.setAttribute(name, ORIGIN + v);
        });
      });
    }
    if (!ui) return;
    var colors = ui.colors || {};
    var props = { accent: "accent", accentText: "accent-text", background: "bg", text: "text" };
    Object.keys(props).forEach(function (k) { if (colors[k]) root.style.setProperty("--parley-" + props[k], colors[k]); });
    if (ui.position) root.setAttribute("data-position", ui.position);
    // Whether the visitor chose: the embed's page cannot read the chat
    // server's cookie, but has its own record (setOpen).
    var chosen = PARLEY_EMBED ? (function () { try { return localStorage.getItem(UI_KEY) !== null; } catch (e) { return false; } })()
      : document.cookie.indexOf(root.getAttribute("data-ui-cookie") + "=") >= 0;
    if (typeof ui.open === "boolean" && !chosen) setOpen(ui.open, false);
    if (ui.title) root.querySelector(".parley-title").textContent = ui.title;
    var start = root.querySelector(".parley-start:not(.parley-restart) .parley-button");
    if (ui.startButtonText && start && root.getAttribute("data-state") === "start") start.textContent = ui.startButtonText;
    var open = root.querySelector(".parley-open");
    if (ui.startButtonText && open) open.textContent = ui.startButtonText;
  }

  // One formatter for every line: toLocaleTimeString builds a new one per
  // call, which for a restored page's 50 lines delayed its first paint.
  var clock;
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (t) {
      var d = new Date(t.getAttribute("datetime"));
      if (isNaN(d)) return;
      clock = clock || new Intl.DateTimeFormat([], { hour: "2-digit", minute: "2-digit" });
      t.textContent = clock.format(d);
    });
  }

  function readTranscript(root) {
    return Array.from(root.querySelectorAll(".parley-log > li[data-seq]"), readLine);
  }

  // readLine is a transcript entry as the server rendered it, so that a live
  // session and a restored one report the same transcript.
  function readLine(li) {
    var type = (li.className.match(/parley-from-(\w+)/) || [])[1] || "system";
    var author = li.querySelector(".parley-author");
    var time = li.querySelector("time");
    return {
      seq: Number(li.getAttribute("data-seq")),
      time: time ? time.getAttribute("datetime") : "",
      text: li.querySelector(".parley-text").textContent,
      from: { type: type, name: author ? author.textContent : "" }
    };
  }

  // ---- transports: each moves frames (docs/PROTOCOL.md) ----

  function websocketTransport(url) {
    var ws = null;
    return {
      name: "websocket",
      connect: function (on) {
        var opened = false;
        ws = new WebSocket(url || new URL(BASE + "/ws?page=" + encodeURIComponent(returnTo()), location.href).href.replace(/^http/, "ws"));
        ws.onopen = function () { opened = true; on.open(); };
        // A frame that cannot be handled ends this socket, not just its use:
        // the reconnect must not leave it open behind.
        ws.onmessage = function (m) { try { on.frame(JSON.parse(m.data)); } catch (e) { ws.onclose = null; ws.close(); on.close({ opened: opened }); } };
        // 1001 and 1012: the server is going away or restarting; wait.
        ws.onclose = function (e) { on.close({ opened: opened, tooMany: e.code === 4029, after: +(e.code === 1001 || e.code === 1012) }); };
      },
      send: function (frame) {
        if (!ws || ws.readyState !== 1) return false;
        ws.send(JSON.stringify(frame));
        return true;
      },
      close: function () { if (ws) { ws.onclose = null; ws.close(); } }
    };
  }

  function longpollTransport(base) {
    base = base || BASE;
    var running = false, after = 0, on = null, controller = null, wait = 0;
    function deliver(body) { (body.frames || []).forEach(function (f) { track(f); on.frame(f); }); }
    function track(f) {
      if (f.type === "event" && f.event.seq > after) after = f.event.seq;
      if (f.type === "resume" && f.recovered === false) after = f.lastSeq;
    }
    function poll() {
      if (!running) return;
      controller = new AbortController();
      fetch(base + "/poll?after=" + after + "&page=" + encodeURIComponent(returnTo()), { credentials: CREDENTIALS, signal: controller.signal, headers: { Accept: "application/json" } })
        .then(function (r) {
          // 503: the server is closing, and says how long to wait (s).
          wait = r.status === 503 && (r.headers.get("Retry-After") * 1000 || 1);
          if (!r.ok && r.status !== 429 && !wait) throw new Error("HTTP " + r.status);
          return r.json();
        })
        .then(function (body) {
          if (!running) return;
          if (!body.error) { deliver(body); poll(); return; }
          running = false;
          on.close({ opened: true, tooMany: body.error.name === "too_many_connections", after: wait });
        })
        .catch(function () { if (running) { running = false; on.close({ opened: true, after: wait }); } });
    }
    return {
      name: "longpoll",
      connect: function (handlers) { on = handlers; running = true; setTimeout(function () { on.open(); }, 0); },
      send: function (frame) {
        if (!running) return false;
        if (frame.type === "hello") { after = frame.lastSeq; poll(); return true; }
        fetch(base + "/frames", {
          method: "POST", credentials: CREDENTIALS, body: JSON.stringify(frame),
          headers: { "Content-Type": "application/json", "X-Parley-CSRF": csrfToken() }
        }).then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
          .then(function (body) { if (running) deliver(body); })
          .catch(function () { if (running) { running = false; if (controller) controller.abort(); on.close({ opened: true }); } });
        return true;
      },
      close: function () { running = false; if (controller) controller.abort(); }
    };
  }

  // ---- the session ----

  function Session(options, root) {
    var self = this;
    var log = logger(options);
    var handlers = {};
    var chatId = root.getAttribute("data-chat-id");
    var lastSeq = Number(root.getAttribute("data-last-seq")) || 0;
    var transcript = readTranscript(root);
    // outbox holds sends until acknowledged; it is kept in sessionStorage so
    // a send cut off by navigating away is retried by the next page.
    var outbox = {};
    var outboxKey = "parley-outbox-" + chatId;
    function saveOutbox() {
      try {
        var frames = Object.keys(outbox).map(function (id) { return outbox[id].frame; });
        if (frames.length) sessionStorage.setItem(outboxKey, JSON.stringify(frames));
        else sessionStorage.removeItem(outboxKey);
      } catch (e) { /* storage unavailable: retries then last as long as the page */ }
    }
    try {
      JSON.parse(sessionStorage.getItem(outboxKey) || "[]").forEach(function (frame) {
        outbox[frame.clientId] = { frame: frame, promise: chatPromise() };
      });
    } catch (e) { /* nothing to retry */ }
    var transport = null, open = false, ended = false, failures = 0, wsFailures = 0, retryTimer = 0, typingAt = 0, typingTimer = 0;
    var setbacks = 0, connectedAt = 0;
    var upgradeTimer = 0, upgradeAfter = UPGRADE_MIN_MS;

    function emit(name, event) {
      (handlers[name] || []).forEach(function (fn) {
        try { fn(event); } catch (e) { log.error("callback " + name + " failed", e); }
      });
    }
    function on(name) { return function (fn) { (handlers[name] = handlers[name] || []).push(fn); return self; }; }

    function newTransport() {
      if (options.transport) return options.transport;
      if (options.disableWebSockets || wsFailures >= 2 || !window.WebSocket) return longpollTransport();
      return websocketTransport();
    }

    function connect() {
      if (ended) return;
      var t = transport = newTransport();
      connectedAt = Date.now();
      log.info("connect " + (t.name || "custom") + " from " + lastSeq);
      if (wsFailures >= 2 && !upgradeTimer) {
        // A WebSocket that failed (a restart, a flaky proxy) may work
        // again. The fallback's own failures do not put the try off.
        upgradeTimer = setTimeout(function () {
          upgradeTimer = 0;
          if (ended) return;
          wsFailures = 0;
          upgradeAfter = Math.min(upgradeAfter * 2, UPGRADE_MAX_MS);
          clearTimeout(retryTimer);
          transport.close();
          connect();
        }, upgradeAfter);
      }
      t.connect({
        open: function () {
          if (t !== transport) return;
          open = true;
          if (t.name === "websocket") upgradeAfter = UPGRADE_MIN_MS;
          t.send({ type: "hello", lastSeq: lastSeq });
          if (failures > 0) emit("onReconnected", { seq: lastSeq, time: new Date().toISOString() });
          failures = 0;
          showConnection(false);
          Object.keys(outbox).forEach(function (id) { t.send(outbox[id].frame); });
        },
        frame: function (f) { if (t === transport) receive(f); },
        close: function (info) { lost(t, info || {}); }
      });
    }

    // lost connects again once t is gone, after between half and all of
    // a delay: short after a blip, longer as failures repeat. A setback
    // (info.after, in ms: the server is closing, or an event could not be
    // applied) waits at least that and SETBACK_MIN_MS, twice as long each
    // time, until a connection outlives the longest delay.
    function lost(t, info) {
      if (t !== transport || ended) return;
      open = false;
      if (t.name === "websocket") wsFailures = info.opened ? 0 : wsFailures + 2;
      failures++;
      var tooMany = info.tooMany;
      showConnection(true, tooMany);
      emit("onConnectionError", failure(tooMany ? "too_many_connections" : "transport_failed"));
      if (info.after) setbacks = Date.now() - connectedAt > BACKOFF_MAX_MS ? 1 : setbacks + 1;
      var delay = tooMany ? TOO_MANY_RETRY_MS : Math.min(BACKOFF_MAX_MS,
        info.after ? Math.max(info.after, SETBACK_MIN_MS) * Math.pow(2, setbacks) : BACKOFF_MIN_MS * Math.pow(2, failures - 1));
      retryTimer = setTimeout(connect, delay / 2 + Math.random() * delay / 2);
      log.warn("lost; retry in " + Math.round(delay) + " ms");
    }

    // showConnection says the connection is lost (after a second failure:
    // one is a blip), or that this tab is one too many for the chat.
    function showConnection(down, tooMany) {
      var root = widget();
      var line = root && root.querySelector(".parley-connection"), many = root && root.querySelector(".parley-too-many");
      if (line) line.hidden = !down || tooMany || failures < 2;
      if (many) many.hidden = !tooMany;
    }

    function receive(f) {
      switch (f.type) {
        case "resume":
          if (f.recovered === false) {
            log.warn("gap too long: re-rendering");
            // The server's seq is the truth: ours may be ahead of its log.
            lastSeq = f.lastSeq;
            refresh();
          }
          break;
        case "ack":
          if (outbox[f.clientId]) { settled(outbox[f.clientId].promise).resolve({ seq: f.seq }); delete outbox[f.clientId]; saveOutbox(); }
          break;
        case "error":
          if (f.clientId && outbox[f.clientId]) {
            settled(outbox[f.clientId].promise).reject({ error: f.error, message: f.message });
            delete outbox[f.clientId];
            saveOutbox();
          }
          log.warn("server refused a frame: " + (f.error && f.error.name));
          break;
        case "event":
          try {
            applyEvent(f);
          } catch (e) {
            // Not shown, so not counted as seen: a new connection from the
            // same lastSeq reads it again.
            log.error("event " + f.event.seq + " failed; reading it again", e);
            transport.close();
            lost(transport, { opened: true, after: SETBACK_MIN_MS });
          }
          break;
      }
    }

    function refresh() {
      request("GET", BASE + "/widget?return_to=" + encodeURIComponent(returnTo()), undefined, true).then(html).then(function (markup) {
        var fresh = parse(markup);
        if (fresh) lastSeq = Math.max(lastSeq, Number(fresh.getAttribute("data-last-seq")) || 0);
        transcript = fresh ? readTranscript(fresh) : transcript;
        if (!(options.ui === false)) swapWidget(markup);
      }).catch(function (e) { log.error("re-render failed", e); });
    }

    // applyEvent shows an event and runs its callbacks; lastSeq moves past
    // it only once it is shown. A throw may leave it half shown: applying it
    // again adds nothing twice.
    function applyEvent(f) {
      var ev = f.event;
      if (ev.seq <= lastSeq) return; // already shown: a replay overlapping live delivery
      var root = widget();
      if (f.widget) {
        swapWidget(f.widget);
      } else if (f.html && root && !ROOT.getElementById("parley-seq-" + ev.seq)) {
        var list = root.querySelector(".parley-log");
        if (list) {
          list.insertAdjacentHTML("beforeend", f.html);
          localTimes(list.lastElementChild);
          scrollLog(root);
        }
      }
      var event = { seq: ev.seq, time: ev.time, kind: ev.kind, from: ev.from, text: ev.text, page: ev.page, reason: ev.reason };
      var li = ROOT.getElementById("parley-seq-" + ev.seq), last = transcript[transcript.length - 1];
      if (ev.kind === "message" && !(last && last.seq >= ev.seq)) transcript.push(li ? readLine(li) : { seq: ev.seq, time: ev.time, text: ev.text, from: ev.from });
      var agent = ev.from && ev.from.type === "agent";
      if (ev.kind === "agent_left" || (ev.kind === "message" && agent)) showTyping("");
      if (ev.kind === "typing" && agent) showTyping(ev.from.name);
      collapsedMessage(ev);
      // Shown: from here on the event counts as seen.
      lastSeq = ev.seq;
      root = widget();
      if (root) root.setAttribute("data-last-seq", String(lastSeq));
      if (ev.kind === "ended") finish();
      var callback = { message: "onMessageReceived", agent_joined: "onAgentConnected", agent_left: "onAgentDisconnected",
        typing: agent && "onAgentTyping", ended: "onSessionEnded" }[ev.kind];
      if (callback) emit(callback, event);
    }

    // showTyping says the agent is typing, for a while; with no name it
    // takes that back (the agent's message came, or the agent left).
    function showTyping(name) {
      var line = widget() && widget().querySelector(".parley-typing");
      if (!line) return;
      clearTimeout(typingTimer);
      line.textContent = name ? line.getAttribute("data-template").replace("{name}", name) : "";
      if (name) typingTimer = setTimeout(function () { line.textContent = ""; }, Number(line.getAttribute("data-shown-ms")));
    }

    function finish() {
      ended = true;
      clearTimeout(retryTimer);
      clearTimeout(upgradeTimer);
      if (transport) transport.close();
      Object.keys(outbox).forEach(function (id) { settled(outbox[id].promise).reject(failure("chat_ended")); });
      outbox = {};
      saveOutbox();
      if (state.session === self) state.session = null;
    }

    this.sendMessage = function (text, id) {
      var p = chatPromise();
      if (ended) { settled(p).reject(failure("chat_ended")); return p; }
      var frame = { type: "message", clientId: id || clientId(), text: String(text) };
      outbox[frame.clientId] = { frame: frame, promise: p };
      saveOutbox();
      if (open) transport.send(frame);
      return p;
    };
    this.sendTyping = function () {
      var now = Date.now();
      if (!open || ended || now - typingAt < TYPING_EVERY_MS) return;
      typingAt = now;
      transport.send({ type: "typing" });
    };
    this.leave = function () {
      var p = chatPromise();
      if (ended) { settled(p).resolve(); return p; }
      request("POST", BASE + "/end", formBody({})).then(html).then(function (markup) {
        if (!ended) { finish(); emit("onSessionEnded", { seq: lastSeq, time: new Date().toISOString(), reason: "visitor" }); }
        swapWidget(markup);
        settled(p).resolve();
      }).catch(function (e) { settled(p).reject(e.error ? e : failure("server_error")); });
      return p;
    };
    // getTranscript() is the lines on the page; getTranscript({fromIndex})
    // a promise of every line from that index, fetching earlier pages.
    this.getTranscript = function (o) {
      if (!o || typeof o.fromIndex !== "number") return transcript.slice();
      var p = chatPromise();
      (function all() {
        earlier().then(function (more) { if (more) all(); else settled(p).resolve(transcript.slice(o.fromIndex)); },
          function (e) { settled(p).reject(e && e.error ? e : failure("server_error")); });
      })();
      return p;
    };
    this.getChatId = function () { return chatId; };
    ["onAgentConnected", "onAgentDisconnected", "onMessageReceived", "onAgentTyping", "onSessionEnded",
      "onConnectionError", "onReconnected"].forEach(function (name) { self[name] = on(name); });
    sessionControls.set(this, {
      close: function () { ended = true; clearTimeout(retryTimer); clearTimeout(upgradeTimer); if (transport) transport.close(); },
      sync: function (root) {
        lastSeq = Math.max(lastSeq, Number(root.getAttribute("data-last-seq")) || 0);
        transcript = readTranscript(root);
        if (root.getAttribute("data-phase") === "ended" && !ended) finish();
      },
      ended: function () { return ended; },
      lastSeq: function () { return lastSeq; }
    });

    connect();
  }

  // ---- the page's one chat ----

  // state is this page's chat: the options it was started or restored with,
  // its session, a promise still waiting for registration, whether a site's
  // registration function is running, and whether the server refused its
  // data (the built-in form then shows, with the errors).
  var state = { options: null, session: null, pending: null, registering: false, showForm: false };

  // sessionControls are what this library does to a session beyond what
  // the page may: kept here, not on the session object the page holds.
  var sessionControls = new WeakMap();
  function controls(session) { return sessionControls.get(session); }

  // sync brings the session in line with the widget the server rendered.
  function sync() {
    var root = widget();
    if (!root || !state.options) return;
    var phase = root.getAttribute("data-phase");
    var live = root.getAttribute("data-state") === "conversation" && (phase === "queued" || phase === "connected");
    if (state.session && state.session.getChatId() !== root.getAttribute("data-chat-id")) {
      controls(state.session).close();
      state.session = null;
    }
    if (state.session) controls(state.session).sync(root);
    if (live && !state.session) {
      state.session = new Session(state.options, root);
      if (state.pending) { settled(state.pending).resolve(state.session); state.pending = null; }
    }
    if (phase === "registration" && state.options.registration && !state.registering) register();
    // A chat that ended before it was registered settles its promise too.
    if (phase === "ended" && state.pending) {
      settled(state.pending).reject({ reason: root.getAttribute("data-end-reason") });
      state.pending = null;
    }
  }

  // register runs a site's own registration function and submits its data.
  function register() {
    state.registering = true;
    Promise.resolve().then(function () { return state.options.registration(); }).then(function (data) {
      data = data || {};
      var fields = { first_name: data.firstName, last_name: data.lastName, email: data.email, subject: data.subject };
      if (data.userData && typeof data.userData === "object") {
        var extra = {};
        Object.keys(data.userData).forEach(function (k) { extra[k] = String(data.userData[k]); });
        fields.user_data = JSON.stringify(extra);
      }
      return request("POST", BASE + "/register", formBody(fields)).then(function (response) {
        return html(response).then(function (markup) {
          state.showForm = response.status === 422;
          swapWidget(markup);
          if (state.showForm) throw failure("registration_invalid");
        });
      });
    }).catch(function (e) {
      if (state.pending) { settled(state.pending).reject(e && e.error ? e : failure("registration_invalid")); state.pending = null; }
    }).then(function () { state.registering = false; });
  }

  function begin(options) {
    var checked = validOptions(options);
    var p = chatPromise();
    if (!checked) { settled(p).reject(failure("invalid_options")); return { options: null, promise: p }; }
    state.options = checked;
    return { options: checked, promise: p };
  }

  // ensureWidget finds the server-rendered widget, or fetches it for a page
  // that did not render one.
  function ensureWidget(options) {
    var root = widget();
    var url = BASE + "/widget?return_to=" + encodeURIComponent(returnTo()) +
      (options.localization ? "&localization=" + encodeURIComponent(options.localization) : "") +
      // The embed's first widget on a page is the visit of the page, for
      // the agent's page trail (a Go site's page records its own).
      (PARLEY_EMBED && !root ? "&visit=1" : "");
    if (root && !options.localization) return Promise.resolve(root);
    return request("GET", url, undefined, true).then(html).then(function (markup) {
      if (!widget() && PARLEY_EMBED) {
        ROOT.innerHTML = markup;
        dress(widget());
        document.documentElement.appendChild(HOST);
      } else if (!widget()) {
        var holder = document.createElement("div");
        document.body.appendChild(holder);
        holder.outerHTML = markup;
      } else {
        swapWidget(markup);
      }
      return widget();
    });
  }

  function restoreChat(options) {
    var b = begin(options), p = b.promise;
    if (!b.options) return p;
    if (!b.options.embedded) { settled(p).reject(failure("embedded_required")); return p; }
    if (state.session && !controls(state.session).ended()) { settled(p).resolve(state.session); return p; }
    // Still registering: settle with the call already waiting.
    if (state.pending) { state.pending.then(settled(p).resolve, settled(p).reject); return p; }
    ensureWidget(b.options).then(function (root) {
      dress(root);
      var error = root.getAttribute("data-error-name");
      var phase = root.getAttribute("data-phase");
      if (error) {
        settled(p).reject({ error: { code: Number(root.getAttribute("data-error-code")), name: error, description: root.querySelector(".parley-error").textContent } });
      } else if (phase === "ended") {
        settled(p).reject({ reason: root.getAttribute("data-end-reason") });
      } else if (live(root)) {
        state.pending = p;
        sync();
      } else {
        settled(p).reject({});
      }
    }).catch(function (e) { settled(p).reject(e && e.error ? e : failure("server_error")); });
    return p;
  }

  function startInPage(b) {
    var p = b.promise, root = widget();
    if ((state.session && !controls(state.session).ended()) || state.pending) { settled(p).reject(failure("chat_already_running")); return p; }
    if (live(root)) { settled(p).reject(failure("chat_running_elsewhere")); return p; }
    state.pending = p;
    if (root) setOpen(true, false);
    (root ? Promise.resolve() : ensureWidget({}).then(function () { setOpen(true, false); }))
      .then(function () { return request("POST", BASE + "/start", formBody(startFields(b.options))); })
      .then(html).then(function (markup) {
        // The server answers with the cookie's chat when one runs already:
        // another page started it.
        var fresh = parse(markup), phase = fresh && fresh.getAttribute("data-phase");
        if (phase === "queued" || phase === "connected") { state.pending = null; settled(p).reject(failure("chat_running_elsewhere")); }
        if (phase === "leave_message") { state.pending = null; settled(p).reject(failure("chat_closed")); }
        swapWidget(markup);
      })
      .catch(function (e) { if (state.pending === p) state.pending = null; settled(p).reject(e && e.error ? e : failure("server_error")); });
    return p;
  }

  function live(root) {
    var phase = root && root.getAttribute("data-phase");
    return phase === "registration" || phase === "queued" || phase === "connected";
  }

  // startFields carry the options a new chat is created with.
  function startFields(o) {
    return {
      localization: o.localization,
      max_offline: o.maxOfflineDuration ? String(Math.ceil(o.maxOfflineDuration)) : undefined
    };
  }

  function startChat(options) {
    var b = begin(options);
    if (!b.options || b.options.embedded) return b.options ? startInPage(b) : b.promise;
    var query = new URLSearchParams();
    ["localization", "maxOfflineDuration", "disableWebSockets", "debug"].forEach(function (k) {
      if (b.options[k] !== undefined) query.set(k, String(b.options[k]));
    });
    var popup = window.open(BASE + "/popup?" + query, "parley-chat", "width=420,height=640");
    if (!popup) settled(b.promise).reject(failure("popup_blocked"));
    else settled(b.promise).resolve({ popup: popup });
    return b.promise;
  }

  function startChatInThisWindow(options) {
    var b = begin(options);
    if (!b.options) return b.promise;
    b.options.embedded = true;
    var root = widget();
    if (live(root) || (root && root.getAttribute("data-phase") === "ended")) return restoreChat(b.options);
    return startInPage(b);
  }

  // ---- the widget's own controls ----

  var draftTimer = 0;
  // The widget's events reach ROOT with their own targets: a shadow root's
  // reach the page as its host, and some (submit, scroll) not at all.
  ROOT.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("#" + WIDGET_ID + " .parley-earlier a")) {
      event.preventDefault();
      earlier().catch(function (e) { logger(state.options || {}).error("earlier lines failed", e); });
    }
  });
  // Scrolling to the top of the conversation brings earlier lines too.
  ROOT.addEventListener("scroll", function (event) {
    var el = event.target;
    if (el.classList && el.classList.contains("parley-scroll") && el.scrollTop < 40) earlier().catch(function () {});
  }, true);

  ROOT.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.closest || !form.closest("#" + WIDGET_ID)) return;
    event.preventDefault();
    if (form.classList.contains("parley-ui")) { setOpen(form.elements.open.value === "true", true); return; }
    clearTimeout(draftTimer);
    var session = state.session;
    if (session && form.classList.contains("parley-compose")) {
      var box = form.querySelector("#parley-message");
      var text = box.value;
      if (!text.trim()) return;
      var id = form.querySelector("input[name=client_id]").value;
      box.value = "";
      form.querySelector("input[name=client_id]").value = clientId();
      session.sendMessage(text, id).fail(function (e) { restoreDraft(text, e); });
      return;
    }
    if (session && form.classList.contains("parley-end")) { session.leave(); return; }
    if (form.classList.contains("parley-start") && !state.options) state.options = {};
    var button = form.querySelector("button[type=submit]");
    var body = new FormData(form);
    if (form.classList.contains("parley-start")) {
      var fields = startFields(state.options);
      Object.keys(fields).forEach(function (k) { if (fields[k]) body.set(k, fields[k]); });
    }
    // Disabling the focused button drops focus: it comes back in the new widget.
    var focused = form.contains(ROOT.activeElement);
    if (button) button.disabled = true;
    request("POST", form.getAttribute("action"), body)
      .then(html).then(function (markup) {
        swapWidget(markup);
        var target = focused && (ROOT.activeElement || document.body) === document.body && focusTarget(widget());
        if (target) target.focus();
      })
      // A plain post would take the embed's page to the chat server.
      .catch(function () { if (!PARLEY_EMBED) form.submit(); })
      .then(function () { if (button) button.disabled = false; });
  });

  // restoreDraft puts a refused message back with the server's reason, so
  // nothing typed is lost.
  function restoreDraft(text, e) {
    var root = widget(), box = root && root.querySelector("#parley-message");
    if (!box) return;
    if (!box.value) box.value = text;
    var line = root.querySelector("#parley-message-error");
    if (!line) {
      line = document.createElement("p");
      line.id = "parley-message-error";
      line.className = "parley-field-error";
      line.setAttribute("role", "alert");
      box.after(line);
    }
    line.textContent = e.message || (e.error && e.error.description) || "";
    box.setAttribute("aria-invalid", "true");
  }

  ROOT.addEventListener("input", function (event) {
    var form = event.target.form;
    if (!form || !form.closest("#" + WIDGET_ID)) return;
    if (form.hasAttribute("data-draft-action")) {
      clearTimeout(draftTimer);
      draftTimer = setTimeout(function () {
        request("POST", form.getAttribute("data-draft-action"), new FormData(form)).catch(function () {});
      }, DRAFT_DELAY_MS);
    } else if (event.target.id === "parley-message" && state.session) {
      state.session.sendTyping();
    }
  });

  // Enter sends, Shift+Enter makes a new line, as in every chat; Escape
  // minimizes the widget.
  ROOT.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && event.target.closest && event.target.closest(".parley-panel")) { setOpen(false, true); return; }
    if (event.key !== "Enter" || event.shiftKey || event.isComposing) return;
    var box = event.target;
    if (box.id === "parley-message" && box.form) {
      event.preventDefault();
      box.form.requestSubmit();
    }
  });

  // Partial navigation (htmx's hx-preserve, Turbo's data-turbo-permanent)
  // keeps this page's widget and its connection. When the server rendered
  // another chat or face for the new page (the visitor signed in or out,
  // another tab started a chat), the server's widget wins.
  var incoming = null;
  function expect(markup) { incoming = markup ? parse(markup) : null; }
  function adopt() {
    var current = widget(), fresh = incoming;
    incoming = null;
    if (current && fresh && current !== fresh && (fresh.getAttribute("data-chat-id") !== current.getAttribute("data-chat-id") ||
      fresh.getAttribute("data-state") !== current.getAttribute("data-state"))) swapWidget(fresh.outerHTML);
    // The new page's content and title need what the widget did to the old.
    cover();
    if (widget()) showUnread(widget());
  }
  document.addEventListener("turbo:before-render", function (event) {
    // A preview from Turbo's cache is older than the page: keep ours.
    var w = !document.documentElement.hasAttribute("data-turbo-preview") && event.detail.newBody.querySelector("#" + WIDGET_ID);
    expect(w && w.outerHTML);
  });
  document.addEventListener("turbo:render", adopt);
  document.addEventListener("htmx:beforeSwap", function (event) {
    var response = event.detail.serverResponse;
    expect(typeof response === "string" && response.indexOf(WIDGET_ID) >= 0 ? response : null);
  });
  document.addEventListener("htmx:afterSettle", adopt);
  if (!PARLEY_EMBED) document.addEventListener("DOMContentLoaded", function () {
    var root = widget();
    if (root) { scrollLog(root); localTimes(root); showUnread(root); cover(); }
    // data-restore="auto" (the Go API's Assets) restores the chat for a
    // site that does not call restoreChat itself.
    if (script && script.getAttribute("data-restore") === "auto" && !state.options) restoreChat({ embedded: true });
  });

  window.chat = {
    startChat: startChat,
    restoreChat: restoreChat,
    startChatInThisWindow: startChatInThisWindow,
    transports: { websocket: websocketTransport, longpoll: longpollTransport }
  };

  if (PARLEY_EMBED) {
    // The embed restores the chat itself, with the script tag's data-
    // attributes as options, unless the page does (data-restore="manual",
    // or a restoreChat it queued); then the page's queued calls run.
    var d = script.dataset, options = { embedded: true }, ui = {}, colors = {};
    if (d.localization) options.localization = d.localization;
    if (d.maxOfflineDuration) options.maxOfflineDuration = Number(d.maxOfflineDuration);
    options.debug = d.debug === "true";
    options.disableWebSockets = d.disableWebsockets === "true";
    ["title", "position", "startButtonText"].forEach(function (k) { if (d[k]) ui[k] = d[k]; });
    ["Accent", "AccentText", "Background", "Text"].forEach(function (k) {
      if (d["color" + k]) colors[k.charAt(0).toLowerCase() + k.slice(1)] = d["color" + k];
    });
    if (d.open) ui.open = d.open === "true";
    ui.colors = colors;
    options.ui = d.ui === "false" ? false : ui;
    if (d.restore !== "manual" && !queued.some(function (c) { return c.m === "restoreChat"; })) restoreChat(options);
    queued.forEach(function (c) {
      var p = typeof window.chat[c.m] === "function" && window.chat[c.m](c.o);
      if (!p) return;
      (c.d || []).forEach(function (fn) { p.done(fn); });
      (c.f || []).forEach(function (fn) { p.fail(fn); });
    });

    // The page's own navigations (pushState by Turbo, htmx or any router;
    // back and forward) keep the widget, outside <body>: the agent's page
    // trail follows them.
    var page = location.pathname;
    var moved = function () {
      if (location.pathname === page || !widget()) return;
      page = location.pathname;
      request("POST", BASE + "/visit", formBody({})).catch(function () {});
    };
    if (window.navigation) window.navigation.addEventListener("currententrychange", moved);
    ["popstate", "turbo:load", "htmx:afterSettle"].forEach(function (name) { addEventListener(name, moved); });
  }
})();
