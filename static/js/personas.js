// The persona form's model field: the menu of models the backend serves, and a text box for
// a name or .gguf path that shows only when the menu's "Other" entry is chosen (without this
// script both show, and a typed name wins).
(function () {
  "use strict";

  const menu = document.getElementById("model-choice");
  const typed = document.getElementById("model-typed");
  const input = document.getElementById("model-input");
  if (!menu || !typed || !input) return;  // the backend's list could not be loaded: text only

  const showTyped = () => {
    const other = menu.value === menu.dataset.other;
    typed.hidden = !other;
    if (!other) input.value = "";
    return other;
  };
  menu.addEventListener("change", () => {
    if (showTyped()) input.focus();
  });
  showTyped();
})();
