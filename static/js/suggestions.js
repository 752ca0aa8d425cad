// The Analytics page's suggestions (grow, merge, retire): each with its evidence and a button
// that posts its action (after a confirmation in the card when it disables a persona). After an
// action the page says what was done, with a link to see or undo it, and fetches the
// suggestions again, so a handled one goes. Text is set only as textContent.
(function () {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const section = $("suggestions-section");
  if (!section) return;
  const KINDS = {grow: "Grow", merge: "Merge", retire: "Retire"};

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function figureList(figures) {
    const list = element("dl", "suggestion-figures");
    for (const figure of figures) {
      list.append(element("dt", "", figure.label), element("dd", "", figure.shown));
    }
    return list;
  }

  function questionList(questions) {
    const list = element("ul", "suggestion-questions");
    questions.forEach((question) => list.append(element("li", "", question)));
    return list;
  }

  function report(message, link, failed) {
    const box = $("suggestions-result");
    box.replaceChildren(document.createTextNode(message));
    if (link) {
      const anchor = element("a", "", link.label);
      anchor.href = link.href;
      box.append(" ", anchor);
    }
    box.classList.toggle("error", failed);
    box.hidden = false;
  }

  async function act(suggestion, button, body) {
    button.disabled = true;
    try {
      const done = await window.councilApi.postJSON(suggestion.action.url, body);
      report(done.message, done.link, false);
      show(await window.councilApi.api(section.dataset.api));
    } catch (error) {
      report(error.message, null, true);
      button.disabled = false;
    }
  }

  // An action that disables a persona asks first, in the card: its question, "Yes: …" (which
  // posts the body with confirm: true) and Cancel; nothing is posted until Yes.
  function askFirst(suggestion, button) {
    const box = element("div", "suggestion-confirm");
    box.setAttribute("role", "group");
    const yes = element("button", "suggestion-yes", `Yes: ${suggestion.action.label}`);
    const no = element("button", "suggestion-cancel", "Cancel");
    yes.type = no.type = "button";
    yes.addEventListener("click", () => act(suggestion, yes, {...suggestion.action.body, confirm: true}));
    no.addEventListener("click", () => { box.remove(); button.hidden = false; button.focus(); });
    box.append(element("p", "", suggestion.action.confirm), yes, no);
    button.hidden = true;
    button.after(box);
    yes.focus();
  }

  function card(suggestion) {
    const item = element("li", "suggestion");
    item.dataset.kind = suggestion.kind;
    const title = element("h3");
    title.append(element("span", "suggestion-kind", KINDS[suggestion.kind] || suggestion.kind),
                 document.createTextNode(suggestion.title));
    item.append(title, element("p", "", suggestion.message), figureList(suggestion.figures));
    if (suggestion.questions.length) {
      item.append(element("p", "hint", "Some of these questions:"),
                  questionList(suggestion.questions));
    }
    const button = element("button", "suggestion-action", suggestion.action.label);
    button.type = "button";
    button.addEventListener("click", () => (suggestion.action.confirm
      ? askFirst(suggestion, button) : act(suggestion, button, suggestion.action.body)));
    item.append(button);
    return item;
  }

  function show(suggestions) {
    $("suggestions").replaceChildren(...suggestions.map(card));
    $("suggestions-empty").hidden = suggestions.length > 0;
  }

  window.councilSuggestions = {show};
})();
