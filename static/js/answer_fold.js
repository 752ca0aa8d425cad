// Once a round's council answer is there, the workers' answers fold to a few lines each (their
// names, stats and vote buttons stay in view), so the thread reads as question, answer,
// question; "Show the N full answers" (or a click on a folded answer) unfolds them.
(function () {
  "use strict";

  function setFolded(round, folded) {
    round.dataset.answers = folded ? "folded" : "unfolded";
    const toggle = round.querySelector(".answers-toggle");
    const count = round.querySelectorAll(".workers > .worker").length;
    toggle.setAttribute("aria-expanded", String(!folded));
    toggle.textContent = folded
      ? `Show the ${count === 1 ? "full answer" : `${count} full answers`}`
      : "Fold the answers";
  }

  // A round folds once, when its synthesis is first seen done; after that the reader decides.
  function fold(round) {
    if (round.dataset.answers) return;
    const workers = round.querySelector(".workers");
    const toggle = document.createElement("button");
    toggle.type = "button"; toggle.className = "answers-toggle";
    toggle.addEventListener("click", () => setFolded(round, round.dataset.answers !== "folded"));
    workers.before(toggle);
    workers.addEventListener("click", (e) => {
      if (round.dataset.answers === "folded" && e.target.closest(".body")) setFolded(round, false);
    });
    setFolded(round, true);
  }

  function foldWhenAnswered(thread) {
    const foldDone = (root) => {
      root.querySelectorAll("article.round:not([data-answers])").forEach((round) => {
        if (round.querySelector(":scope > section.synthesis[data-status='done']")) fold(round);
      });
    };
    new MutationObserver((records) => {
      if (records.some((r) => r.target === thread || r.target.classList.contains("synthesis"))) {
        foldDone(thread);
      }
    }).observe(thread, {childList: true, subtree: true, attributes: true,
                        attributeFilter: ["data-status"]});
    foldDone(thread);
  }

  foldWhenAnswered(document.getElementById("thread"));
})();
