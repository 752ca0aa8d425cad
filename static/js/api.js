// JSON over fetch for the pages' scripts: errors become Error objects carrying the server's
// own message (every API error answers {"error": "..."} saying what to do).
(function () {
  "use strict";

  async function api(url, options) {
    const response = await fetch(url, options);
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (!response.ok) {
      throw new Error((data && data.error) || `The server answered ${response.status}.`);
    }
    return data;
  }

  function sendJSON(method, url, body) {
    return api(url, {method, headers: {"Content-Type": "application/json"},
                     body: JSON.stringify(body)});
  }

  function postJSON(url, body) {
    return sendJSON("POST", url, body);
  }

  window.councilApi = {api, postJSON, sendJSON};
})();
