// Behaviour every page shares, kept out of the HTML so the Content-Security-Policy can forbid
// inline script and style: forms with data-confirm ask first; elements with data-color
// (validated #rrggbb persona colours) are painted with it; the skip link moves focus; popovers
// (a <details class="popover">, the top bar's menu) close on Esc and on a click outside.
(function () {
  "use strict";

  const HEX = /^#[0-9a-fA-F]{6}$/;

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm && !confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  });

  for (const element of document.querySelectorAll("[data-color]")) {
    if (HEX.test(element.dataset.color)) element.style.background = element.dataset.color;
  }

  // The skip link focuses its target itself: the page's address keeps no #fragment (the
  // council page's address is its conversation).
  const skip = document.querySelector(".skip-link");
  skip.addEventListener("click", (event) => {
    const target = document.getElementById(skip.hash.slice(1));
    if (!target) return;
    event.preventDefault();
    target.focus();
  });

  // Esc closes an open popover before anything else on the page hears it (the council page's
  // Esc stops a round) and gives focus back to its toggle; a click outside closes it too.
  function dismissable(container, toggle, isOpen, close) {
    window.addEventListener("keydown", (event) => {
      if (event.key !== "Escape" || !isOpen()) return;
      event.stopPropagation();
      close();
      toggle.focus();
    }, true);
    document.addEventListener("pointerdown", (event) => {
      if (isOpen() && !container.contains(event.target)) close();
    });
  }

  for (const details of document.querySelectorAll("details.popover")) {
    dismissable(details, details.querySelector("summary"), () => details.open, () => { details.open = false; });
  }
  window.councilDismissable = dismissable;
})();
