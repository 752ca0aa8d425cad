// Behaviour every page shares, kept out of the HTML so the Content-Security-Policy can forbid
// inline script and style: forms with data-confirm ask first; elements with data-color
// (validated #rrggbb persona colours) are painted with it.
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
})();
