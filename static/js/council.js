// The council page: conversations on the left, rounds streaming in on the right.
// Every model text goes through renderMarkdown (sanitised); names and errors use textContent.
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

  // --- helpers ---------------------------------------------------------------------------

  // The model line of a card: which variant answered, and for a mix, each adapter's scale.
  function modelLabel(w) {
    if (w.variant === "lora") return `${w.model} · LoRA`;
    if (w.variant === "mix") {
      const parts = (w.adapters || []).map((a) => `${a.persona} ${a.scale.toFixed(2)}`);
      return `${w.model} · LoRA mix (${parts.join(", ")})`;
    }
    return w.model;
  }

  async function api(method, url, body) {
    const options = {method, headers: {"Content-Type": "application/json"}};
    if (body !== undefined) options.body = JSON.stringify(body);
    const response = await fetch(url, options);
    if (!response.ok) {
      let message = `${response.status} ${response.statusText}`;
      try { message = (await response.json()).error || message; } catch (_) { /* not JSON */ }
      throw new Error(message);
    }
    return response.status === 204 ? null : response.json();
  }

  function showError(message) {
    els.error.textContent = message || "";
    els.error.hidden = !message;
  }

  function statsText(stats) {
    if (!stats || !stats.eval_count) return "";
    const speed = stats.tokens_per_s ? ` · ${stats.tokens_per_s} tok/s` : "";
    const cut = stats.done_reason === "length" ? " · cut at the length limit" : "";
    return `${stats.eval_count} tokens${speed}${cut}`;
  }

  const STATE_LABELS = {running: "answering…", done: "", failed: "failed", timeout: "timed out",
                        stopped: "stopped", interrupted: "interrupted"};

  // A running answer with no text yet is queued behind others, or the model is reading the
  // prompt: say so until its first token arrives.
  function stateLabel(status, text) {
    if (status === "running" && !text) return "waiting for the model…";
    return STATE_LABELS[status] ?? status;
  }

  function scheduleRender(part) {
    if (part.pending) return;
    part.pending = true;
    requestAnimationFrame(() => {
      part.pending = false;
      renderMarkdown(part.body, part.text);
    });
  }

  function copyText(text, button) {
    const done = () => { button.textContent = "Copied"; setTimeout(() => { button.textContent = "Copy"; }, 1200); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, () => { button.textContent = "Copy failed"; });
    } else {
      const area = document.createElement("textarea");
      area.value = text; document.body.appendChild(area); area.select();
      document.execCommand("copy"); area.remove(); done();
    }
  }

  // --- rendering rounds ------------------------------------------------------------------

  function finishPart(part, info) {
    part.text = info.text ?? part.text;
    part.el.dataset.status = info.status;
    part.stateEl.textContent = stateLabel(info.status, part.text);
    part.statsEl.textContent = statsText(info.stats);
    if (part.errorEl) {
      part.errorEl.textContent = info.error || "";
      part.errorEl.hidden = !info.error;
    }
    renderMarkdown(part.body, part.text);
  }

  function renderRouting(round, routing) {
    if (!routing || !routing.decisions) return;
    const section = round.el.querySelector(".routing");
    const list = section.querySelector(".bars");
    list.replaceChildren();
    for (const d of routing.decisions) {
      const item = document.createElement("li");
      item.className = d.selected ? "selected" : "unselected";
      item.title = `${d.name}: ${(d.weight * 100).toFixed(1)}% — ${d.selected ? "speaks" : "silent"}\n${d.reason}`;
      const name = document.createElement("span");
      name.className = "bar-name"; name.textContent = d.name;
      const track = document.createElement("span");
      track.className = "bar-track";
      const bar = document.createElement("span");
      bar.className = "bar"; bar.style.width = `${(d.weight * 100).toFixed(1)}%`;
      bar.style.background = d.color;
      track.appendChild(bar);
      const value = document.createElement("span");
      value.className = "bar-value"; value.textContent = `${(d.weight * 100).toFixed(0)}%`;
      item.append(name, track, value);
      list.appendChild(item);
    }
    const mood = routing.features ? routing.features.sentiment.compound : 0;
    section.querySelector(".routing-meta").textContent =
      `entropy ${routing.entropy} bits · sentiment ${mood >= 0 ? "+" : ""}${mood.toFixed(2)}`;
    section.hidden = false;
  }

  function nameOf(round, answerId) {
    return round.workers.get(answerId)?.name ?? `answer ${answerId}`;
  }

  function showReview(round, review) {
    const section = round.el.querySelector(".peer-review");
    section.hidden = false;
    let item = round.reviews.get(review.review_id);
    if (!item) {
      item = document.createElement("li");
      round.reviews.set(review.review_id, item);
      section.querySelector(".reviews").appendChild(item);
    }
    const reviewer = nameOf(round, review.reviewer_answer_id);
    item.dataset.status = review.status;
    if (review.status === "running") {
      item.textContent = `${reviewer} is reviewing…`;
    } else if (review.ranking) {
      item.textContent = `${reviewer} ranked: ${review.ranking.map((id) => nameOf(round, id)).join(" › ")}`;
    } else if (review.status === "unparseable") {
      item.textContent = `${reviewer}'s ranking could not be parsed, so it is not counted.`;
      item.title = review.text || "";
    } else {
      item.textContent = `${reviewer}'s review ${review.status}: ${review.error || ""}`;
    }
  }

  function showPeerRanking(round, ranking) {
    if (!ranking) return;
    const list = round.el.querySelector(".peer-ranking");
    list.replaceChildren();
    for (const entry of ranking) {
      const item = document.createElement("li");
      item.textContent = `${nameOf(round, entry.answer_id)} — mean position ${entry.mean_position} (${entry.reviews} review${entry.reviews === 1 ? "" : "s"})`;
      list.appendChild(item);
    }
    round.el.querySelector(".peer-review").hidden = false;
  }

  function showVotes(round, votes) {
    const best = votes.find((v) => v.kind === "best");
    const tie = votes.some((v) => v.kind === "tie");
    const down = new Set(votes.filter((v) => v.kind === "down").map((v) => v.answer_id));
    for (const [answerId, part] of round.workers) {
      const isBest = best !== undefined && best.answer_id === answerId;
      part.el.classList.toggle("is-best", isBest);
      part.el.querySelector(".vote-best").setAttribute("aria-pressed", String(isBest));
      part.el.querySelector(".vote-down").setAttribute("aria-pressed", String(down.has(answerId)));
    }
    round.el.querySelector(".vote-tie").setAttribute("aria-pressed", String(tie));
  }

  async function vote(round, kind, answerId) {
    const errorEl = round.el.querySelector(".vote-error");
    errorEl.textContent = "";
    try {
      const result = await api("POST", `/api/rounds/${round.id}/votes`, {kind, answer_id: answerId});
      showVotes(round, result.votes);
    } catch (err) { errorEl.textContent = err.message; }
  }

  function enableVoting(round) {
    round.el.querySelector(".round-votes").hidden = false;
    for (const part of round.workers.values()) {
      part.el.querySelector(".votes").hidden = part.el.dataset.status !== "done";
    }
  }

  function addRound(data) {
    els.threadEmpty.hidden = true;
    const node = $("round-template").content.firstElementChild.cloneNode(true);
    node.dataset.roundId = data.round_id;
    node.querySelector(".user-message").textContent = data.user_message;
    const round = {id: data.round_id, el: node, workers: new Map(), reviews: new Map(), synth: null};
    const workersEl = node.querySelector(".workers");
    workersEl.style.setProperty("--columns", Math.min(data.workers.length, 4));
    for (const w of data.workers) {
      const card = $("worker-template").content.firstElementChild.cloneNode(true);
      card.dataset.answerId = w.answer_id;
      card.style.setProperty("--persona-color", w.color);
      card.querySelector(".dot").style.background = w.color;
      card.querySelector(".name").textContent = w.name;
      card.querySelector(".model").textContent = modelLabel(w);
      const part = {el: card, name: w.name, body: card.querySelector(".body"), text: w.text || "",
                    stateEl: card.querySelector(".state"), statsEl: card.querySelector(".stats"),
                    errorEl: card.querySelector(".error")};
      card.querySelector(".copy").addEventListener("click", (e) => copyText(part.text, e.currentTarget));
      card.querySelector(".vote-best").addEventListener("click", () => vote(round, "best", w.answer_id));
      card.querySelector(".vote-down").addEventListener("click", () => vote(round, "down", w.answer_id));
      round.workers.set(w.answer_id, part);
      workersEl.appendChild(card);
      finishPart(part, {status: w.status || "running", text: part.text, stats: w.stats, error: w.error});
    }
    const synthEl = node.querySelector(".synthesis");
    round.synth = {el: synthEl, body: synthEl.querySelector(".body"), text: "",
                   stateEl: synthEl.querySelector(".state"), statsEl: synthEl.querySelector(".stats")};
    synthEl.querySelector(".copy").addEventListener("click", (e) => copyText(round.synth.text, e.currentTarget));
    node.querySelector(".vote-tie").addEventListener("click", () => vote(round, "tie", null));
    renderRouting(round, data.routing);
    (data.reviews || []).forEach((review) => showReview(round, review));
    showPeerRanking(round, data.peer_ranking);
    if (data.synthesis) showSynthesis(round, data.synthesis);
    if (data.status && data.status !== "running") endRound(round, data);
    if (data.votes) showVotes(round, data.votes);
    state.rounds.set(data.round_id, round);
    els.thread.appendChild(node);
    node.scrollIntoView({block: "end"});
    return round;
  }

  function showSynthesis(round, info) {
    round.synth.el.hidden = false;
    round.synth.el.querySelector(".model").textContent = info.model || "";
    finishPart(round.synth, {status: info.status || "running", text: info.text || "", stats: info.stats});
  }

  function endRound(round, info) {
    round.el.dataset.status = info.status;
    enableVoting(round);
    const errorEl = round.el.querySelector(".round-error");
    if (info.error && info.status !== "done") {
      errorEl.textContent = info.error;
      errorEl.hidden = false;
    }
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
    state.conversations = await api("GET", "/api/conversations");
    renderConversationList();
  }

  async function selectConversation(id) {
    state.current = id;
    renderConversationList();
    clearThread();
    if (id === null) return;
    try {
      const conversation = await api("GET", `/api/conversations/${id}`);
      conversation.rounds.forEach(addRound);
    } catch (err) {
      showError(`Could not load that conversation: ${err.message}`);
    }
  }

  async function newConversation() {
    const created = await api("POST", "/api/conversations", {});
    await refreshConversations();
    await selectConversation(created.id);
    els.question.focus();
  }

  async function renameConversation(c) {
    const title = prompt("Rename conversation", c.title);
    if (title === null || !title.trim()) return;
    try {
      await api("PATCH", `/api/conversations/${c.id}`, {title: title.trim()});
      await refreshConversations();
    } catch (err) { showError(err.message); }
  }

  async function deleteConversation(c) {
    if (!confirm(`Delete “${c.title}” and all its rounds?`)) return;
    try {
      await api("DELETE", `/api/conversations/${c.id}`);
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
  socket.on("worker_token", (data) => {
    const part = state.rounds.get(data.round_id)?.workers.get(data.answer_id);
    if (!part) return;
    if (!part.text) part.stateEl.textContent = stateLabel("running", data.delta);
    part.text += data.delta;
    scheduleRender(part);
  });
  socket.on("worker_done", (data) => {
    const part = state.rounds.get(data.round_id)?.workers.get(data.answer_id);
    if (part) finishPart(part, data);
  });
  socket.on("review_started", (data) => {
    const round = state.rounds.get(data.round_id);
    if (round) data.reviews.forEach((r) => showReview(round, {...r, status: "running"}));
  });
  socket.on("review_done", (data) => {
    const round = state.rounds.get(data.round_id);
    if (round) showReview(round, data);
  });
  socket.on("peer_ranking", (data) => {
    const round = state.rounds.get(data.round_id);
    if (round) showPeerRanking(round, data.ranking);
  });
  socket.on("synth_started", (data) => {
    const round = state.rounds.get(data.round_id);
    if (round) showSynthesis(round, {model: data.model, status: "running"});
  });
  socket.on("synth_token", (data) => {
    const round = state.rounds.get(data.round_id);
    if (!round) return;
    if (!round.synth.text) round.synth.stateEl.textContent = stateLabel("running", data.delta);
    round.synth.text += data.delta;
    scheduleRender(round.synth);
  });
  socket.on("synth_done", (data) => {
    const round = state.rounds.get(data.round_id);
    if (round) finishPart(round.synth, data);
  });
  socket.on("round_error", (data) => {
    const round = state.rounds.get(data.round_id);
    if (round) endRound(round, {status: "failed", error: data.error});
  });
  socket.on("round_done", (data) => {
    const round = state.rounds.get(data.round_id);
    if (round) endRound(round, data);
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
