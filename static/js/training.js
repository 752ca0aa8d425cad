// The Training page: launch data / train / register jobs per persona, follow the running job
// (progress bar, ETA, live loss chart, log tail), cancel it, and switch LoRA / prompt-only.
// Text reaches the page through textContent only; the loss curve is drawn on a canvas.
(function () {
  "use strict";

  const script = document.getElementById("training-script");
  if (!script) return;
  const urls = script.dataset;
  const {api, postJSON} = window.councilApi;
  const POLL_MS = 500;
  const ACTIVE = ["queued", "running"];
  const STAGE_NAMES = {queued: "waiting for the job before it", starting: "starting",
                       convert: "converting the GGUF base for training (once)",
                       generate: "writing answers", load: "loading the base model",
                       train: "training", saved: "saving the adapter", done: "done"};
  const watched = new Map();  // slug -> job id being polled
  const charts = new Map();   // slug -> Chart

  const cards = () => Array.from(document.querySelectorAll(".training-card"));
  const cardFor = (slug) => cards().find((card) => card.dataset.slug === slug);

  function showError(card, message) {
    const box = card.querySelector(".error");
    box.textContent = message || "";
    box.hidden = !message;
  }

  function seconds(value) {
    if (value === undefined || value === null) return "";
    const s = Math.round(value);
    return s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
  }

  function describeJob(job) {
    const p = job.progress || {};
    const kind = {"lora-data": "Preparing data", "lora-train": "Training",
                  "lora-register": "Registering"}[job.kind] || job.kind;
    if (job.state === "done") return `${kind}: done.${job.message ? " " + job.message : ""}`;
    if (job.state === "failed") return `${kind} failed: ${job.message || "see the log"}`;
    if (job.state === "cancelled") return `${kind}: cancelled.`;
    if (job.state === "interrupted") return `${kind}: interrupted — ${job.message || ""}`;
    const parts = [`${kind}: ${STAGE_NAMES[p.stage] || p.stage || job.state}`];
    if (p.total > 1) parts.push(`${p.done} / ${p.total}`);
    if (p.loss !== undefined) parts.push(`loss ${Number(p.loss).toFixed(4)}`);
    if (p.eta_s !== undefined && p.eta_s !== null) parts.push(`about ${seconds(p.eta_s)} left`);
    return parts.join(" · ");
  }

  function drawLoss(card, slug, losses) {
    const box = card.querySelector(".loss-box");
    box.hidden = !losses || !losses.length;
    if (box.hidden) return;
    const points = losses.map(([step, loss]) => ({x: step, y: loss}));
    let chart = charts.get(slug);
    if (!chart) {
      chart = new Chart(card.querySelector(".loss-chart"), {
        type: "line",
        data: {datasets: [{label: "training loss", data: points, borderColor: "#4f8cff",
                           pointRadius: 0, borderWidth: 2}]},
        options: {animation: false, maintainAspectRatio: false, parsing: false,
                  scales: {x: {type: "linear", title: {display: true, text: "step"}},
                           y: {title: {display: true, text: "loss"}}},
                  plugins: {legend: {display: false}}},
      });
      charts.set(slug, chart);
    } else {
      chart.data.datasets[0].data = points;
      chart.update();
    }
  }

  function showJob(card, job) {
    const section = card.querySelector(".training-job");
    section.hidden = !job;
    if (!job) return;
    section.dataset.job = job.id;
    section.dataset.state = job.state;
    card.querySelector(".job-label").textContent = describeJob(job);
    const p = job.progress || {};
    const share = job.state === "done" ? 1 : (p.total ? p.done / p.total : 0);
    card.querySelector(".progress-fill").style.width = `${Math.round(share * 100)}%`;
    card.querySelector(".cancel-button").hidden = !ACTIVE.includes(job.state);
    if (job.log_tail !== undefined) card.querySelector(".job-log").textContent = job.log_tail;
    drawLoss(card, card.dataset.slug, job.kind === "lora-train" ? p.losses : null);
  }

  function showPersona(state) {
    const card = cardFor(state.slug);
    if (!card) return;
    const data = state.data;
    card.querySelector(".data-state").textContent = data.train + data.eval
      ? `${data.train} training + ${data.eval} eval pairs` + (data.note ? ` — ${data.note}` : "")
      : "no training pairs yet";
    const adapter = state.adapter;
    card.querySelector(".adapter-state").textContent = adapter
      ? `${adapter.state}: ${adapter.steps} steps, final loss ${Number(adapter.final_loss).toFixed(4)}` +
        (adapter.eval_loss !== null ? `, eval loss ${Number(adapter.eval_loss).toFixed(4)}` : "") +
        ` (${adapter.backend}, ${seconds(adapter.duration_s)})`
      : "no adapter yet";
    // measured on the eval split only; an adapter served in the engine (can_mix) without one
    // says there is no held-out figure
    const measured = adapter && adapter.llama_cpp_eval;
    const heldOut = measured
      ? `; held-out loss on llama.cpp (${measured.examples} eval pairs) ${measured.base.toFixed(3)} → ${measured.adapter.toFixed(3)} with it`
      : state.can_mix && !data.eval ? "; no held-out figure: there is no eval split (see step 1)" : "";
    const servers = state.served_on.filter((s) => s.host)
      .map((s) => `${s.method === "merged" ? "merged model" : s.method === "adapter" ? "adapter model" : "loaded"} on ${s.host}` +
                  (s.version ? ` (Ollama ${s.version})` : "")).join(", ");
    const unverified = state.variant !== "prompt" && state.answers === "prompt";
    // a registration that ended with no model that answers: the persona stays prompt-only, why
    const refused = adapter && adapter.registration && adapter.registration.state === "prompt-only"
      ? adapter.registration.reason : "";
    const modelState = card.querySelector(".model-state");
    modelState.textContent = state.adapter_model
      ? `${state.adapter_model.split("/").pop()} (prompt-only: ${state.prompt_model})` +
        (servers ? `; ${servers}` : "") +
        heldOut +
        (unverified ? "; not registered on this backend's servers, so it answers prompt-only: register it again" : "")
      : refused ? `stays prompt-only: ${refused}` : "not registered yet";
    modelState.classList.toggle("error-text", Boolean(refused) && !state.adapter_model);
    const train = card.querySelector('[data-action="train"]');
    train.disabled = !data.train || Boolean(state.train_blocked);
    train.title = state.train_blocked || (data.train ? "" : "Prepare data first");
    card.querySelector(".base-state").textContent = state.train_blocked
      ? `Training is off: ${state.train_blocked}` : `Base: ${state.base_model.split("/").pop()}`;
    card.querySelector(".base-state").classList.toggle("error-text", Boolean(state.train_blocked));
    card.dataset.trained = String(Boolean(adapter) && adapter.state === "done");
    card.querySelector('[data-action="register"]').disabled = card.dataset.trained !== "true";
    for (const input of card.querySelectorAll(".variant-input")) {
      input.disabled = !state.adapter_model || (input.value === "mix" && !state.can_mix);
      input.checked = input.value === state.variant;
    }
    card.querySelector(".variant-state").textContent = {
      lora: "answers with its adapter", mix: "answers with the router's mix of adapters",
    }[state.answers] || "answers prompt-only";
    if (state.job && !watched.has(state.slug)) {
      showJob(card, state.job);
      if (ACTIVE.includes(state.job.state)) watch(state.slug, state.job.id);
    }
  }

  // With Ollama: what Register tries on each server (the adapter, a merged model if refused,
  // with its size and time), shown on each card with a trained adapter before the user
  // starts it; a plan that cannot work says why and keeps the button off.
  function showServePlan(plan) {
    for (const card of cards()) {
      const line = card.querySelector(".serve-plan");
      line.hidden = !plan || card.dataset.trained !== "true";
      if (!plan) continue;
      line.textContent = plan.text;
      line.classList.toggle("error-text", plan.problem);
      // how registering this persona changes the models a round needs on each server
      const fit = card.querySelector(".serve-fit");
      fit.textContent = (plan.fit || {})[card.dataset.slug] || "";
      fit.hidden = line.hidden || !fit.textContent;
      const register = card.querySelector('[data-action="register"]');
      if (plan.problem) register.disabled = true;
      register.textContent = plan.merges ? "Merge and register with Ollama" : "Register with Ollama";
    }
  }

  async function refresh() {
    const data = await api(urls.state);
    data.personas.forEach(showPersona);
    showServePlan(data.serve_plan);
  }

  function watch(slug, jobId) {
    watched.set(slug, jobId);
    const card = cardFor(slug);
    const tick = async () => {
      if (watched.get(slug) !== jobId) return;
      try {
        const job = await api(`${urls.jobs}${jobId}`);
        showJob(card, job);
        if (ACTIVE.includes(job.state)) {
          setTimeout(tick, POLL_MS);
        } else {
          watched.delete(slug);
          await refresh();
        }
      } catch (error) {
        showError(card, error.message);
        setTimeout(tick, POLL_MS * 4);
      }
    };
    tick();
  }

  async function launch(card, action) {
    const slug = card.dataset.slug;
    showError(card, "");
    const body = {};
    if (action === "data") body.examples = card.querySelector(".examples-input").value;
    if (action === "train") {
      body.mode = card.querySelector(".mode-input").value;
      body.max_steps = card.querySelector(".steps-input").value;
    }
    try {
      const {job_id: jobId} = await postJSON(`${urls.launch}${encodeURIComponent(slug)}/${action}`, body);
      const chart = charts.get(slug);
      if (chart) { chart.destroy(); charts.delete(slug); }
      watch(slug, jobId);
    } catch (error) {
      showError(card, error.message);
    }
  }

  for (const card of cards()) {
    for (const button of card.querySelectorAll(".action")) {
      button.addEventListener("click", () => launch(card, button.dataset.action));
    }
    card.querySelector(".cancel-button").addEventListener("click", async () => {
      const jobId = card.querySelector(".training-job").dataset.job;
      try { await postJSON(`${urls.jobs}${jobId}/cancel`, {}); }
      catch (error) { showError(card, error.message); }
    });
    for (const input of card.querySelectorAll(".variant-input")) {
      input.addEventListener("change", async () => {
        try {
          await postJSON(`${urls.launch}${encodeURIComponent(card.dataset.slug)}/variant`,
                         {variant: input.value});
          await refresh();
        } catch (error) { showError(card, error.message); }
      });
    }
  }
  refresh().catch((error) => cards().forEach((card) => showError(card, error.message)));
})();
