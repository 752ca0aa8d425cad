// The council page: conversations on the left, rounds streaming in on the right. How one
// round looks is round_view.js; this file keeps the list, asks, and routes each event there.
(function () {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const els = {
    list: $("conversation-list"), listEmpty: $("conversation-empty"), thread: $("thread"),
    threadEmpty: $("thread-empty"), form: $("ask-form"), question: $("question"), send: $("send"),
    stop: $("stop"), error: $("ask-error"), newConversation: $("new-conversation"),
  };
  const state = {conversations: [], current: null, activeRound: null, rounds: new Map()};
  const socket = io({transports: ["websocket", "polling"]});

  const {api, postJSON, sendJSON} = window.councilApi;
  const view = window.councilRoundView;

  function showError(message) {
    els.error.textContent = message || "";
    els.error.hidden = !message;
  }

  function addRound(data) {
    els.threadEmpty.hidden = true;
    const round = view.buildRound(data);
    state.rounds.set(data.round_id, round);
    els.thread.appendChild(round.el);
    round.el.scrollIntoView({block: "end"});
  }

  function clearThread() {
    state.rounds.clear();
    els.thread.querySelectorAll(".round").forEach((n) => n.remove());
    els.threadEmpty.hidden = false;
  }

  // --- conversations ---------------------------------------------------------------------

  function renderConversationList() {
    els.list.replaceChildren();
    els.listEmpty.hidden = state.conversations.length > 0;
    for (const c of state.conversations) {
      const li = document.createElement("li");
      li.dataset.conversationId = c.id;
      if (c.id === state.current) li.setAttribute("aria-current", "true");
      const open = document.createElement("button");
      open.type = "button"; open.className = "open"; open.textContent = c.title;
      open.addEventListener("click", () => selectConversation(c.id));
      const rename = document.createElement("button");
      rename.type = "button"; rename.className = "icon"; rename.title = "Rename"; rename.textContent = "✎";
      rename.addEventListener("click", () => renameConversation(c));
      const remove = document.createElement("button");
      remove.type = "button"; remove.className = "icon"; remove.title = "Delete"; remove.textContent = "×";
      remove.addEventListener("click", () => deleteConversation(c));
      li.append(open, rename, remove);
      els.list.appendChild(li);
    }
  }

  async function refreshConversations() {
    state.conversations = await api("/api/conversations");
    renderConversationList();
  }

  async function selectConversation(id) {
    state.current = id;
    renderConversationList();
    clearThread();
    if (id === null) return;
    try {
      const conversation = await api(`/api/conversations/${id}`);
      conversation.rounds.forEach(addRound);
    } catch (err) {
      showError(`Could not load that conversation: ${err.message}`);
    }
  }

  async function newConversation() {
    const created = await postJSON("/api/conversations", {});
    await refreshConversations();
    await selectConversation(created.id);
    els.question.focus();
  }

  async function renameConversation(c) {
    const title = prompt("Rename conversation", c.title);
    if (title === null || !title.trim()) return;
    try {
      await sendJSON("PATCH", `/api/conversations/${c.id}`, {title: title.trim()});
      await refreshConversations();
    } catch (err) { showError(err.message); }
  }

  async function deleteConversation(c) {
    if (!confirm(`Delete “${c.title}” and all its rounds?`)) return;
    try {
      await api(`/api/conversations/${c.id}`, {method: "DELETE"});
      if (state.current === c.id) await selectConversation(null);
      await refreshConversations();
    } catch (err) { showError(err.message); }
  }

  // --- asking and streaming ----------------------------------------------------------------

  function setBusy(roundId) {
    state.activeRound = roundId;
    els.stop.hidden = roundId === null;
    els.send.disabled = roundId !== null;
  }

  function ask() {
    const text = els.question.value.trim();
    if (!text || state.activeRound !== null) return;
    showError("");
    els.send.disabled = true;
    const peerReview = document.getElementById("peer-review").checked;
    socket.emit("ask", {conversation_id: state.current, text, peer_review: peerReview}, (ack) => {
      if (!ack || !ack.ok) {
        els.send.disabled = false;
        showError((ack && ack.error) || "The server did not accept the question.");
        return;
      }
      els.question.value = "";
      if (state.current !== ack.conversation_id) {
        state.current = ack.conversation_id;
        refreshConversations();
      }
    });
  }

  socket.on("round_started", (data) => {
    if (data.conversation_id !== state.current && state.current !== null) return;
    addRound({...data, status: "running"});
    setBusy(data.round_id);
  });
  // Events of a round this page shows; the others (another conversation's) are ignored.
  function onRound(event, handle) {
    socket.on(event, (data) => {
      const round = state.rounds.get(data.round_id);
      if (round) handle(round, data);
    });
  }

  onRound("worker_token", (round, data) => {
    const part = round.workers.get(data.answer_id);
    if (part) view.appendToken(part, data.delta);
  });
  onRound("worker_done", (round, data) => {
    const part = round.workers.get(data.answer_id);
    if (part) view.finishPart(part, data);
  });
  onRound("review_started", (round, data) => {
    data.reviews.forEach((r) => view.showReview(round, {...r, status: "running"}));
  });
  onRound("review_done", (round, data) => view.showReview(round, data));
  onRound("peer_ranking", (round, data) => view.showPeerRanking(round, data.ranking));
  onRound("synth_started", (round, data) => {
    view.showSynthesis(round, {model: data.model, status: "running"});
  });
  onRound("synth_token", (round, data) => view.appendToken(round.synth, data.delta));
  onRound("synth_done", (round, data) => view.finishPart(round.synth, data));
  onRound("round_error", (round, data) => {
    view.endRound(round, {status: "failed", error: data.error});
  });
  socket.on("round_done", (data) => {
    const round = state.rounds.get(data.round_id);
    if (round) view.endRound(round, data);
    if (state.activeRound === data.round_id) setBusy(null);
    refreshConversations();
  });
  socket.on("connect_error", () => showError("Lost the connection to the app; retrying…"));
  socket.on("connect", () => showError(""));

  // --- wiring --------------------------------------------------------------------------------

  els.form.addEventListener("submit", (e) => { e.preventDefault(); ask(); });
  els.question.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); ask(); }
  });
  els.stop.addEventListener("click", () => {
    if (state.activeRound !== null) socket.emit("stop_round", {round_id: state.activeRound});
  });
  els.newConversation.addEventListener("click", () => newConversation().catch((e) => showError(e.message)));
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && state.activeRound !== null) els.stop.click();
    const typing = ["TEXTAREA", "INPUT"].includes(document.activeElement?.tagName);
    if (!typing && !e.altKey && !e.ctrlKey && !e.metaKey && /^[1-9]$/.test(e.key)) {
      const last = [...state.rounds.values()].pop();
      const part = last && [...last.workers.values()][Number(e.key) - 1];
      if (part && !part.el.querySelector(".votes").hidden) part.el.querySelector(".vote-best").click();
    }
    if (e.altKey && (e.key === "n" || e.key === "N")) { e.preventDefault(); els.newConversation.click(); }
  });

  refreshConversations()
    .then(() => selectConversation(state.conversations.length ? state.conversations[0].id : null))
    .catch((e) => showError(`Could not load conversations: ${e.message}`));
})();
