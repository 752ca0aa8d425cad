// The Analytics page: one fetch of /api/analytics, then three Chart.js charts, a heat-map table
// and the suggestions (drawn by suggestions.js).
// Names and questions reach the page only through textContent or Chart.js (canvas), never HTML.
(function () {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const script = $("analytics-script");
  if (!script || !window.Chart) return;

  const css = getComputedStyle(document.documentElement);
  const colour = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
  const theme = {
    text: colour("--text", "#e6e9ef"), muted: colour("--muted", "#9aa3b2"),
    border: colour("--border", "#2a303b"), accent: colour("--accent", "#4f8cff"),
    danger: colour("--danger", "#ef5b5b"),
  };
  Chart.defaults.color = theme.muted;
  Chart.defaults.borderColor = theme.border;
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;

  const HEX = /^#[0-9a-f]{6}$/i;
  const HEAT = "#1d5bd8";  // the heat map's hottest cell: its white text keeps 4.5:1 in both themes
  const withAlpha = (hex, alpha) => (HEX.test(hex) ? hex + alpha : hex);
  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

  function showError(message) {
    $("analytics-error").textContent = message;
    $("analytics-error").hidden = false;
  }

  // --- 1. utilisation ----------------------------------------------------------------------

  function utilisationChart(data) {
    const unit = data.unit === "day" ? "day (UTC)"
      : data.block_size === 1 ? "round (oldest first)"
      : `block of ${data.block_size} rounds (oldest first)`;
    $("utilisation-hint").textContent =
      `How many rounds each persona was selected in, per ${unit}. ` +
      `${plural(data.rounds, "round")} charted (the last ${data.round_limit} at most).`;
    new Chart($("utilisation-chart"), {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: data.series.map((s) => ({
          label: `${s.persona.name} (${s.total})`, data: s.counts,
          backgroundColor: withAlpha(s.persona.color, "cc"), borderColor: s.persona.color,
          borderWidth: 1,
        })),
      },
      options: {
        scales: {
          x: {stacked: true, title: {display: true, text: unit}},
          y: {stacked: true, beginAtZero: true, ticks: {precision: 0},
              title: {display: true, text: "rounds selected in"}},
        },
        plugins: {tooltip: {mode: "index", intersect: false}},
      },
    });
  }

  // --- 2. gate entropy ---------------------------------------------------------------------

  function entropyChart(data) {
    $("entropy-summary").textContent = data.summary;
    const points = data.points;
    new Chart($("entropy-chart"), {
      type: "line",
      data: {
        labels: points.map((p) => `#${p.round_id}`),
        datasets: [
          {label: "entropy (bits)", data: points.map((p) => p.entropy), borderColor: theme.accent,
           backgroundColor: theme.accent, pointRadius: points.length > 60 ? 0 : 3},
          {label: "maximum log₂(n)", data: points.map((p) => p.max_entropy),
           borderColor: theme.muted, borderDash: [6, 4], pointRadius: 0, stepped: true},
        ],
      },
      options: {
        interaction: {mode: "index", intersect: false},
        scales: {
          x: {title: {display: true, text: "round"}},
          y: {beginAtZero: true, title: {display: true, text: "bits"}},
        },
        plugins: {
          tooltip: {
            callbacks: {
              title: (items) => {
                const p = points[items[0].dataIndex];
                return [`Round #${p.round_id}`, p.question];
              },
              afterBody: (items) => {
                const p = points[items[0].dataIndex];
                return `${p.selected} of ${p.personas} personas selected`;
              },
            },
          },
        },
      },
    });
  }

  // --- 3. ratings --------------------------------------------------------------------------

  function leaderboardChart(rows) {
    const rated = rows.filter((r) => r.comparisons > 0);
    if (!rated.length) {
      $("leaderboard-chart-empty").hidden = false;
      $("leaderboard-chart").parentElement.hidden = true;
      return;
    }
    new Chart($("leaderboard-chart"), {
      type: "bar",
      data: {
        labels: rated.map((r) => (r.provisional ? `${r.name} (provisional)` : r.name)),
        datasets: [
          {type: "bar", label: "95% interval", data: rated.map((r) => [r.lower, r.upper]),
           backgroundColor: rated.map((r) => withAlpha(r.color, "66")),
           borderColor: rated.map((r) => r.color), borderWidth: 1, barPercentage: 0.5},
          {type: "line", label: "rating", data: rated.map((r) => r.rating), showLine: false,
           pointStyle: "line", pointRadius: 18, pointBorderWidth: 3, pointBorderColor: theme.text,
           pointHoverRadius: 18},
        ],
      },
      options: {
        interaction: {mode: "index", intersect: false},
        plugins: {
          legend: {display: false},
          tooltip: {
            filter: (item) => item.datasetIndex === 0,
            callbacks: {
              label: (item) => {
                const r = rated[item.dataIndex];
                const rate = r.win_rate === null ? "" : `, won ${Math.round(r.win_rate * 100)}%`;
                const settled = r.provisional ? ", provisional" : "";
                return [`rating ${r.rating} (95% interval ${r.lower} to ${r.upper})${settled}`,
                        `${plural(r.votes, "vote")}, ${plural(r.comparisons, "comparison")}${rate}`];
              },
            },
          },
        },
        scales: {y: {title: {display: true, text: "rating (Elo scale)"}}},
      },
    });
  }

  // --- 4. similarity -----------------------------------------------------------------------

  function mix(from, to, t) {
    const channel = (hex, i) => parseInt(hex.slice(1 + 2 * i, 3 + 2 * i), 16);
    const parts = [0, 1, 2].map((i) => {
      const start = channel(from, i);
      return Math.round(start + (channel(to, i) - start) * t);
    });
    return `rgb(${parts.join(", ")})`;
  }

  function nameCell(tag, persona) {
    const cell = document.createElement(tag);
    const dot = document.createElement("span");
    dot.className = "dot";
    if (HEX.test(persona.color)) dot.style.background = persona.color;
    cell.append(dot, document.createTextNode(persona.name));
    return cell;
  }

  function similarityCell(data, a, b, cell, diagonal) {
    const td = document.createElement("td");
    if (diagonal) {
      td.className = "diagonal";
      td.title = `${a.name} answered ${plural(cell.rounds, "question")}`;
      return td;
    }
    if (cell.mean === null) {
      td.textContent = "—";
      td.className = "none";
      td.title = `${a.name} and ${b.name} never answered the same question`;
      return td;
    }
    td.textContent = cell.mean.toFixed(2);
    td.title = `${a.name} × ${b.name}: ${cell.mean.toFixed(2)} ` +
      `over ${plural(cell.rounds, "question")}`;
    td.style.backgroundColor = mix("#1e232c", HEAT, Math.min(Math.max(cell.mean, 0), 1));
    if (cell.mean >= data.threshold) td.classList.add("alike");
    return td;
  }

  function similarityTable(data) {
    const flags = $("similarity-flags");
    for (const flag of data.flags) {
      const item = document.createElement("li");
      item.textContent = flag.message;
      flags.append(item);
    }
    $("similarity-note").textContent =
      `${plural(data.answers, "answer")} from ${plural(data.rounds, "round")} embedded ` +
      `(finished answers of the last ${data.round_limit} rounds at most).`;
    const shared = data.cells.some((row, i) => row.some((c, j) => i !== j && c.rounds > 0));
    if (!shared) {
      $("similarity-empty").hidden = false;
      $("similarity-table").hidden = true;
      return;
    }
    const table = $("similarity-table");
    const head = document.createElement("tr");
    const corner = document.createElement("th");
    corner.append(Object.assign(document.createElement("span"), {className: "visually-hidden", textContent: "Persona"}));
    head.append(corner);
    data.personas.forEach((p) => head.append(nameCell("th", p)));
    table.tHead.append(head);
    data.personas.forEach((a, i) => {
      const row = document.createElement("tr");
      row.append(nameCell("th", a));
      data.personas.forEach((b, j) => {
        row.append(similarityCell(data, a, b, data.cells[i][j], i === j));
      });
      table.tBodies[0].append(row);
    });
  }

  // --- load --------------------------------------------------------------------------------

  fetch(script.dataset.api)
    .then((response) => {
      if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
      return response.json();
    })
    .then((report) => {
      $("analytics-status").hidden = true;
      utilisationChart(report.utilisation);
      entropyChart(report.entropy);
      leaderboardChart(report.leaderboard);
      similarityTable(report.similarity);
      window.councilSuggestions.show(report.suggestions);
      if (report.similarity.errors.length) showError(report.similarity.errors.join(" "));
    })
    .catch((error) => {
      $("analytics-status").hidden = true;
      showError(`Could not load the analytics: ${error.message}`);
    });
})();
