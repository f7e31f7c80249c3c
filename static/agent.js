// agent.js: the agent console in the browser. The server renders every part
// of the console; this script only enhances it:
// - forms marked data-enhance post in the background, and the fragments the
//   server answers with are swapped in by id (data-swap="upsert" replaces
//   the element of the same id or appends to data-into; "remove" removes);
// - a live feed (WebSocket, long-poll when that fails) brings the same kind
//   of fragments for every chat: the queue, and the agent's own chats;
// - switching chats happens in place, each chat keeping its draft (also in
//   sessionStorage, so a reload keeps it), and focus moves to the chat;
// - a new waiting chat is announced (a status line and a short sound), and
//   the title counts what waits: "(2) Parley agent".
(function () {
  "use strict";

  var TITLE = "Parley agent";
  var TYPING_EVERY_MS = 2000;
  var DRAFT_KEY = "parley.agent.draft.";
  var UNREAD_KEY = "parley.agent.unread";

  if (!document.body) return;
  var PAGE = document.body.getAttribute("data-agent-page");

  // "Show earlier messages" in a chat's pane (console and history) puts the
  // page of lines before the first one shown in place, keeping what the
  // agent was reading where it was; without this script the link opens
  // the page on its own.
  if (PAGE === "console" || PAGE === "history") {
    document.addEventListener("click", function (event) {
      var link = event.target.closest && event.target.closest(".agent-pane .agent-earlier a");
      if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
      event.preventDefault();
      earlierLines(link);
    });
  }
  function earlierLines(link) {
    var box = link.parentNode, scroll = box.parentNode, log = scroll.querySelector(".agent-log");
    if (box.getAttribute("aria-busy") === "true") return;
    box.setAttribute("aria-busy", "true");
    fetch(link.href, { credentials: "same-origin", headers: { "HX-Request": "true" } })
      .then(function (response) {
        if (!response.ok) throw new Error("earlier messages: " + response.status);
        return response.text();
      })
      .then(function (markup) {
        var t = document.createElement("template");
        t.innerHTML = markup;
        var page = t.content.querySelector(".agent-earlier-page");
        var fromBottom = scroll.scrollHeight - scroll.scrollTop, first = log.firstElementChild;
        Array.prototype.forEach.call(page.querySelectorAll(".agent-log > li"), function (li) {
          if (!document.getElementById(li.id)) log.insertBefore(li, first);
        });
        var next = page.querySelector(".agent-earlier a");
        if (next) {
          link.setAttribute("href", next.getAttribute("href"));
        } else {
          if (box.contains(document.activeElement)) scroll.focus();
          box.remove();
        }
        scroll.scrollTop = scroll.scrollHeight - fromBottom;
      })
      .catch(function (e) { if (window.console) console.warn("parley agent:", e); })
      .finally(function () { box.removeAttribute("aria-busy"); });
  }

  if (PAGE !== "console") return;

  var csrfMeta = document.querySelector('meta[name="parley-csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute("content") : "";
  // BASE is where the host site mounted the console, like "/agent".
  var BASE = document.body.getAttribute("data-base") || "/agent";

  function byId(id) { return document.getElementById(id); }
  function each(list, fn) { Array.prototype.forEach.call(list, fn); }

  function store(key, value) {
    try {
      if (value === null || value === "") sessionStorage.removeItem(key);
      else sessionStorage.setItem(key, value);
    } catch (e) { /* storage full or disabled: drafts live in the page only */ }
  }
  function stored(key) {
    try { return sessionStorage.getItem(key) || ""; } catch (e) { return ""; }
  }

  // ---- unread count and title

  var unread = {};
  try { unread = JSON.parse(stored(UNREAD_KEY) || "{}") || {}; } catch (e) { unread = {}; }

  function shownChat() {
    var pane = document.querySelector("#agent-panes > .agent-pane:not([hidden])");
    return pane ? pane.getAttribute("data-chat-id") : "";
  }

  function renderUnread() {
    var total = document.querySelectorAll("#agent-queue-list > li").length;
    Object.keys(unread).forEach(function (id) {
      if (!byId("agent-chat-" + id)) delete unread[id];
    });
    each(document.querySelectorAll("#agent-chat-list > li"), function (li) {
      var id = li.getAttribute("data-chat-id");
      var n = unread[id] || 0;
      var badge = li.querySelector("[data-unread]");
      if (!badge) return;
      badge.hidden = n === 0;
      badge.textContent = n === 0 ? "" : n + (n === 1 ? " new message" : " new messages");
      total += n;
    });
    store(UNREAD_KEY, JSON.stringify(unread));
    document.title = total > 0 ? "(" + total + ") " + TITLE : TITLE;
  }

  // ---- sound and visual notification

  var audio = null;
  function unlockAudio() {
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!audio && Ctx) {
      try { audio = new Ctx(); } catch (e) { audio = null; }
    }
    if (audio && audio.state === "suspended") audio.resume();
  }
  // Browsers let a page play sound only after the person interacted with it.
  document.addEventListener("pointerdown", unlockAudio, true);
  document.addEventListener("keydown", unlockAudio, true);

  function chime() {
    document.body.setAttribute("data-cues", String(Number(document.body.getAttribute("data-cues") || 0) + 1));
    if (!audio || audio.state !== "running") return;
    var t = audio.currentTime;
    [660, 880].forEach(function (freq, i) {
      var osc = audio.createOscillator();
      var gain = audio.createGain();
      var start = t + i * 0.14;
      osc.type = "sine";
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, start);
      gain.gain.exponentialRampToValueAtTime(0.15, start + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.13);
      osc.connect(gain);
      gain.connect(audio.destination);
      osc.start(start);
      osc.stop(start + 0.14);
    });
  }

  // cueOnce plays the chime, and while the console is hidden shows a
  // notification, for chats no other tab of this browser has announced:
  // an agent with three consoles open hears one sound. The tabs take turns
  // under a lock and mark what they announced in localStorage.
  var CUED_KEY = "parley.agent.cued.";
  function cueOnce(ids) {
    var claim = function () {
      var now = Date.now(), fresh = [];
      ids.forEach(function (id) {
        if (!storedLocal(CUED_KEY + id)) fresh.push(id);
        storeLocal(CUED_KEY + id, String(now));
      });
      forgetCues(now);
      if (fresh.length === 0) return;
      chime();
      notifyHidden(fresh);
    };
    if (navigator.locks) navigator.locks.request("parley-agent-cue", claim);
    else claim();
  }
  function storeLocal(key, value) {
    try { localStorage.setItem(key, value); } catch (e) { /* full or disabled: every tab cues */ }
  }
  function storedLocal(key) {
    try { return localStorage.getItem(key) || ""; } catch (e) { return ""; }
  }
  // forgetCues drops the marks of chats announced over a minute ago.
  function forgetCues(now) {
    try {
      for (var i = localStorage.length - 1; i >= 0; i--) {
        var key = localStorage.key(i);
        if (key && key.indexOf(CUED_KEY) === 0 && now - Number(localStorage.getItem(key)) > 60000) localStorage.removeItem(key);
      }
    } catch (e) { /* nothing kept */ }
  }
  // notifyHidden shows a system notification for new chats while the
  // console is not on screen, once the agent allowed it (asked on a click
  // of "Turn on notifications", never by itself).
  function notifyHidden(ids) {
    if (!document.hidden || !window.Notification || Notification.permission !== "granted") return;
    var queued = queueItems();
    ids.forEach(function (id) {
      var li = queued[id];
      if (!li) return;
      try {
        var n = new Notification("New chat: " + li.getAttribute("data-name"), { body: li.getAttribute("data-subject") || "", tag: "parley-chat-" + id });
        n.onclick = function () { window.focus(); n.close(); };
      } catch (e) { /* a browser that allows them only from a service worker */ }
    });
  }
  var notifyButton = byId("agent-notify");
  function showNotifyButton() {
    if (notifyButton) notifyButton.hidden = !window.Notification || Notification.permission !== "default";
  }
  if (notifyButton) {
    notifyButton.addEventListener("click", function () {
      Notification.requestPermission().then(showNotifyButton, showNotifyButton);
    });
    showNotifyButton();
  }

  var noticeTimer = 0;
  // noticeChats are the waiting chats the notice announces, oldest first:
  // one that leaves the queue (taken, here or by another agent) leaves the
  // notice, and the notice goes with the last of them.
  var noticeChats = [];
  var NOTICE_NAMES = 3;
  function hideNotice() {
    var box = byId("agent-notice");
    clearTimeout(noticeTimer);
    noticeChats = [];
    if (!box) return;
    box.classList.remove("agent-notice-on");
    box.textContent = "";
  }
  // showNotice names the announced chats still waiting; fresh ones
  // restart the notice's time.
  function showNotice(fresh) {
    var box = byId("agent-notice");
    var queued = queueItems();
    noticeChats = noticeChats.filter(function (id) { return queued[id]; });
    if (!box || noticeChats.length === 0) {
      hideNotice();
      return;
    }
    var names = noticeChats.slice(0, NOTICE_NAMES).map(function (id) {
      var li = queued[id];
      var subject = li.getAttribute("data-subject");
      return li.getAttribute("data-name") + (subject ? " (" + subject + ")" : "");
    });
    var more = noticeChats.length - names.length;
    box.textContent = (noticeChats.length === 1 ? "New chat: " : "New chats: ") + names.join(", ") +
      (more > 0 ? " and " + more + " more" : "");
    box.classList.add("agent-notice-on");
    if (fresh) {
      clearTimeout(noticeTimer);
      noticeTimer = setTimeout(hideNotice, 8000);
    }
  }

  // queueItems maps each waiting chat's id to its item in the queue.
  function queueItems() {
    var items = {};
    each(document.querySelectorAll("#agent-queue-list > li[data-chat-id]"), function (li) {
      items[li.getAttribute("data-chat-id")] = li;
    });
    return items;
  }

  // announceNewChats marks the chats that joined the queue since before and
  // adds them to the notice; the notice drops the chats that left it.
  function announceNewChats(before) {
    var fresh = 0;
    each(document.querySelectorAll("#agent-queue-list > li[data-chat-id]"), function (li) {
      var id = li.getAttribute("data-chat-id");
      if (!before[id]) {
        li.classList.add("agent-new");
        noticeChats.push(id);
        fresh++;
      }
    });
    if (fresh > 0) {
      showNotice(true);
      cueOnce(noticeChats.slice(-fresh));
    } else if (noticeChats.length > 0) {
      showNotice(false);
    }
  }

  // ---- swapping fragments in

  // bumpSeq records the newest seq the pane has without a gap: the live
  // feed resumes from it. A reply's answer can carry a seq past a visitor's
  // message the feed has not delivered yet; counting it would skip that
  // message on the next reconnect.
  function bumpSeq(chat, seq) {
    var pane = byId("agent-chat-" + chat);
    if (pane && seq === Number(pane.getAttribute("data-last-seq") || 0) + 1) {
      pane.setAttribute("data-last-seq", String(seq));
    }
  }

  // insertInOrder keeps lines in seq order, whatever order they arrive in
  // (a send's answer may overtake a live event).
  function insertInOrder(parent, node) {
    var seq = Number(node.getAttribute("data-seq"));
    if (!isNaN(seq)) {
      var kids = parent.children;
      for (var i = kids.length - 1; i >= 0; i--) {
        var s = Number(kids[i].getAttribute("data-seq"));
        if (isNaN(s) || s < seq) {
          kids[i].after(node);
          return;
        }
      }
      parent.prepend(node);
      return;
    }
    parent.appendChild(node);
  }

  function replaceInPlace(existing, fresh) {
    Array.prototype.slice.call(existing.attributes).forEach(function (a) {
      if (a.name !== "hidden" && !fresh.hasAttribute(a.name)) existing.removeAttribute(a.name);
    });
    Array.prototype.slice.call(fresh.attributes).forEach(function (a) {
      if (a.name !== "hidden" && existing.getAttribute(a.name) !== a.value) existing.setAttribute(a.name, a.value);
    });
    if (existing.innerHTML !== fresh.innerHTML) existing.replaceChildren.apply(existing, Array.prototype.slice.call(fresh.childNodes));
  }

  function upsertPane(existing, fresh) {
    var sameSeq = Number(fresh.getAttribute("data-last-seq")) <= Number(existing.getAttribute("data-last-seq"));
    if (sameSeq && fresh.getAttribute("data-live") === existing.getAttribute("data-live")) return;
    var hadFocus = existing.contains(document.activeElement);
    fresh.hidden = existing.hidden;
    existing.replaceWith(fresh);
    restoreDrafts(fresh);
    if (hadFocus) focusPane(fresh);
  }

  // scrollToEnd shows a transcript's newest line; the transcript (the log
  // region, .agent-scroll) is what scrolls, around the list of lines.
  function scrollToEnd(scroller) {
    if (scroller) scroller.scrollTop = scroller.scrollHeight;
  }

  function inserted(node) {
    var chat = node.getAttribute("data-chat");
    if (node.classList.contains("agent-line")) {
      scrollToEnd(node.closest(".agent-scroll"));
      if (node.getAttribute("data-from") === "visitor" && node.classList.contains("agent-message")) {
        var typing = byId("agent-typing-" + chat);
        if (typing) typing.textContent = "";
        if (chat !== shownChat() || document.hidden) unread[chat] = (unread[chat] || 0) + 1;
      }
    }
  }

  var typingTimers = {};
  function applyOne(node) {
    var chat = node.getAttribute("data-chat");
    var seq = node.getAttribute("data-seq");
    if (chat && seq) bumpSeq(chat, Number(seq));
    var op = node.getAttribute("data-swap");
    if (!op || !node.id) return;
    var existing = byId(node.id);
    if (op === "remove") {
      if (!existing) return;
      var wasShown = existing.classList.contains("agent-pane") && !existing.hidden;
      existing.remove();
      if (wasShown) show("", true);
      return;
    }
    if (op !== "upsert") return;
    if (!existing) {
      var parent = byId(node.getAttribute("data-into") || "");
      if (!parent) return;
      insertInOrder(parent, node);
      if (node.classList.contains("agent-pane")) restoreDrafts(node);
      inserted(node);
      return;
    }
    if (existing.classList.contains("agent-pane")) {
      upsertPane(existing, node);
      return;
    }
    var focusedId = existing.contains(document.activeElement) ? document.activeElement.id : "";
    replaceInPlace(existing, node);
    if (focusedId && byId(focusedId) && document.activeElement !== byId(focusedId)) byId(focusedId).focus();
    if (existing.classList.contains("agent-typing") && chat) {
      clearTimeout(typingTimers[chat]);
      typingTimers[chat] = setTimeout(function () { existing.textContent = ""; }, Number(existing.getAttribute("data-shown-ms")));
    }
  }

  function applyHTML(html) {
    var template = document.createElement("template");
    template.innerHTML = html;
    var before = queueItems();
    var queueBefore = byId("agent-queue-list") && byId("agent-queue-list").getAttribute("data-version");
    Array.prototype.slice.call(template.content.children).forEach(applyOne);
    var list = byId("agent-queue-list");
    if (list && list.getAttribute("data-version") !== queueBefore) announceNewChats(before);
    markCurrent();
    renderUnread();
  }

  // ---- switching chats

  function focusPane(pane) {
    var title = pane && pane.querySelector("h2");
    if (title) title.focus();
  }

  function markCurrent() {
    var id = shownChat();
    each(document.querySelectorAll("#agent-chat-list a[data-chat-link]"), function (a) {
      if (a.getAttribute("data-chat-link") === id) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    });
    var prompt = byId("agent-prompt");
    if (prompt) prompt.hidden = id !== "";
  }

  // show puts one chat on screen ("" for none) and moves focus to it, so a
  // screen reader announces which chat is now open.
  function show(id, push) {
    var target = id ? byId("agent-chat-" + id) : null;
    if (id && !target) return false;
    each(document.querySelectorAll("#agent-panes > .agent-pane"), function (pane) {
      pane.hidden = pane !== target;
    });
    if (id) delete unread[id];
    markCurrent();
    renderUnread();
    var url = id ? BASE + "/chats/" + id : BASE;
    if (push && location.pathname !== url) history.pushState({ chat: id }, "", url);
    if (target) {
      focusPane(target);
      scrollToEnd(target.querySelector(".agent-scroll"));
    } else {
      var main = byId("agent-main");
      if (main) main.focus();
    }
    return true;
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[data-chat-link]");
    if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    if (show(link.getAttribute("data-chat-link"), true)) event.preventDefault();
  });

  // Messages that came while the tab was hidden are read once it shows.
  document.addEventListener("visibilitychange", function () {
    var id = shownChat();
    if (!document.hidden && id && unread[id]) {
      delete unread[id];
      renderUnread();
    }
  });

  // ---- the team: statuses change on other consoles and instances, and
  // by themselves (consoles gone), so the list is read again now and then
  // while the console shows, and as soon as it shows again.

  var TEAM_EVERY_MS = 15000;
  function refreshTeam() {
    if (document.hidden) return;
    fetch(BASE + "/team", { credentials: "same-origin", headers: { "HX-Request": "true" } })
      .then(function (response) { return response.ok ? response.text() : ""; })
      .then(function (html) { if (html) applyHTML(html); })
      .catch(function () { /* the next round tries again */ });
  }
  setInterval(refreshTeam, TEAM_EVERY_MS);
  document.addEventListener("visibilitychange", refreshTeam);

  window.addEventListener("popstate", function () {
    var m = location.pathname.slice(BASE.length).match(/^\/chats\/([0-9a-f]+)$/);
    show(m ? m[1] : "", false);
  });

  // ---- drafts, typing and sending

  function newClientId() {
    var bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function restoreDrafts(root) {
    each(root.querySelectorAll("form[data-compose] textarea"), function (box) {
      var draft = stored(DRAFT_KEY + box.form.getAttribute("data-compose"));
      if (draft && !box.value) box.value = draft;
    });
  }

  var lastTyping = {};
  document.addEventListener("input", function (event) {
    var box = event.target;
    var form = box.form;
    if (!form || !form.hasAttribute("data-compose")) return;
    var chat = form.getAttribute("data-compose");
    store(DRAFT_KEY + chat, box.value);
    var now = Date.now();
    if (box.value && now - (lastTyping[chat] || 0) >= TYPING_EVERY_MS) {
      lastTyping[chat] = now;
      post(BASE + "/chats/" + chat + "/typing", new FormData()).catch(function () {});
    }
  });

  // Enter sends, Shift+Enter makes a new line, as in every chat.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Enter" || event.shiftKey || event.isComposing) return;
    var box = event.target;
    if (box.tagName === "TEXTAREA" && box.form && box.form.hasAttribute("data-compose")) {
      event.preventDefault();
      box.form.requestSubmit();
    }
  });

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "HX-Request": "true", "X-Parley-CSRF": csrf }
    });
  }

  function alertLine(text) {
    var line = byId("agent-alert");
    if (line) line.textContent = text;
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute || !form.hasAttribute("data-enhance")) return;
    event.preventDefault();
    var compose = form.getAttribute("data-compose");
    var box = compose ? form.querySelector("textarea") : null;
    var button = form.querySelector("button[type=submit]");
    if (box && !box.value.trim()) {
      box.focus();
      return;
    }
    if (button) button.disabled = true;
    var body = new FormData(form);
    post(form.action, body)
      .then(function (response) {
        if (response.status === 401) {
          location.assign(BASE + "/login");
          return;
        }
        var show_ = response.headers.get("X-Parley-Show");
        return response.text().then(function (html) {
          var template = document.createElement("template");
          template.innerHTML = html;
          if (!template.content.querySelector("[data-swap]")) {
            alertLine(template.content.textContent.trim() || "Something went wrong. Please try again.");
            return;
          }
          if (!response.ok && !compose) alertLine("");
          applyHTML(html);
          if (response.ok && compose && box) {
            box.value = "";
            store(DRAFT_KEY + compose, "");
            form.querySelector('input[name="client_id"]').value = newClientId();
            box.removeAttribute("aria-invalid");
          } else if (!response.ok && box) {
            box.setAttribute("aria-invalid", "true");
          }
          if (show_ !== null) {
            show(show_, true);
            if (show_ && response.ok && !compose) {
              var reply = byId("agent-message-" + show_);
              if (reply) reply.focus();
            }
          }
        });
      })
      .catch(function () {
        // The send keeps its client id, so pressing Send again cannot store it twice.
        if (compose) {
          var err = byId("agent-error-" + compose);
          if (err) err.textContent = "Not sent: the connection failed. Press Send to try again.";
        } else {
          alertLine("The connection failed. Please try again.");
        }
      })
      .finally(function () {
        if (button && button.isConnected) button.disabled = false;
      });
  });

  // ---- the live feed

  var mode = window.WebSocket ? "ws" : "poll";
  var wsFailures = 0;
  var attempts = 0;
  // After WebSockets failed, the feed long-polls, and tries a WebSocket
  // again after upgradeAfter (ms), twice as long after each try that fails.
  var UPGRADE_MIN_MS = 10000, UPGRADE_MAX_MS = 300000;
  var upgradeTimer = 0, upgradeAfter = UPGRADE_MIN_MS;
  // setbacks count the times in a row the server said it is closing;
  // connectedAt is when the feed last connected.
  var setbacks = 0;
  var connectedAt = 0;

  function stateQuery() {
    var list = byId("agent-queue-list");
    var chats = [];
    each(document.querySelectorAll("#agent-panes > .agent-pane[data-chat-id]"), function (pane) {
      chats.push(pane.getAttribute("data-chat-id") + "." + (pane.getAttribute("data-last-seq") || "0"));
    });
    var pages = byId("agent-queue-pages");
    return "queue=" + encodeURIComponent(list ? list.getAttribute("data-version") || "" : "") +
      "&pages=" + encodeURIComponent(pages ? pages.getAttribute("data-pages") || "" : "") +
      "&chats=" + encodeURIComponent(chats.join(","));
  }

  function handleFrame(frame) {
    if (frame.type === "event" && frame.html) applyHTML(frame.html);
    else if (frame.type === "error" && window.console) console.warn("parley agent:", frame.message || frame.error);
  }

  // retry connects again, later after each failure. A server that said it
  // is closing asked for a wait (after, in ms): at least that and a second,
  // twice as long each time in a row, so that consoles do not hammer a
  // server on its way down; a connection that lasted starts afresh.
  function retry(after) {
    attempts++;
    var wait = Math.min(15000, 250 * Math.pow(2, attempts));
    if (after) {
      setbacks = Date.now() - connectedAt > 15000 ? 1 : setbacks + 1;
      wait = Math.min(15000, Math.max(after, 1000) * Math.pow(2, setbacks - 1));
    }
    setTimeout(connect, wait + Math.random() * wait / 2);
  }

  function connect() {
    connectedAt = Date.now();
    if (mode === "poll") {
      if (window.WebSocket && !upgradeTimer) {
        // A WebSocket that failed (a restart, a flaky proxy) may work
        // again: the poll under way ends the loop once this fires.
        upgradeTimer = setTimeout(function () {
          upgradeTimer = 0;
          upgradeAfter = Math.min(upgradeAfter * 2, UPGRADE_MAX_MS);
          mode = "ws";
          wsFailures = 0;
        }, upgradeAfter);
      }
      return poll();
    }
    var opened = false;
    var ws;
    try {
      ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + BASE + "/ws?" + stateQuery());
    } catch (e) {
      mode = "poll";
      return poll();
    }
    ws.onopen = function () {
      opened = true;
      attempts = 0;
      wsFailures = 0;
      upgradeAfter = UPGRADE_MIN_MS;
      ws.send(JSON.stringify({ type: "hello", lastSeq: 0 }));
    };
    ws.onmessage = function (event) {
      try { handleFrame(JSON.parse(event.data)); } catch (e) { if (window.console) console.warn("parley agent:", e); }
    };
    ws.onclose = function (event) {
      if (!opened && ++wsFailures >= 2) mode = "poll";
      // 1001 and 1012: the server is going away or restarting.
      retry(event.code === 1001 || event.code === 1012 ? 1 : 0);
    };
  }

  function poll() {
    var after = 0;
    fetch(BASE + "/poll?" + stateQuery(), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        // 503: the server is closing, and says how long to wait (s).
        if (response.status === 503) after = Number(response.headers.get("Retry-After")) * 1000 || 1;
        if (response.status === 401) {
          location.assign(BASE + "/login");
          return null;
        }
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (body) {
        if (!body) return;
        attempts = 0;
        (body.frames || []).forEach(handleFrame);
        connect();
      })
      .catch(function () { retry(after); });
  }

  // ---- wait times

  function waited(since) {
    var minutes = Math.floor((Date.now() - since) / 60000);
    if (minutes < 1) return "just now";
    if (minutes < 60) return minutes + " min";
    return Math.floor(minutes / 60) + " h " + (minutes % 60) + " min";
  }
  setInterval(function () {
    each(document.querySelectorAll("time[data-since]"), function (t) {
      var since = Date.parse(t.getAttribute("datetime"));
      if (!isNaN(since)) t.textContent = waited(since);
    });
  }, 15000);

  // ---- start

  restoreDrafts(document);
  markCurrent();
  renderUnread();
  var open = shownChat();
  if (open) {
    scrollToEnd(document.querySelector("#agent-chat-" + open + " .agent-scroll"));
  }
  var params = new URLSearchParams(location.search);
  if (params.get("transport") === "longpoll") mode = "poll";
  connect();
})();
