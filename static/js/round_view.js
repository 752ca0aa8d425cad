// One round on the council page: worker cards that fill in token by token, the router's
// weights, peer review, the council answer, a compare round's pair (compare_view.js) and the
// vote buttons. Every model text goes
// through renderMarkdown (sanitised); names and errors use textContent.
(function () {
  "use strict";

  const {postJSON} = window.councilApi;
  const compareView = window.councilCompareView;

  // The model line of a card: which variant answered, and for a mix, each adapter's scale.
  function modelLabel(w) {
    if (w.variant === "lora") return `${w.model} · LoRA`;
    if (w.variant === "mix") {
      const parts = (w.adapters || []).map((a) => `${a.persona} ${a.scale.toFixed(2)}`);
      return `${w.model} · LoRA mix (${parts.join(", ")})`;
    }
    return w.model;
  }

  // How an answer ended, where it is worth saying: the length limit, or the app ending an
  // answer that kept repeating itself (council/llm/repetition.py; the text is kept).
  const ENDINGS = {length: " · cut at the length limit", repeating: " · stopped: repeating"};

  function statsText(stats) {
    if (!stats || !stats.eval_count) return "";
    const speed = stats.tokens_per_s ? ` · ${stats.tokens_per_s} tok/s` : "";
    return `${stats.eval_count} tokens${speed}${ENDINGS[stats.done_reason] ?? ""}`;
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

  // A worker's or the synthesizer's next piece of text; rendered once per animation frame.
  // `index` counts the part's deltas: a page that opened mid-round already has the first
  // `part.tokens` of them, so a repeat (or one past a gap the snapshot fills) is dropped.
  function appendToken(part, delta, index) {
    if (index !== undefined && index !== part.tokens) return;
    if (!part.text) part.stateEl.textContent = stateLabel("running", delta);
    part.text += delta;
    part.tokens += 1;
    scheduleRender(part);
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
    section.querySelector(".chosen").hidden = !routing.chosen_by_user;
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
    if (best || tie) round.el.classList.add("revealed");  // a blind round shows who said what
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
    const blind = round.el.classList.contains("blind") && !round.el.classList.contains("revealed");
    try {
      const result = await postJSON(`/api/rounds/${round.id}/votes`, {kind, answer_id: answerId, blind});
      showVotes(round, result.votes);
    } catch (err) { errorEl.textContent = err.message; }
  }

  // What the user saw can be judged: finished answers, and what a stopped one got to.
  function votable(part) {
    const status = part.el.dataset.status;
    return status === "done" || (status === "stopped" && part.text.trim() !== "");
  }

  function enableVoting(round) {
    round.el.querySelector(".round-votes").hidden = false;
    let shown = 0;
    for (const part of round.workers.values()) {
      const can = votable(part);
      part.el.querySelector(".votes").hidden = !can;
      shown += can ? 1 : 0;
    }
    round.el.querySelector(".vote-tie").hidden = shown < 2;
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

  function workerCard(round, w, position) {
    const card = document.getElementById("worker-template").content.firstElementChild.cloneNode(true);
    card.dataset.answerId = w.answer_id;
    card.querySelector(".blind-label").textContent = `Answer ${position}`;
    card.style.setProperty("--persona-color", w.color);
    card.querySelector(".dot").style.background = w.color;
    card.querySelector(".name").textContent = w.name;
    card.querySelector(".model").textContent = modelLabel(w);
    const part = {el: card, name: w.name, body: card.querySelector(".body"), text: w.text || "",
                  tokens: w.tokens || 0, stateEl: card.querySelector(".state"),
                  statsEl: card.querySelector(".stats"), errorEl: card.querySelector(".error")};
    card.querySelector(".copy").addEventListener("click", (e) => copyText(part.text, e.currentTarget));
    card.querySelector(".vote-best").addEventListener("click", () => vote(round, "best", w.answer_id));
    card.querySelector(".vote-down").addEventListener("click", () => vote(round, "down", w.answer_id));
    round.workers.set(w.answer_id, part);
    return part;
  }

  // The question's own controls: edit and resend, regenerate, and ‹ i/n › between the
  // answers a regenerate or an edit left at this point of the conversation.
  function wireQuestion(round, data, hooks) {
    const node = round.el;
    const message = node.querySelector(".user-message");
    const editor = node.querySelector(".edit-form");
    const field = editor.querySelector("textarea");
    node.querySelector(".regenerate").addEventListener("click", () => hooks.onRegenerate(data));
    node.querySelector(".edit").addEventListener("click", () => {
      field.value = data.user_message;
      editor.hidden = false; message.hidden = true;
      field.focus();
    });
    const close = () => { editor.hidden = true; message.hidden = false; };
    editor.querySelector(".cancel").addEventListener("click", close);
    editor.addEventListener("submit", (e) => {
      e.preventDefault();
      if (field.value.trim()) hooks.onEdit(data, field.value.trim(), close);
    });
    field.addEventListener("keydown", (e) => {
      if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); close(); }
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); editor.requestSubmit(); }
    });
    node.querySelector(".branch-prev").addEventListener("click", () => hooks.onBranch(data, -1));
    node.querySelector(".branch-next").addEventListener("click", () => hooks.onBranch(data, 1));
  }

  // Where this round stands among its siblings: "2 / 3", with ‹ › when there are others.
  function showBranch(round, position, count) {
    const nav = round.el.querySelector(".branches");
    nav.hidden = count < 2;
    nav.querySelector(".position").textContent = `${position} / ${count}`;
    nav.querySelector(".branch-prev").disabled = position <= 1;
    nav.querySelector(".branch-next").disabled = position >= count;
  }

  // A round as the live events start it, or as the conversations API stored it (then with
  // its texts, reviews, synthesis, end state and votes already filled in). `hooks`: whether
  // it is shown blind, and what regenerate, edit and the branch arrows do.
  function buildRound(data, hooks) {
    const node = document.getElementById("round-template").content.firstElementChild.cloneNode(true);
    node.dataset.roundId = data.round_id;
    node.classList.toggle("blind", Boolean(hooks.blind));
    renderMarkdown(node.querySelector(".user-message"), data.user_message, {breaks: true});
    const round = {id: data.round_id, el: node, workers: new Map(), reviews: new Map(), synth: null};
    wireQuestion(round, data, hooks);
    const workersEl = node.querySelector(".workers");
    workersEl.style.setProperty("--columns", Math.min(data.workers.length, 4));
    for (const [index, w] of data.workers.entries()) {
      const part = workerCard(round, w, index + 1);
      workersEl.appendChild(part.el);
      finishPart(part, {status: w.status || "running", text: part.text, stats: w.stats, error: w.error});
    }
    const synthEl = node.querySelector(".synthesis");
    round.synth = {el: synthEl, body: synthEl.querySelector(".body"), text: "",
                   tokens: data.synthesis?.tokens || 0, stateEl: synthEl.querySelector(".state"),
                   statsEl: synthEl.querySelector(".stats")};
    synthEl.querySelector(".copy").addEventListener("click", (e) => copyText(round.synth.text, e.currentTarget));
    node.querySelector(".vote-tie").addEventListener("click", () => vote(round, "tie", null));
    renderRouting(round, data.routing);
    (data.reviews || []).forEach((review) => showReview(round, review));
    showPeerRanking(round, data.peer_ranking);
    if (data.synthesis) showSynthesis(round, data.synthesis);
    compareView.wire(round);
    compareView.show(round, data.compare);
    if (data.status && data.status !== "running") endRound(round, data);
    if (data.votes) showVotes(round, data.votes);
    return round;
  }

  window.councilRoundView = {buildRound, appendToken, finishPart, showReview, showPeerRanking,
                             showSynthesis, endRound, showBranch};
})();
