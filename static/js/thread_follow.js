// The thread follows new text as it streams in, the way chat apps do, unless the reader has
// scrolled up to read something earlier: then it stays where they are, and a "jump to latest"
// button offers the way back down.
(function () {
  "use strict";

  // How close to the bottom still counts as "at the latest" (a wheel notch is ~100 px).
  const NEAR_BOTTOM_PX = 48;

  function followThread(thread, jumpButton) {
    let following = true;
    const distanceToBottom = () => thread.scrollHeight - thread.scrollTop - thread.clientHeight;
    const showJump = () => { jumpButton.hidden = following || distanceToBottom() <= NEAR_BOTTOM_PX; };

    function toLatest() {
      following = true;
      thread.scrollTop = thread.scrollHeight;
      showJump();
    }

    // Scrolling is the reader's (our own scrolls land at the bottom, which keeps following on).
    thread.addEventListener("scroll", () => {
      following = distanceToBottom() <= NEAR_BOTTOM_PX;
      showJump();
    });
    new MutationObserver(() => {
      if (following) thread.scrollTop = thread.scrollHeight;
      showJump();
    }).observe(thread, {childList: true, subtree: true, characterData: true});
    jumpButton.addEventListener("click", toLatest);
    return {toLatest};
  }

  window.councilFollow = followThread;
})();
