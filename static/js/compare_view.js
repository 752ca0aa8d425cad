// A compare round on the council page: once both answers are complete (`compare_ready`, or a
// stored round's `compare`), the council answer and the synthesizer model alone side by side
// as A and B, styled alike and unnamed, with the verdict buttons; after a verdict, who was who.
// Until then the round's own council answer stays hidden (the `comparing` class), or its text
// would tell the two apart. Model text goes through renderMarkdown (sanitised).
(function () {
  "use strict";

  const {postJSON} = window.councilApi;
  const SIDES = ["A", "B"];

  function identityText(role, reveal) {
    return role === "council" ? "the council answer" : `${reveal.solo_model} alone`;
  }

  // `reveal`: {A, B: "council"|"solo", verdict: "A"|"B"|"tie", solo_model}, or null before one.
  function showReveal(round, reveal) {
    const section = round.compare;
    round.el.classList.toggle("comparing", !reveal);
    for (const side of SIDES) {
      section.querySelector(`.compare-side[data-side="${side}"] .compare-identity`).textContent =
        reveal ? `· ${identityText(reveal[side], reveal)}` : "";
    }
    section.querySelectorAll("[data-verdict]").forEach((button) => {
      button.setAttribute("aria-pressed", String(reveal?.verdict === button.dataset.verdict));
    });
  }

  async function judge(round, verdict) {
    const errorEl = round.compare.querySelector(".compare-error");
    errorEl.hidden = true;
    try {
      showReveal(round, await postJSON(`/api/rounds/${round.id}/compare`, {verdict}));
    } catch (err) {
      errorEl.textContent = err.message;
      errorEl.hidden = false;
    }
  }

  // `state`: null (not a compare round), or {status: "waiting"|"ready"|"failed", pair: {A, B},
  // reveal, error}.
  function show(round, state) {
    if (!state) return;
    const section = round.compare;
    const ready = state.status === "ready";
    section.hidden = false;
    section.dataset.status = state.status;
    section.querySelector(".compare-waiting").hidden = state.status !== "waiting";
    section.querySelector(".compare-pair").hidden = !ready;
    section.querySelector(".compare-verdicts").hidden = !ready;
    const errorEl = section.querySelector(".compare-error");
    errorEl.textContent = state.error || "";
    errorEl.hidden = !state.error;
    if (ready) {
      for (const side of SIDES) {
        renderMarkdown(section.querySelector(`.compare-side[data-side="${side}"] .body`), state.pair[side]);
      }
      showReveal(round, state.reveal);
    } else {
      round.el.classList.toggle("comparing", state.status === "waiting");
    }
  }

  function wire(round) {
    round.compare = round.el.querySelector(".compare");
    round.compare.querySelectorAll("[data-verdict]").forEach((button) => {
      button.addEventListener("click", () => judge(round, button.dataset.verdict));
    });
  }

  window.councilCompareView = {wire, show};
})();
