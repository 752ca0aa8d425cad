// The Analytics page's evaluation section: the latest `council eval` report from /api/eval (a
// Chart.js chart of each pair's win rate with its interval, the pairs and contestants tables,
// the warnings, links to the run's files), and the eval job: start, progress, cancel, resume.
// Names and messages reach the page through textContent or Chart.js (canvas), never as HTML.
(function () {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const script = $("eval-script");
  if (!script || !window.Chart) return;
  const urls = script.dataset;
  const {api, postJSON} = window.councilApi;
  const POLL_MS = 1000;
  const ACTIVE = ["queued", "running"];
  const RESUMABLE = ["cancelled", "interrupted", "failed"];
  const STAGES = {queued: "waiting for the job before it", starting: "starting",
                  answer: "answering the questions", judge: "judging the pairs", done: "done"};
  const css = getComputedStyle(document.documentElement);
  const colour = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
  let chart = null;
  let job = null;  // the eval job the section shows

  const percent = (v) => (v === null || v === undefined ? "—" : `${Math.round(v * 100)}%`);
  const interval = (b) => (b ? ` (${Math.round(b[0] * 100)}–${Math.round(b[1] * 100)}%)` : "");
  const number = (v, digits = 1) => (v === null || v === undefined ? "—" : v.toFixed(digits));

  function showError(message) {
    $("eval-error").textContent = message || "";
    $("eval-error").hidden = !message;
  }

  // A table row; a cell is text, or [text, mark] where mark is a small note after it.
  function row(cells) {
    const tr = document.createElement("tr");
    for (const cell of cells) {
      const [text, mark] = Array.isArray(cell) ? cell : [cell, null];
      const td = document.createElement("td");
      td.textContent = String(text);
      if (mark) {
        const note = document.createElement("span");
        note.className = "provisional";
        note.textContent = ` ${mark}`;
        td.append(note);
      }
      tr.append(td);
    }
    return tr;
  }

  function pairsTable(pairs) {
    const body = $("eval-pairs").tBodies[0];
    body.replaceChildren(...pairs.map((p) => row([
      p.a, p.b, [percent(p.win_rate) + interval(p.interval), p.provisional ? "provisional" : null],
      percent(p.length_controlled_win_rate), `${p.wins} / ${p.losses} / ${p.ties}`, p.missing,
      percent(p.judge_consistency)])));
    $("eval-pairs").hidden = !pairs.length;
    $("eval-pairs-empty").hidden = pairs.length > 0;
  }

  function contestantsTable(contestants) {
    $("eval-contestants").tBodies[0].replaceChildren(...contestants.map((c) => {
      const exact = c.exact_match;
      return row([c.name, c.answers, c.failed,
                  exact ? `${exact.correct} of ${exact.total}, ${percent(exact.accuracy)}` +
                          interval(exact.interval) : "—",
                  number(c.median_seconds), number(c.median_tokens, 0)]);
    }));
  }

  function pairsChart(pairs) {
    const rated = pairs.filter((p) => p.win_rate !== null);
    $("eval-chart").parentElement.hidden = !rated.length;
    if (chart) chart.destroy();
    if (!rated.length) return;
    const accent = colour("--accent", "#4f8cff");
    const fill = /^#[0-9a-f]{6}$/i.test(accent) ? `${accent}55` : accent;
    const muted = colour("--muted", "#9aa3b2");
    chart = new Chart($("eval-chart"), {
      type: "bar",
      data: {
        labels: rated.map((p) => `${p.a} vs ${p.b}${p.provisional ? " (provisional)" : ""}`),
        datasets: [
          {type: "bar", label: "95% interval", data: rated.map((p) => p.interval),
           backgroundColor: fill, borderColor: accent, borderWidth: 1,
           barPercentage: 0.5},
          {type: "line", label: "win rate of the first", data: rated.map((p) => p.win_rate),
           showLine: false, pointStyle: "line", pointRadius: 18, pointBorderWidth: 3,
           pointBorderColor: colour("--text", "#e6e9ef")},
          {type: "line", label: "50%: no difference", data: rated.map(() => 0.5),
           borderColor: muted, borderDash: [6, 4], pointRadius: 0, borderWidth: 1},
        ],
      },
      options: {
        animation: false, maintainAspectRatio: false,
        interaction: {mode: "index", intersect: false},
        plugins: {tooltip: {filter: (item) => item.datasetIndex === 0, callbacks: {
          label: (item) => {
            const p = rated[item.dataIndex];
            return `${p.a} won ${percent(p.win_rate)}${interval(p.interval)}, ` +
                   `length-controlled ${percent(p.length_controlled_win_rate)}`;
          },
        }}},
        scales: {y: {min: 0, max: 1, ticks: {callback: (v) => percent(v)},
                     title: {display: true, text: "win rate of the first (ties as half)"}}},
      },
    });
  }

  function fileLinks(run) {
    const names = Object.keys(run.files);
    const box = $("eval-files");
    box.replaceChildren();
    if (!names.length) return;
    box.append(document.createTextNode("Files of this run: "));
    names.forEach((name, i) => {
      const link = document.createElement("a");
      link.href = run.files[name];
      link.textContent = name;
      box.append(link, document.createTextNode(i < names.length - 1 ? ", " : ` (in ${run.out_dir})`));
    });
  }

  function showReport(run) {
    $("eval-empty").hidden = Boolean(run);
    $("eval-report").hidden = !run;
    if (!run) return;
    const report = run.report;
    const facts = report.run;
    const judge = facts.judge_is_contestant ? `${run.judge} (also a contestant)` : run.judge;
    $("eval-facts").textContent =
      `${facts.questions} questions from ${run.question_set} (${facts.checkable} checkable by ` +
      `exact match), judged by ${judge}; finished ${new Date(run.finished_at || run.created_at)
        .toLocaleString()}.`;
    $("eval-warnings").replaceChildren(...report.warnings.map((text) => {
      const item = document.createElement("li");
      item.textContent = text;
      return item;
    }));
    $("eval-warnings").hidden = !report.warnings.length;
    pairsChart(report.pairs);
    pairsTable(report.pairs);
    contestantsTable(report.contestants);
    fileLinks(run);
  }

  function describe(shown) {
    const p = shown.progress || {};
    if (shown.state === "done") return "Evaluation done: its report is above.";
    if (shown.state === "failed") return `Evaluation failed: ${shown.message || "see the job's log"}`;
    if (shown.state === "cancelled") return "Evaluation cancelled.";
    if (shown.state === "interrupted") return `Evaluation interrupted: ${shown.message || ""}`;
    const stage = `Evaluation: ${STAGES[p.stage || shown.state] || p.stage}`;
    return p.total > 1 ? `${stage} · ${p.done} / ${p.total}` : stage;
  }

  function showJob(shown) {
    job = shown;
    $("eval-job").hidden = !shown;
    if (!shown) return;
    const p = shown.progress || {};
    const active = ACTIVE.includes(shown.state);
    const share = shown.state === "done" ? 1 : (p.total ? p.done / p.total : 0);
    $("eval-job-label").textContent = describe(shown);
    $("eval-progress").querySelector(".progress-fill").style.width = `${Math.round(share * 100)}%`;
    $("eval-progress").setAttribute("aria-valuenow", String(Math.round(share * 100)));
    $("eval-cancel").hidden = !active;
    $("eval-resume").hidden = $("eval-resume-hint").hidden = !RESUMABLE.includes(shown.state);
    $("eval-run").disabled = active;
  }

  function watch(jobId) {
    const tick = async () => {
      if (!job || job.id !== jobId) return;
      try {
        const shown = await api(`${urls.jobs}${jobId}`);
        showJob(shown);
        if (ACTIVE.includes(shown.state)) setTimeout(tick, POLL_MS);
        else if (shown.state === "done") await load();
      } catch (error) {
        showError(error.message);
        setTimeout(tick, POLL_MS * 4);
      }
    };
    tick();
  }

  async function start(args) {
    showError("");
    try {
      const started = await postJSON(urls.start, args);
      showJob(started.job);
      watch(started.job_id);
    } catch (error) {
      showError(error.message);
    }
  }

  async function load() {
    const data = await api(urls.api);
    $("eval-status").hidden = true;
    showReport(data.run);
    if (!job || job.id !== (data.job && data.job.id)) {
      showJob(data.job);
      if (data.job && ACTIVE.includes(data.job.state)) watch(data.job.id);
    }
  }

  $("eval-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const judge = $("eval-judge").value.trim();
    start({limit: Number($("eval-limit").value), ...(judge ? {judge} : {})});
  });
  $("eval-cancel").addEventListener("click", async () => {
    try { showJob((await postJSON(`${urls.jobs}${job.id}/cancel`, {})).job); }
    catch (error) { showError(error.message); }
  });
  $("eval-resume").addEventListener("click", () => start(job.args));
  load().catch((error) => {
    $("eval-status").hidden = true;
    showError(`Could not load the evaluation: ${error.message}`);
  });
})();
