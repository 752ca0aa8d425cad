// The Discover page: upload an export, run discovery as a job (polled), review and import.
// Every piece of data reaches the page through textContent or input values, never innerHTML.
//
// The page always says which file "Run again" uses, and refuses to run when the last upload
// failed (or the last run on that file did). Each attempt hides the results on screen; a run
// that fails, is cancelled or was interrupted shows as such, and results still on disk from an
// earlier run are shown only when asked for, labelled as that earlier run. Results that a run
// stopped (e.g. by a restart) before it wrote them all are labelled as mixed, never as current.
(function () {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const script = $("discover-script");
  if (!script) return;
  const urls = script.dataset;
  const POLL_MS = 500;
  const STAGES = ["parse", "extract", "embed", "cluster", "name", "prompts"];
  const {api, postJSON} = window.councilApi;
  const {drawMap, drawCards, balanceText} = window.councilDiscoverCards;

  let currentUpload = urls.lastUpload || null;  // the file "Run again" runs on
  let runRefusal = "";  // why "Run again" is off: the last upload, or the last run on it, failed
  let busy = false;
  let currentJob = null;  // the job being polled
  let resultsOnDisk = Boolean(urls.hasResult);
  let earlierResult = null;  // results on disk from before the attempt that just failed
  let clusters = [];

  function showError(message) {
    const box = $("discover-error");
    box.textContent = message;
    box.hidden = !message;
  }

  function clustersValue(input) {
    const value = input.value.trim();
    return value === "" ? null : Number(value);
  }

  // The topic ↔ style slider says its value as the two shares.
  function showBalance(input) {
    input.parentElement.querySelector(".balance-value").textContent =
      balanceText(Number(input.value));
  }

  // The "Run again" form: shown once there is a file to run on, or a reason there is none.
  function showRunFile() {
    const runnable = Boolean(currentUpload) && !runRefusal;
    $("rerun-form").hidden = !currentUpload && !runRefusal;
    $("run-file").textContent = runRefusal || `Runs on ${currentUpload}, the last file uploaded.`;
    $("run-file").classList.toggle("error", Boolean(runRefusal));
    $("rerun-button").textContent = runnable ? `Run again on ${currentUpload}` : "Run again";
    $("rerun-button").disabled = busy || !runnable;
  }

  function setBusy(value) {
    busy = value;
    $("upload-button").disabled = value;
    showRunFile();
  }

  // A new attempt: nothing on screen may pass for its outcome until it has one.
  function beginAttempt() {
    showError("");
    $("result-section").hidden = true;
    $("earlier-results").hidden = true;
    $("job-outcome").hidden = true;
    $("progress-section").hidden = true;
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
    const counts = total <= 1 ? ""
      : stage === "upload" ? ` ${(done / 1e6).toFixed(1)} / ${(total / 1e6).toFixed(1)} MB`
      : ` ${done} / ${total}${stage === "parse" ? " MiB read" : ""}`;
    $("progress-label").textContent = `${label}${counts}`;
    for (const item of $("progress-stages").children) {
      const at = STAGES.indexOf(item.dataset.stage);
      item.dataset.state = stage === "done" || (index >= 0 && at < index) ? "done"
        : at === index ? "active" : "";
    }
  }

  const runName = (job) => `Run #${job.id} on ${(job.args && job.args.upload) || "an export"}`;

  async function startJob(clusterCount, balance) {
    beginAttempt();
    setBusy(true);
    try {
      const data = await postJSON(urls.run, {upload: currentUpload, clusters: clusterCount,
                                             balance});
      watch(data.job_id);
    } catch (error) {
      setBusy(false);
      showError(error.message);
      offerEarlierResults();
    }
  }

  function watch(jobId) {
    currentJob = jobId;
    setBusy(true);
    $("cancel-button").hidden = false;
    $("progress-run").textContent = `Run #${jobId}`;
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
    $("progress-run").textContent = runName(job);
    const progress = job.progress || {};
    showProgress(progress.stage || job.state, progress.done || 0, progress.total || 0);
    if (job.state === "queued" || job.state === "running") {
      setTimeout(poll, POLL_MS);
      return;
    }
    currentJob = null;
    $("cancel-button").hidden = true;
    await showOutcome(job);
    setBusy(false);
  }

  // What a finished job's outcome means for the page, and what the user can do next.
  const OUTCOMES = {
    failed: ["failed", "Fix the export (or choose another) and upload it; running the same " +
             "file again would fail the same way."],
    cancelled: ["was cancelled", "Press Run again to start it over."],
    interrupted: ["was interrupted", "Press Run again to start it over; results still on " +
                  "disk are from an earlier run, or only partly from this one."],
  };

  async function showOutcome(job) {
    if (job.state === "done") {
      runRefusal = "";
      $("progress-label").textContent = job.message ? `done (${job.message})` : "done";
      await loadResult(job.id);
      return;
    }
    const [verb, advice] = OUTCOMES[job.state] || [`ended (${job.state})`, ""];
    $("progress-label").textContent = job.state;
    $("job-outcome-message").textContent =
      `${runName(job)} ${verb}${job.message ? `: ${job.message}` : "."}`;
    $("job-outcome-advice").textContent = advice;
    $("job-outcome").hidden = false;
    runRefusal = job.state === "failed"
      ? `The last run on ${currentUpload || "its file"} failed: upload an export to run again.`
      : "";
    await offerEarlierResults();
  }

  // --- result -------------------------------------------------------------------------------

  const when = (iso) => new Date(iso).toLocaleString();

  function describeOrigin(result) {
    const run = result.run;
    if (!run) return `a run outside this page (e.g. \`council discover\`), written ${when(result.written_at)}`;
    const ended = run.state === "done" ? "finished" : `${run.state} before it finished,`;
    return `run #${run.job_id} on ${run.upload || "an export"}, ${ended} ${when(run.finished_at)}`;
  }

  // What the origin line says: current, earlier, or (whatever the page watched) mixed.
  function originText(result, earlier) {
    if (result.whole === false) {
      return `Incomplete results: part of these come from ${describeOrigin(result)}, part from ` +
        "an earlier run, as that run stopped before it wrote them all. Run discovery again.";
    }
    return earlier
      ? `Earlier results: these come from ${describeOrigin(result)}, not from the latest attempt.`
      : `Results of ${describeOrigin(result)}.`;
  }

  // The results on disk, or null (asked only when there are some: a 404 is a console error).
  async function fetchResult() {
    if (!resultsOnDisk) return null;
    try {
      return await api(urls.result);
    } catch (error) {
      return null;
    }
  }

  async function offerEarlierResults() {
    earlierResult = await fetchResult();
    $("earlier-results").hidden = earlierResult === null;
  }

  // `earlier`: the results are not those of the attempt the page shows (they are labelled so).
  function showResult(result, earlier) {
    clusters = result.clusters;
    if (typeof result.balance === "number") {  // "Run again" starts from the balance shown
      $("rerun-balance").value = String(result.balance);
      showBalance($("rerun-balance"));
    }
    $("result-origin").textContent = originText(result, earlier);
    $("result-origin").className = earlier || result.whole === false ? "warning" : "hint";
    $("earlier-results").hidden = true;
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

  // The results of job `jobId` (null: whatever is on disk, no attempt made on this page).
  async function loadResult(jobId) {
    resultsOnDisk = true;
    const result = await fetchResult();
    if (result === null) {
      showError("The run finished but its results could not be read; run it again.");
      return;
    }
    const fromJob = Boolean(result.run) && result.run.job_id === jobId;
    showResult(result, jobId !== null && !fromJob);
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
    const file = $("upload-file").files[0];
    if (!file) { showError("Choose an export file first."); return; }
    const count = clustersValue($("upload-clusters"));
    const balance = Number($("upload-balance").value);
    beginAttempt();
    setBusy(true);
    $("progress-run").textContent = `Uploading ${file.name}`;
    $("cancel-button").hidden = true;
    try {
      currentUpload = (await upload(file)).upload;
      runRefusal = "";
    } catch (error) {
      currentUpload = null;
      runRefusal = `The upload of ${file.name} failed, so there is no file to run on: ` +
        "choose an export and upload it.";
      setBusy(false);
      $("progress-section").hidden = true;
      showError(error.message);
      await offerEarlierResults();
      return;
    }
    await startJob(count, balance);
  });

  $("rerun-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (!currentUpload || runRefusal) return;  // the button is off; Enter in the field is not
    startJob(clustersValue($("rerun-clusters")), Number($("rerun-balance").value));
  });

  $("cancel-button").addEventListener("click", async () => {
    if (currentJob === null) return;
    try { await api(`${urls.jobs}${currentJob}/cancel`, {method: "POST"}); }
    catch (error) { showError(error.message); }
  });

  $("show-earlier").addEventListener("click", () => {
    if (earlierResult) showResult(earlierResult, true);
  });
  $("import-button").addEventListener("click", importSelected);
  for (const input of document.querySelectorAll(".balance-input")) {
    showBalance(input);
    input.addEventListener("input", () => showBalance(input));
  }

  const lastJob = JSON.parse(urls.lastJob || "null");
  if (lastJob && (lastJob.state === "queued" || lastJob.state === "running")) watch(lastJob.id);
  else if (lastJob && lastJob.state !== "done") {
    $("progress-run").textContent = runName(lastJob);
    $("cancel-button").hidden = true;
    const progress = lastJob.progress || {};
    showProgress(progress.stage || lastJob.state, progress.done || 0, progress.total || 0);
    showOutcome(lastJob).then(showRunFile);
  } else {
    showRunFile();
    if (resultsOnDisk) loadResult(lastJob ? lastJob.id : null);
  }
})();
