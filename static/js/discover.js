// The Discover page: upload an export, run discovery as a job (polled), review and import.
// Every piece of data reaches the page through textContent, input values or Chart.js (canvas),
// never innerHTML.
(function () {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const script = $("discover-script");
  if (!script) return;
  const urls = script.dataset;
  const POLL_MS = 500;
  const STAGES = ["parse", "extract", "embed", "cluster", "name", "prompts"];
  const PALETTE = ["#4f8cff", "#f5a524", "#3ccf91", "#ef5b5b", "#b07cff", "#2ec4d6", "#ff7ab6",
                   "#c8d34a", "#ff9966", "#8fa3bf", "#6be0a4", "#e0c36b"];

  let currentUpload = urls.lastUpload || null;
  let currentJob = null;
  let chart = null;
  let clusters = [];

  function showError(message) {
    const box = $("discover-error");
    box.textContent = message;
    box.hidden = !message;
  }

  const {api, postJSON} = window.councilApi;

  function clustersValue(input) {
    const value = input.value.trim();
    return value === "" ? null : Number(value);
  }

  function setBusy(busy) {
    $("upload-button").disabled = busy;
    $("rerun-button").disabled = busy;
  }

  // --- upload (XMLHttpRequest, for upload progress) -----------------------------------------

  function upload(file) {
    return new Promise((resolve, reject) => {
      const form = new FormData();
      form.append("file", file);
      const xhr = new XMLHttpRequest();
      xhr.open("POST", urls.upload);
      xhr.upload.onprogress = (event) => {
        if (event.lengthComputable) showProgress("upload", event.loaded, event.total);
      };
      xhr.onload = () => {
        let data = null;
        try { data = JSON.parse(xhr.responseText); } catch (e) { data = null; }
        if (xhr.status >= 200 && xhr.status < 300 && data) resolve(data);
        else reject(new Error((data && data.error) || `The upload failed (${xhr.status}).`));
      };
      xhr.onerror = () => reject(new Error("The upload failed: the app could not be reached."));
      xhr.send(form);
    });
  }

  // --- progress -----------------------------------------------------------------------------

  function showProgress(stage, done, total) {
    $("progress-section").hidden = false;
    const fraction = total > 0 ? Math.min(done / total, 1) : 0;
    const index = STAGES.indexOf(stage);
    let overall = fraction;
    if (index >= 0) overall = (index + fraction) / STAGES.length;
    if (stage === "done") overall = 1;
    $("progress-fill").style.width = `${Math.round(overall * 100)}%`;
    const label = stage === "upload" ? "uploading" : stage;
    const counts = total > 1 ? ` ${done} / ${total}` : "";
    $("progress-label").textContent = `${label}${counts}`;
    for (const item of $("progress-stages").children) {
      const at = STAGES.indexOf(item.dataset.stage);
      item.dataset.state = stage === "done" || (index >= 0 && at < index) ? "done"
        : at === index ? "active" : "";
    }
  }

  async function startJob(clusterCount) {
    showError("");
    setBusy(true);
    try {
      const data = await postJSON(urls.run, {upload: currentUpload, clusters: clusterCount});
      watch(data.job_id);
    } catch (error) {
      setBusy(false);
      showError(error.message);
    }
  }

  function watch(jobId) {
    currentJob = jobId;
    setBusy(true);
    $("cancel-button").hidden = false;
    showProgress("starting", 0, 1);
    poll();
  }

  async function poll() {
    if (currentJob === null) return;
    let job;
    try {
      job = await api(urls.jobs + currentJob);
    } catch (error) {
      showError(`Lost track of the job: ${error.message}`);
      setBusy(false);
      return;
    }
    if (job.args && job.args.upload) currentUpload = job.args.upload;
    const progress = job.progress || {};
    showProgress(progress.stage || job.state, progress.done || 0, progress.total || 0);
    if (job.state === "queued" || job.state === "running") {
      setTimeout(poll, POLL_MS);
      return;
    }
    currentJob = null;
    setBusy(false);
    $("cancel-button").hidden = true;
    if (job.state === "done") {
      $("progress-label").textContent = job.message ? `done (${job.message})` : "done";
      await loadResult();
    } else if (job.state === "failed") {
      $("progress-label").textContent = "failed";
      showError(`Discovery failed: ${job.message || "no reason given"}`);
    } else {
      $("progress-label").textContent = job.state;
      showError(job.state === "cancelled" ? "Discovery was cancelled."
        : `Discovery did not finish (${job.state}): ${job.message || ""}`);
    }
  }

  // --- result -------------------------------------------------------------------------------

  const colourOf = (index) => PALETTE[index % PALETTE.length];

  function drawMap(result) {
    const map = result.map;
    const index = new Map(result.clusters.map((c, i) => [c.slug, i]));
    const datasets = result.clusters.map((c, i) => ({
      label: c.name, data: [], backgroundColor: colourOf(i) + "b3", borderColor: colourOf(i),
      pointRadius: 3,
    }));
    for (const point of map.points) {
      const i = index.get(point.cluster);
      if (i !== undefined) datasets[i].data.push({x: point.x, y: point.y});
    }
    if (chart) chart.destroy();
    if (window.Chart) {
      chart = new Chart($("map-chart"), {
        type: "scatter",
        data: {datasets},
        options: {animation: false, maintainAspectRatio: false,
                  scales: {x: {title: {display: true, text: "PC 1"}},
                           y: {title: {display: true, text: "PC 2"}}}},
      });
    }
    const shown = map.points.length;
    const variance = map.explained_variance.length
      ? ` The two axes explain ${Math.round((map.explained_variance[0] + map.explained_variance[1]) * 100)}% of the variance.`
      : "";
    $("map-hint").textContent = `Each dot is one of your messages (${shown}` +
      (map.total > shown ? ` of ${map.total}, sampled` : "") +
      `), placed by PCA of its MiniLM embedding and coloured by persona.${variance}`;
  }

  function fillList(list, items) {
    list.replaceChildren(...items.map((text) => {
      const li = document.createElement("li");
      li.textContent = text;
      return li;
    }));
  }

  function drawCards(result) {
    const template = $("cluster-card-template");
    const cards = result.clusters.map((cluster, i) => {
      const card = template.content.firstElementChild.cloneNode(true);
      card.dataset.slug = cluster.slug;
      card.querySelector(".dot").style.background = colourOf(i);
      card.querySelector(".size").textContent = `${cluster.size} messages`;
      card.querySelector(".name-input").value = cluster.prompt.name || cluster.name;
      card.querySelector(".keyword-list").textContent = cluster.keywords.slice(0, 10).join(", ");
      fillList(card.querySelector(".characteristics"), cluster.characteristics);
      fillList(card.querySelector(".samples"), cluster.representatives.slice(0, 3));
      card.querySelector(".prompt-input").value = cluster.prompt.system_prompt;
      const p = cluster.prompt;
      card.querySelector(".prompt-source").textContent = p.source === "llm"
        ? `Prompt written by ${p.model || "the synthesizer model"}.`
        : `Prompt from the template: ${p.note || "no model was used"}.`;
      return card;
    });
    $("cluster-cards").replaceChildren(...cards);
  }

  async function loadResult() {
    let result;
    try {
      result = await api(urls.result);
    } catch (error) {
      if (urls.hasResult) showError(error.message);
      return;
    }
    clusters = result.clusters;
    $("discover-empty").hidden = true;
    $("result-section").hidden = false;
    const silhouette = typeof result.silhouette === "number"
      ? `, silhouette ${result.silhouette.toFixed(3)}` : "";
    $("result-summary").textContent = `${result.clusters.length} personas found${silhouette}. ` +
      "Edit the names and prompts, untick the ones you don't want, then import.";
    $("result-warning").textContent = result.warning || "";
    $("result-warning").hidden = !result.warning;
    $("import-result").hidden = true;
    drawMap(result);
    drawCards(result);
  }

  // --- import -------------------------------------------------------------------------------

  async function importSelected() {
    const byslug = new Map(clusters.map((c) => [c.slug, c]));
    const chosen = [];
    for (const card of $("cluster-cards").children) {
      if (!card.querySelector(".import-box").checked) continue;
      const cluster = byslug.get(card.dataset.slug);
      chosen.push({slug: card.dataset.slug, name: card.querySelector(".name-input").value.trim(),
                   system_prompt: card.querySelector(".prompt-input").value,
                   description: cluster ? cluster.prompt.description : ""});
    }
    const box = $("import-result");
    box.hidden = false;
    box.classList.remove("error");
    if (!chosen.length) {
      box.textContent = "Tick at least one persona to import.";
      box.classList.add("error");
      return;
    }
    $("import-button").disabled = true;
    try {
      const counts = await postJSON(urls.import, {personas: chosen,
                                                  on_conflict: $("on-conflict").value});
      const parts = [`${counts.created.length} new`, `${counts.updated.length} updated`,
                     `${counts.skipped.length} skipped`];
      const link = document.createElement("a");
      link.href = urls.personas;
      link.textContent = "Open the Personas page";
      box.replaceChildren(`Imported: ${parts.join(", ")}. `, link, ".");
    } catch (error) {
      box.textContent = `Import failed: ${error.message}`;
      box.classList.add("error");
    } finally {
      $("import-button").disabled = false;
    }
  }

  // --- wiring -------------------------------------------------------------------------------

  $("upload-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    showError("");
    const file = $("upload-file").files[0];
    if (!file) { showError("Choose an export file first."); return; }
    const count = clustersValue($("upload-clusters"));
    setBusy(true);
    $("cancel-button").hidden = true;
    try {
      const data = await upload(file);
      currentUpload = data.upload;
    } catch (error) {
      setBusy(false);
      $("progress-section").hidden = true;
      showError(error.message);
      return;
    }
    await startJob(count);
  });

  $("rerun-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (!currentUpload) {
      showError("Upload the export again to re-run discovery (the page does not know which file was used).");
      return;
    }
    startJob(clustersValue($("rerun-clusters")));
  });

  $("cancel-button").addEventListener("click", async () => {
    if (currentJob === null) return;
    try { await api(`${urls.jobs}${currentJob}/cancel`, {method: "POST"}); }
    catch (error) { showError(error.message); }
  });

  $("import-button").addEventListener("click", importSelected);

  if (urls.activeJob) watch(Number(urls.activeJob));
  else if (urls.hasResult) loadResult();
})();
