// The header's backend badge: one look at /api/status, with the fix on the Status page.
(function () {
  "use strict";
  const badge = document.getElementById("backend-state");
  if (!badge) return;
  fetch(badge.dataset.statusUrl)
    .then((r) => r.json())
    .then((status) => {
      const missing = status.models.filter((m) => !m.present).length;
      if (!status.backend.reachable) {
        badge.textContent = "backend unreachable";
        badge.className = "backend-state bad";
      } else if (missing) {
        badge.textContent = `${missing} model${missing > 1 ? "s" : ""} missing`;
        badge.className = "backend-state warn";
      } else {
        badge.textContent = "backend ready";
        badge.className = "backend-state ok";
      }
      badge.title = status.fixes.join("\n") || "Everything the council needs is there.";
    })
    .catch(() => { badge.textContent = "status unknown"; });
})();
