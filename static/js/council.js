// The council page: the open conversation's branch of rounds, streaming in, and the question
// box. How one round looks is round_view.js; which conversation is open (the list, its
// address) is conversations.js; the thread's scrolling is thread_follow.js; the rounds' tree
// (regenerate and edit start siblings) is branches.js; the @ list and a round's mention notice
// are mentions.js.
(function () {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const els = {
    thread: $("thread"), threadEmpty: $("thread-empty"), form: $("ask-form"), question: $("question"),
    send: $("send"), stop: $("stop"), error: $("ask-error"), blind: $("blind-voting"), compare: $("compare"),
    everyone: $("answer-everyone"), who: $("who-answers"), whoSummary: $("who-answers-summary"),
  };
  // rounds: every round of the conversation by id (the payloads); views: the drawn ones
  const state = {activeRound: null, rounds: new Map(), views: new Map(), current: null,
                 conversation: null, held: null, replay: []};
  const socket = io({transports: document.body.dataset.socketTransports.split(",")});

  const {postJSON} = window.councilApi;
  const view = window.councilRoundView;
  const tree = window.councilBranches;
  const follow = window.councilFollow(els.thread, $("jump-latest"));
  const compareView = window.councilCompareView;
  const mentions = window.councilMentions;
  const BLIND_KEY = "council.blindVoting";
  const COMPARE_KEY = "council.compare";

  function showError(message) {
    els.error.textContent = message || "";
    els.error.hidden = !message;
  }

  function setBusy(roundId) {
    state.activeRound = roundId;
    els.stop.hidden = roundId === null;
    els.send.disabled = roundId !== null;
  }

  // --- the branch shown ------------------------------------------------------------------

  const hooks = {
    onRegenerate: (data) => ask({text: data.user_message, parentRoundId: data.parent_id ?? null}),
    onEdit: (data, text, close) => ask({text, parentRoundId: data.parent_id ?? null}, close),
    onBranch: (data, step) => {
      const siblings = tree.siblingsOf(state.rounds, data.round_id);
      const target = siblings[siblings.indexOf(data.round_id) + step];
      if (target !== undefined) showBranch(tree.newestLeaf(state.rounds, target));
    },
  };

  function viewOf(data) {
    let round = state.views.get(data.round_id);
    if (!round) {
      round = view.buildRound(data, {...hooks, blind: els.blind.checked});
      mentions.showNotice(round.el, data.routing);
      state.views.set(data.round_id, round);
    }
    return round;
  }

  // Draw the rounds from the first question down to the current one, reusing drawn rounds.
  function renderPath() {
    const path = tree.branchPath(state.rounds, state.current);
    els.thread.querySelectorAll(".round").forEach((node) => node.remove());
    els.thread.querySelectorAll(".intro").forEach((placeholder) => {
      if (placeholder === els.threadEmpty) placeholder.hidden = path.length > 0;
    });
    for (const id of path) {
      const round = viewOf(state.rounds.get(id));
      const siblings = tree.siblingsOf(state.rounds, id);
      view.showBranch(round, siblings.indexOf(id) + 1, siblings.length);
      els.thread.appendChild(round.el);
    }
  }

  async function showBranch(leafId) {
    state.current = leafId;
    renderPath();
    try {
      await postJSON(`/api/conversations/${state.conversation}/current`, {round_id: leafId});
    } catch (err) { showError(err.message); }
  }

  // A conversation (null: a new one) replaces the thread; events that came while it opened
  // are applied on top of it (their token indexes drop what it already holds).
  function showConversation(conversation) {
    state.rounds = new Map((conversation?.rounds || []).map((r) => [r.round_id, r]));
    state.views.clear();
    state.conversation = conversation?.id ?? null;
    state.current = conversation?.current_round_id ?? null;
    renderPath();
    const running = [...state.rounds.values()].find((r) => r.status === "running");
    setBusy(running ? running.round_id : null);
    follow.toLatest();
    const held = state.replay;
    state.replay = [];
    held.forEach(([event, data]) => dispatch(event, data));
  }

  // Follow a conversation: the server sends its rounds as they are now, then every event.
  // A new conversation has nothing to send yet: the tab only stops following the old one.
  function loadConversation(id) {
    if (id === null) {
      socket.emit("open_conversation", {conversation_id: null});
      return Promise.resolve(null);
    }
    state.held = [];
    return new Promise((resolve, reject) => {
      socket.emit("open_conversation", {conversation_id: id}, (ack) => {
        state.replay = state.held || [];
        state.held = null;
        if (ack && ack.ok) resolve(ack.conversation);
        else reject(new Error((ack && ack.error) || "The server did not open the conversation."));
      });
    });
  }

  const conversations = window.councilConversations.start({
    show: showConversation, showError, load: loadConversation});

  // --- asking ------------------------------------------------------------------------------

  function chosenPersonas() {
    if (els.everyone.checked) return "everyone";
    return [...document.querySelectorAll(".answer-persona:checked")].map((box) => Number(box.value));
  }

  function showChosen() {
    const names = [...document.querySelectorAll(".answer-persona:checked")].map((b) => b.dataset.name);
    els.whoSummary.textContent = els.everyone.checked ? "everyone"
      : names.length ? names.join(", ") : "the router";
  }

  // A question (`parentRoundId`: regenerate or edit at that point; absent: the branch shown).
  function ask({text, parentRoundId}, onSent) {
    if (!text) return;
    if (state.activeRound !== null) {
      showError("A round is still running: wait for it, or stop it (Esc), then ask again.");
      return;
    }
    showError("");
    els.who.open = false;  // the picker has done its part; it would cover the thread
    els.send.disabled = true;
    const payload = {conversation_id: conversations.current(), text, personas: chosenPersonas(),
                     peer_review: $("peer-review").checked, blind: els.blind.checked,
                     compare: els.compare.checked};
    if (parentRoundId !== undefined) payload.parent_round_id = parentRoundId;
    socket.emit("ask", payload, (ack) => {
      if (!ack || !ack.ok) {
        els.send.disabled = false;
        showError((ack && ack.error) || "The server did not accept the question.");
        return;
      }
      if (onSent) onSent();
      if (parentRoundId === undefined) els.question.value = "";
      state.conversation = ack.conversation_id;
      conversations.adopt(ack.conversation_id);
    });
  }

  // --- a round's events --------------------------------------------------------------------

  const handlers = {
    round_started: (data) => {
      const current = conversations.current();
      if ((data.conversation_id !== current && current !== null) || state.rounds.has(data.round_id)) return;
      state.rounds.set(data.round_id, {...data, status: "running"});
      state.current = data.round_id;
      renderPath();
      follow.toLatest();
      setBusy(data.round_id);
    },
    worker_token: (round, data) => {
      const part = round.workers.get(data.answer_id);
      if (part) view.appendToken(part, data.delta, data.index);
    },
    worker_done: (round, data) => {
      const part = round.workers.get(data.answer_id);
      if (part) view.finishPart(part, data);
    },
    review_started: (round, data) => {
      data.reviews.forEach((r) => view.showReview(round, {...r, status: "running"}));
    },
    review_done: (round, data) => view.showReview(round, data),
    peer_ranking: (round, data) => view.showPeerRanking(round, data.ranking),
    synth_started: (round, data) => {
      if (round.synth.el.hidden) view.showSynthesis(round, {model: data.model, status: "running"});
    },
    synth_token: (round, data) => view.appendToken(round.synth, data.delta, data.index),
    synth_done: (round, data) => view.finishPart(round.synth, data),
    compare_ready: (round, data) => compareView.show(round, data),
    round_error: (round, data) => view.endRound(round, {status: "failed", error: data.error}),
    round_done: (round, data) => view.endRound(round, data),
  };

  // While a conversation opens, its events wait for the snapshot they continue.
  function dispatch(event, data) {
    if (state.held !== null) { state.held.push([event, data]); return; }
    if (event === "round_started") { handlers.round_started(data); return; }
    const round = state.views.get(data.round_id);
    if (round) handlers[event](round, data);
    const stored = state.rounds.get(data.round_id);
    if (event === "round_done") {
      if (stored) stored.status = data.status;
      if (state.activeRound === data.round_id) setBusy(null);
      conversations.refresh();
    }
  }

  Object.keys(handlers).forEach((event) => socket.on(event, (data) => dispatch(event, data)));
  socket.on("connect_error", () => showError("Lost the connection to the app; retrying…"));
  // A new connection follows no conversation: after a lost one, open the shown one again.
  let connectedBefore = false;
  socket.on("connect", () => {
    showError("");
    if (connectedBefore) conversations.reopen();
    connectedBefore = true;
  });

  // --- wiring --------------------------------------------------------------------------------

  els.blind.checked = localStorage.getItem(BLIND_KEY) === "1";
  els.blind.addEventListener("change", () => {
    localStorage.setItem(BLIND_KEY, els.blind.checked ? "1" : "0");
    for (const round of state.views.values()) round.el.classList.toggle("blind", els.blind.checked);
  });
  // Compare: the setting's default (COUNCIL_COMPARE) until the user ticks or unticks it.
  if (localStorage.getItem(COMPARE_KEY) !== null) els.compare.checked = localStorage.getItem(COMPARE_KEY) === "1";
  els.compare.addEventListener("change", () => localStorage.setItem(COMPARE_KEY, els.compare.checked ? "1" : "0"));
  els.who.addEventListener("change", (e) => {
    if (e.target === els.everyone && els.everyone.checked) {
      document.querySelectorAll(".answer-persona").forEach((box) => { box.checked = false; });
    } else if (e.target.checked) {
      els.everyone.checked = false;
    }
    showChosen();
  });
  els.form.addEventListener("submit", (e) => { e.preventDefault(); ask({text: els.question.value.trim()}); });
  els.question.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing && !e.defaultPrevented) {
      e.preventDefault();
      ask({text: els.question.value.trim()});
    }
  });
  els.stop.addEventListener("click", () => {
    if (state.activeRound !== null) socket.emit("stop_round", {round_id: state.activeRound});
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && state.activeRound !== null) els.stop.click();
    const typing = ["TEXTAREA", "INPUT"].includes(document.activeElement?.tagName);
    if (!typing && !e.altKey && !e.ctrlKey && !e.metaKey && /^[1-9]$/.test(e.key)) {
      const path = tree.branchPath(state.rounds, state.current);
      const last = state.views.get(path[path.length - 1]);
      const part = last && [...last.workers.values()][Number(e.key) - 1];
      if (part && !part.el.querySelector(".votes").hidden) part.el.querySelector(".vote-best").click();
    }
  });
})();
