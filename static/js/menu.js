// The top bar's menu on a narrow screen: the Menu button shows and hides the page links; Esc
// and a click elsewhere close it (page.js's councilDismissable).
(function () {
  "use strict";
  const toggle = document.getElementById("menu-toggle");
  const bar = toggle.closest(".topbar");
  const isOpen = () => toggle.getAttribute("aria-expanded") === "true";

  function setOpen(open) {
    toggle.setAttribute("aria-expanded", String(open));
    bar.classList.toggle("menu-open", open);
  }

  toggle.addEventListener("click", () => setOpen(!isOpen()));
  window.councilDismissable(bar, toggle, isOpen, () => setOpen(false));
})();
