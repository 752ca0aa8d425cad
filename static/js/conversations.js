// The council page's conversation list: which conversation is open and its address
// (/c/<id>: reload, back and forward work), search, inline rename, delete, the export links,
// and the drawer the list becomes on a narrow screen. council.js draws the open conversation's
// rounds through the `show` hook it passes to start().
(function () {
  "use strict";

  const {api, sendJSON} = window.councilApi;
  const CONVERSATION_PATH = /^\/c\/(\d+)\/?$/;
  const SEARCH_DELAY_MS = 200;
  const PAGE = 100;  // conversations listed at first, and added by each "Show more"

  function idFromLocation() {
    const match = CONVERSATION_PATH.exec(window.location.pathname);
    return match ? Number(match[1]) : null;
  }

  function iconButton(className, title, symbol, onClick) {
    const button = document.createElement("button");
    button.type = "button"; button.className = `icon ${className}`; button.title = title;
    button.setAttribute("aria-label", title); button.textContent = symbol;
    button.addEventListener("click", onClick);
    return button;
  }

  // `load(id)` follows conversation `id` (null: none) and resolves with its rounds;
  // `show(conversation)` draws them (null: an empty, new one);
  // `showError(message)` reports a failure next to the question box.
  function start({load, show, showError}) {
    const $ = (id) => document.getElementById(id);
    const els = {
      frame: document.querySelector("main.council"), list: $("conversation-list"), listEmpty: $("conversation-empty"),
      search: $("conversation-search"), newConversation: $("new-conversation"),
      drawerToggle: $("drawer-toggle"), backdrop: $("drawer-backdrop"),
      title: $("conversation-title"), exports: $("conversation-exports"),
      exportMarkdown: $("export-markdown"), exportJson: $("export-json"), more: $("conversations-more"),
      threadEmpty: $("thread-empty"), missing: $("thread-missing"), missingId: $("missing-id"),
    };
    const state = {conversations: [], current: null, query: "", editing: null, opening: 0,
                   shown: PAGE, more: false};

    // --- the drawer (narrow screens) ---------------------------------------------------------

    function setDrawer(open) {
      els.frame.classList.toggle("drawer-open", open);
      els.drawerToggle.setAttribute("aria-expanded", String(open));
    }

    // --- the list ----------------------------------------------------------------------------

    function currentTitle() {
      return state.conversations.find((c) => c.id === state.current)?.title ?? "";
    }

    function showHeader() {
      const id = state.current;
      els.title.textContent = id === null ? "New conversation" : currentTitle();
      els.exports.hidden = id === null;
      if (id !== null) {
        els.exportMarkdown.href = `/api/conversations/${id}/export.md`;
        els.exportJson.href = `/api/conversations/${id}/export.json`;
      }
    }

    function listItem(c) {
      const li = document.createElement("li");
      li.dataset.conversationId = c.id;
      if (c.id === state.current) li.setAttribute("aria-current", "true");
      const open = document.createElement("button");
      open.type = "button"; open.className = "open";
      const title = document.createElement("span");
      title.className = "title"; title.textContent = c.title;
      open.appendChild(title);
      if (c.match) {
        const match = document.createElement("span");
        match.className = "match"; match.textContent = c.match;
        open.appendChild(match);
      }
      open.title = c.title;
      open.addEventListener("click", () => openConversation(c.id, {push: true}));
      li.append(open, iconButton("rename", "Rename", "✎", () => startRename(c, li)),
                iconButton("delete", "Delete", "×", () => deleteConversation(c)));
      return li;
    }

    function renderList() {
      els.list.replaceChildren(...state.conversations.map((c) => (
        state.editing && state.editing.id === c.id ? state.editing.li : listItem(c))));
      els.listEmpty.hidden = state.conversations.length > 0;
      els.more.hidden = !state.more;
      els.listEmpty.textContent = state.query
        ? `No conversation matches “${state.query}”.`
        : "No conversations yet. Ask the council something to start one.";
      showHeader();
    }

    // The shown conversations, a page per request, and one more: whether it comes says if
    // "Show more" has anything to add.
    async function refresh() {
      const query = state.query;
      const found = [];
      while (found.length <= state.shown) {
        const limit = Math.min(PAGE, state.shown + 1 - found.length);
        const params = new URLSearchParams({limit: String(limit), offset: String(found.length)});
        if (query) params.set("q", query);
        const page = await api(`/api/conversations?${params}`);
        found.push(...page);
        if (page.length < limit) break;
      }
      if (query !== state.query) return;  // a newer search is on its way
      state.more = found.length > state.shown;
      state.conversations = found.slice(0, state.shown);
      renderList();
    }

    function refreshReporting() {
      refresh().catch((err) => showError(`Could not load conversations: ${err.message}`));
    }

    // --- opening one -------------------------------------------------------------------------

    function setLocation(id, push) {
      const path = id === null ? "/" : `/c/${id}`;
      if (window.location.pathname === path) return;
      if (push) window.history.pushState({}, "", path);
      else window.history.replaceState({}, "", path);
    }

    function showMissing(id) {
      els.threadEmpty.hidden = true;
      els.missingId.textContent = String(id);
      els.missing.hidden = false;
    }

    // Open conversation `id` (null: a new one, stored only when its first question is asked).
    async function openConversation(id, {push = false} = {}) {
      const opening = ++state.opening;
      state.current = id;
      setLocation(id, push);
      setDrawer(false);
      els.missing.hidden = true;
      renderList();
      try {
        const conversation = await load(id);
        if (opening === state.opening) show(conversation);
      } catch (err) {
        if (opening !== state.opening) return;
        state.current = null;  // a question asked here starts a new conversation
        renderList();
        show(null);
        showMissing(id);
        if (!/no such conversation/i.test(err.message)) showError(err.message);
      }
    }

    // The first question of a new conversation stored it: it gets its address now.
    function adopt(id) {
      if (state.current === id) return;
      state.current = id;
      setLocation(id, false);
      els.missing.hidden = true;
      refreshReporting();
    }

    // --- rename and delete -------------------------------------------------------------------

    function startRename(c, li) {
      const input = document.createElement("input");
      input.type = "text"; input.className = "rename-input"; input.value = c.title;
      input.maxLength = 200; input.setAttribute("aria-label", "Conversation title");
      const error = document.createElement("p");
      error.className = "rename-error"; error.setAttribute("role", "alert"); error.hidden = true;
      li.replaceChildren(input, error);
      li.classList.add("editing");
      state.editing = {id: c.id, li};
      input.focus();
      input.select();

      const finish = () => { state.editing = null; renderList(); };
      async function save() {
        try {
          await sendJSON("PATCH", `/api/conversations/${c.id}`, {title: input.value});
          state.editing = null;
          await refresh();
        } catch (err) {
          error.textContent = err.message;
          error.hidden = false;
        }
      }
      input.addEventListener("keydown", (e) => {
        if (e.key === "Enter") { e.preventDefault(); save(); }
        if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); finish(); }
      });
      // Leaving the field keeps a changed title and drops an unchanged one.
      input.addEventListener("blur", () => {
        if (state.editing?.li !== li) return;
        if (input.value === c.title) finish(); else save();
      });
    }

    async function deleteConversation(c) {
      if (!confirm(`Delete “${c.title}” and all its rounds?`)) return;
      try {
        await api(`/api/conversations/${c.id}`, {method: "DELETE"});
        if (state.current === c.id) await openConversation(null, {push: true});
        await refresh();
      } catch (err) { showError(err.message); }
    }

    // --- wiring ------------------------------------------------------------------------------

    let searchTimer = null;
    els.more.addEventListener("click", () => { state.shown += PAGE; refreshReporting(); });
    els.search.addEventListener("input", () => {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(() => {
        state.query = els.search.value.trim();
        state.shown = PAGE;
        refreshReporting();
      }, SEARCH_DELAY_MS);
    });
    els.newConversation.addEventListener("click", () => {
      openConversation(null, {push: true});
      document.getElementById("question").focus();
    });
    els.drawerToggle.addEventListener("click", () => {
      setDrawer(!els.frame.classList.contains("drawer-open"));
    });
    els.backdrop.addEventListener("click", () => setDrawer(false));
    window.addEventListener("popstate", () => openConversation(idFromLocation()));
    document.addEventListener("keydown", (e) => {
      if (e.altKey && (e.key === "n" || e.key === "N")) { e.preventDefault(); els.newConversation.click(); }
      if ((e.ctrlKey || e.metaKey) && (e.key === "k" || e.key === "K")) {
        e.preventDefault();
        setDrawer(true);
        els.search.focus();
      }
      if (e.key === "Escape") setDrawer(false);
    });

    refreshReporting();
    openConversation(idFromLocation());
    return {current: () => state.current, adopt, refresh: refreshReporting,
            reopen: () => openConversation(state.current)};
  }

  window.councilConversations = {start};
})();
