// Markdown for model output: marked renders, raw HTML in the Markdown is shown as text,
// DOMPurify removes anything executable that is left, highlight.js colours code blocks.
(function () {
  "use strict";

  function escapeHtml(text) {
    return text.replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
  }

  marked.use({
    gfm: true,
    breaks: false,
    renderer: {
      html(token) { return escapeHtml(token.raw || token.text || ""); },
    },
  });

  const PURIFY = {
    USE_PROFILES: {html: true},
    FORBID_TAGS: ["style", "img", "svg", "math", "form", "input", "button", "iframe", "object", "embed"],
    FORBID_ATTR: ["style", "srcset"],
    ALLOW_DATA_ATTR: false,
  };

  DOMPurify.addHook("afterSanitizeAttributes", (node) => {
    if (node.tagName === "A") {
      node.setAttribute("target", "_blank");
      node.setAttribute("rel", "noopener noreferrer");
    }
  });

  // `options` are marked's, per call: {breaks: true} keeps a typed message's line breaks.
  function renderMarkdown(element, text, options) {
    element.innerHTML = DOMPurify.sanitize(marked.parse(text || "", options), PURIFY);
    element.querySelectorAll("pre code").forEach((block) => {
      if (window.hljs) hljs.highlightElement(block);
    });
    // code blocks and tables scroll sideways in their own box: a keyboard must reach it too
    element.querySelectorAll("pre, table").forEach((box) => { box.tabIndex = 0; });
  }

  window.renderMarkdown = renderMarkdown;
})();
