// @mentions on the council page. While the word at the caret starts with @, the question box
// shows the enabled personas whose shown name fits it (arrows move, Enter or Tab picks, Esc
// closes) and puts in @NameWithoutSpaces, which the server reads back as that persona
// (council/rounds/mentions.py). A round whose mentions named no one or several shows the
// server's notice above its answers.
//
// A textarea may take no combobox role, so the box stays a textbox that says it completes
// from a list (aria-autocomplete, aria-controls) and which option is active
// (aria-activedescendant); the list is a listbox of options.
(function () {
  "use strict";

  const MAX_OPTIONS = 8;
  // the @word that ends where the caret is (a "?" or "," after it ends it: Enter then sends)
  const TYPED = /(?:^|[\s(])@([\p{L}\p{M}\p{N}_\-()'’]*)$/u;

  const normalized = (text) => text.normalize("NFKD").toLowerCase().replace(/[^\p{L}\p{N}]/gu, "");

  // The options for `query` (normalized): names containing it, those starting with it first.
  function fitting(people, query) {
    const found = people.filter((p) => p.key.includes(query));
    const starts = (p) => p.words.some((w) => w.startsWith(query));
    return [...found.filter(starts), ...found.filter((p) => !starts(p))].slice(0, MAX_OPTIONS);
  }

  function start(box, list) {
    const names = JSON.parse(list.dataset.names || "[]");
    const person = (name, insert) => ({name, insert, key: normalized(name),
                                       words: [name, ...name.split(/\s+/u)].map(normalized)});
    const people = [person("Everyone", "@everyone"),
                    ...names.map((name) => person(name, "@" + name.replace(/\s+/gu, "")))];
    let shown = [];
    let active = -1;
    let from = 0; // where the @ being completed starts

    box.setAttribute("aria-autocomplete", "list");
    box.setAttribute("aria-controls", list.id);

    function close() {
      list.hidden = true;
      list.replaceChildren();
      shown = [];
      active = -1;
      box.removeAttribute("aria-activedescendant");
    }

    function setActive(index) {
      active = (index + shown.length) % shown.length;
      [...list.children].forEach((item, i) => item.setAttribute("aria-selected", String(i === active)));
      box.setAttribute("aria-activedescendant", list.children[active].id);
      list.children[active].scrollIntoView({block: "nearest"});
    }

    function update() {
      const caret = box.selectionStart;
      const match = caret === box.selectionEnd && TYPED.exec(box.value.slice(0, caret));
      const options = match ? fitting(people, normalized(match[1])) : [];
      // A mention already written out in full needs no list (Enter then sends).
      if (!options.length || options.some((p) => p.insert === "@" + match[1])) { close(); return; }
      from = caret - match[1].length - 1;
      shown = options;
      list.replaceChildren(...shown.map((p, i) => {
        const item = document.createElement("li");
        item.id = `${list.id}-${i}`;
        item.setAttribute("role", "option");
        item.textContent = p.name;
        return item;
      }));
      list.hidden = false;
      setActive(0);
    }

    function pick(index) {
      const caret = box.selectionStart;
      const spaced = /^\s/u.test(box.value.slice(caret)) ? "" : " ";
      box.setRangeText(shown[index].insert + spaced, from, caret, "end");
      close();
      box.focus();
    }

    box.addEventListener("input", update);
    box.addEventListener("click", update);
    box.addEventListener("blur", close);
    // Registered before council.js's own keys: a key the list uses is not also a send or a stop.
    box.addEventListener("keydown", (e) => {
      if (list.hidden || e.isComposing) return;
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        setActive(active + (e.key === "ArrowDown" ? 1 : -1));
      } else if ((e.key === "Enter" || e.key === "Tab") && !e.shiftKey) {
        pick(active);
      } else if (e.key === "Escape") {
        close();
        e.stopPropagation();
      } else {
        return;
      }
      e.preventDefault();
    });
    list.addEventListener("mousedown", (e) => e.preventDefault()); // keep the box focused
    list.addEventListener("click", (e) => {
      const item = e.target.closest("[role=option]");
      if (item) pick([...list.children].indexOf(item));
    });
  }

  // The round's notice about mentions that named no one or several (from its routing record).
  function showNotice(roundEl, routing) {
    const text = routing && routing.mention_notice;
    let notice = roundEl.querySelector(".mention-notice");
    if (!text) {
      if (notice) notice.remove();
      return;
    }
    if (!notice) {
      notice = document.createElement("p");
      notice.className = "mention-notice";
      roundEl.querySelector(".question").after(notice);
    }
    notice.textContent = text;
  }

  const box = document.getElementById("question");
  const list = document.getElementById("mention-list");
  if (box && list) start(box, list);
  window.councilMentions = {showNotice};
})();
