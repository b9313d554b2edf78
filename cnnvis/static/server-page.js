// The minimal cnnvis page: lists runs and models through the REST API (no build step).
(function () {
  "use strict";
  const api = document.body.dataset.baseUrl + "cnnvis/api/";

  function xsrf() {
    const match = document.cookie.match(/(?:^|;\s*)_xsrf=([^;]*)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  async function call(path, options) {
    const init = Object.assign({ credentials: "same-origin", headers: {} }, options || {});
    if (init.body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.headers["X-XSRFToken"] = xsrf();
    }
    const response = await fetch(api + path, init);
    const data = await response.json();
    if (!response.ok) throw new Error(data.message || response.statusText);
    return data;
  }

  function show(id, rows) {
    const target = document.getElementById(id);
    target.replaceChildren();
    const list = document.createElement("ul");
    for (const text of rows) {
      const item = document.createElement("li");
      item.textContent = text;
      list.append(item);
    }
    target.append(rows.length ? list : "none yet");
  }

  function report(error) {
    document.getElementById("error").textContent = error ? String(error.message || error) : "";
  }

  async function listRuns(logdir) {
    const data = await call("runs?logdir=" + encodeURIComponent(logdir));
    show("runs", data.runs.map((r) => r.run + ": " + r.tags.map((t) => t.tag + " (" + t.points + ")").join(", ")));
  }

  async function listModels() {
    const data = await call("models");
    show("models", data.models.map((m) => m.id + ": " + m.name + " [" + m.framework + "]"));
  }

  document.getElementById("logdir-form").addEventListener("submit", (event) => {
    event.preventDefault();
    report(null);
    listRuns(document.getElementById("logdir").value).catch(report);
  });

  document.getElementById("model-form").addEventListener("submit", (event) => {
    event.preventDefault();
    report(null);
    const body = { path: document.getElementById("model-path").value };
    const inputs = document.getElementById("model-inputs").value;
    if (inputs) body.inputs = inputs;
    call("models", { method: "POST", body: JSON.stringify(body) }).then(listModels).catch(report);
  });

  call("status").then((s) => {
    document.getElementById("version").textContent = "v" + s.version + " · " + s.methods.join(", ");
  }).catch(report);
  listModels().catch(report);
})();
