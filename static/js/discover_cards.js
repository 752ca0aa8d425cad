// The Discover page's review: the 2-D map of the user's messages and one card per persona.
// Data reaches the page through textContent, input values or Chart.js (canvas), never innerHTML.
// Sample messages are cut to SAMPLE_CHARS with a "show more" toggle: whole exported messages
// can run to pages, and three of them per card made the page thousands of pixels tall.
(function () {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const PALETTE = ["#4f8cff", "#f5a524", "#3ccf91", "#ef5b5b", "#b07cff", "#2ec4d6", "#ff7ab6",
                   "#c8d34a", "#ff9966", "#8fa3bf", "#6be0a4", "#e0c36b"];
  const SAMPLE_CHARS = 300;
  let chart = null;

  const colourOf = (index) => PALETTE[index % PALETTE.length];

  // A topic ↔ style balance as the shares k-means gave each: 0.8 -> "20% topic, 80% style".
  const balanceText = (balance) =>
    `${Math.round((1 - balance) * 100)}% topic, ${Math.round(balance * 100)}% style`;

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
      `), placed by PCA of what the clusters were found in and coloured by persona.${variance}` +
      (map.balance === undefined ? "" : ` Clustered with the topic ↔ style balance at ` +
        `${map.balance} (${balanceText(map.balance)}).`);
  }

  function fillList(list, items) {
    list.replaceChildren(...items.map((text) => {
      const li = document.createElement("li");
      li.textContent = text;
      return li;
    }));
  }

  // At most SAMPLE_CHARS, cut at a word boundary when one is near the end.
  function shorten(text) {
    if (text.length <= SAMPLE_CHARS) return text;
    const cut = text.slice(0, SAMPLE_CHARS);
    const space = cut.lastIndexOf(" ");
    return `${(space > SAMPLE_CHARS * 0.8 ? cut.slice(0, space) : cut).trimEnd()}…`;
  }

  function sampleItem(text) {
    const item = document.createElement("li");
    const body = document.createElement("span");
    body.className = "sample-text";
    const short = shorten(text);
    body.textContent = short;
    item.append(body);
    if (short === text) return item;
    const toggle = document.createElement("button");
    toggle.type = "button";
    toggle.className = "show-more";
    toggle.textContent = "show more";
    toggle.setAttribute("aria-expanded", "false");
    toggle.addEventListener("click", () => {
      const open = toggle.getAttribute("aria-expanded") !== "true";
      body.textContent = open ? text : short;
      toggle.textContent = open ? "show less" : "show more";
      toggle.setAttribute("aria-expanded", String(open));
    });
    item.append(" ", toggle);
    return item;
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
      card.querySelector(".samples").replaceChildren(
        ...cluster.representatives.slice(0, 3).map(sampleItem));
      card.querySelector(".prompt-input").value = cluster.prompt.system_prompt;
      const p = cluster.prompt;
      card.querySelector(".prompt-source").textContent = p.source === "llm"
        ? `Prompt written by ${p.model || "the synthesizer model"}.`
        : `Prompt from the template: ${p.note || "no model was used"}.`;
      return card;
    });
    $("cluster-cards").replaceChildren(...cards);
  }

  window.councilDiscoverCards = {drawMap, drawCards, balanceText};
})();
