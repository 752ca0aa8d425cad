// The council page: rounds streaming into the thread, the question box and the events of a
// round. How one round looks is round_view.js; which conversation is open (the list, its
// address) is conversations.js; the thread's scrolling is thread_follow.js.
(function () {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const els = {
    thread: $("thread"), threadEmpty: $("thread-empty"), form: $("ask-form"), question: $("question"),
    send: $("send"), stop: $("stop"), error: $("ask-error"),
  };
  const state = {activeRound: null, rounds: new Map()};
  const socket = io({transports: ["websocket", "polling"]});

  const view = window.councilRoundView;
  const follow = window.councilFollow(els.thread, $("jump-latest"));

  function showError(message) {
    els.error.textContent = message || "";
    els.error.hidden = !message;
  }

  function addRound(data) {
    els.thread.querySelectorAll(".intro").forEach((placeholder) => { placeholder.hidden = true; });
    const round = view.buildRound(data);
    state.rounds.set(data.round_id, round);
    els.thread.appendChild(round.el);
  }

  function clearThread() {
    state.rounds.clear();
    els.thread.querySelectorAll(".round").forEach((n) => n.remove());
    els.threadEmpty.hidden = false;
  }

  // A conversation from the conversations API (null: a new one) replaces the thread.
  function showConversation(conversation) {
    clearThread();
    if (conversation) conversation.rounds.forEach(addRound);
    follow.toLatest();
  }

  const conversations = window.councilConversations.start({show: showConversation, showError});

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
    socket.emit("ask", {conversation_id: conversations.current(), text, peer_review: peerReview}, (ack) => {
      if (!ack || !ack.ok) {
        els.send.disabled = false;
        showError((ack && ack.error) || "The server did not accept the question.");
        return;
      }
      els.question.value = "";
      conversations.adopt(ack.conversation_id);
    });
  }

  socket.on("round_started", (data) => {
    const current = conversations.current();
    if (data.conversation_id !== current && current !== null) return;
    addRound({...data, status: "running"});
    follow.toLatest();
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
    conversations.refresh();
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
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && state.activeRound !== null) els.stop.click();
    const typing = ["TEXTAREA", "INPUT"].includes(document.activeElement?.tagName);
    if (!typing && !e.altKey && !e.ctrlKey && !e.metaKey && /^[1-9]$/.test(e.key)) {
      const last = [...state.rounds.values()].pop();
      const part = last && [...last.workers.values()][Number(e.key) - 1];
      if (part && !part.el.querySelector(".votes").hidden) part.el.querySelector(".vote-best").click();
    }
  });
})();
