/* sss-emulator: run server-side scripts from the browser, as the LinkAhead web UI does.
 *
 * Forms post multipart FormData to <context root>/scripting (call, -O<name>, -pN, file parts),
 * the response's XML gives srid, code, call, stdout and stderr, and /sss/api/runs/<srid> adds
 * what the XML does not carry (duration, shared files). No framework, no build step.
 */
"use strict";

(function () {
  const body = document.body;
  const cfg = {
    scripting: body.dataset.scripting,
    api: body.dataset.api,
    pages: body.dataset.pages,
    frameCss: body.dataset.frameCss,
    formField: body.dataset.formField || "-p0",
    formFile: body.dataset.formFile || "form.json",
    fileParts: body.dataset.fileParts || "field",
  };
  let frameCss = null;

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = value;
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  async function loadFrameCss() {
    if (frameCss === null) {
      try {
        const response = await fetch(cfg.frameCss);
        frameCss = response.ok ? await response.text() : "";
      } catch (err) {
        frameCss = "";
      }
    }
    return frameCss;
  }

  /* ---- login / logout (the server's own /login and /logout) ---------------------------- */

  function setupLogin() {
    const form = document.getElementById("login-form");
    if (form) {
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const error = form.querySelector(".login-error");
        error.hidden = true;
        const response = await fetch(form.action, {
          method: "POST",
          body: new URLSearchParams(new FormData(form)),
          credentials: "same-origin",
        });
        if (response.ok) {
          location.reload();
          return;
        }
        const parsed = parseXml(await response.text());
        error.textContent = "Login failed (HTTP " + response.status + ")" +
          (parsed.error ? ": " + parsed.error : ".");
        error.hidden = false;
        form.querySelector("input[name=password]").focus();
      });
    }
    for (const logout of document.querySelectorAll("form.logout")) {
      logout.addEventListener("submit", async (event) => {
        event.preventDefault();
        await fetch(logout.action, { method: "POST", credentials: "same-origin" });
        location.reload();
      });
    }
  }

  /* ---- the generic form ----------------------------------------------------------------- */

  function addRow(form, kind) {
    const rows = form.querySelector(`[data-rows="${kind}"]`);
    const last = rows.lastElementChild;
    const index = Number(last.dataset.index) + 1;
    const row = last.cloneNode(true);
    row.dataset.index = String(index);
    for (const node of row.querySelectorAll("[id], [for]")) {
      for (const attr of ["id", "for"]) {
        const value = node.getAttribute(attr);
        if (value) node.setAttribute(attr, value.replace(/^([po])\d+/, `$1${index}`));
      }
    }
    for (const code of row.querySelectorAll("label code")) {
      code.textContent = code.textContent.replace(/-p\d+/, `-p${index}`);
    }
    for (const input of row.querySelectorAll("input")) input.value = "";
    rows.append(row);
    row.querySelector("input").focus();
  }

  function rowValue(row) {
    const file = row.querySelector('[data-part="file"]');
    const text = row.querySelector('[data-part="text"]');
    const name = row.querySelector('[data-part="name"]');
    return {
      file: file && file.files.length ? file.files[0] : null,
      text: text ? text.value : "",
      name: name ? name.value.trim() : null,
    };
  }

  function genericFormData(form) {
    const data = new FormData();
    data.append("call", form.dataset.call);
    const options = form.querySelectorAll('[data-rows="option"] .row');
    for (const [i, row] of options.entries()) {
      const value = rowValue(row);
      if (!value.name && !value.text && !value.file) continue;
      if (!value.name) {
        throw new Error(`Option row ${i + 1} has a value but no name; give it a name.`);
      }
      if (value.file) data.append("-O" + value.name, value.file, value.file.name);
      else data.append("-O" + value.name, value.text);
    }
    const positionals = Array.from(form.querySelectorAll('[data-rows="positional"] .row'))
      .map(rowValue);
    let last = -1;
    positionals.forEach((value, i) => { if (value.text || value.file) last = i; });
    for (let i = 0; i <= last; i++) {
      const value = positionals[i];
      if (value.file) data.append("-p" + i, value.file, value.file.name);
      else data.append("-p" + i, value.text);
    }
    return data;
  }

  /* ---- a config-driven form: form.json in -p0 plus the file parts (form_elements) ------- */

  function configFormData(form) {
    const values = {};
    const files = [];
    for (const input of form.querySelectorAll("[data-kind]")) {
      const kind = input.dataset.kind;
      const name = input.name;
      if (kind === "checkbox") values[name] = input.checked;
      else if (kind === "integer") values[name] = input.value === "" ? null : parseInt(input.value, 10);
      else if (kind === "double") values[name] = input.value === "" ? null : parseFloat(input.value);
      else if (kind === "file") {
        const chosen = Array.from(input.files);
        values[name] = chosen.length ? chosen[0].name : null;
        for (const file of chosen) files.push([name, file]);
      } else values[name] = input.value;
    }
    const data = new FormData();
    data.append("call", form.dataset.call);
    const json = new Blob([JSON.stringify(values)], { type: "application/json" });
    data.append(cfg.formField, json, cfg.formFile);
    // Each file goes up in a part named after its field (it lands in .upload_files/ without
    // becoming an argument), or, if the server decision says otherwise, as the next positional.
    files.forEach(([name, file], i) => {
      data.append(cfg.fileParts === "field" ? name : "-p" + (i + 1), file, file.name);
    });
    return data;
  }

  /* ---- talking to /scripting ------------------------------------------------------------- */

  function parseXml(text) {
    const doc = new DOMParser().parseFromString(text, "application/xml");
    const root = doc.documentElement;
    if (!root || root.nodeName !== "Response") return { error: null };
    const error = root.querySelector(":scope > Error");
    const script = root.querySelector(":scope > script");
    const child = (name) => {
      const node = script && script.querySelector(":scope > " + name);
      return node ? node.textContent : "";
    };
    return {
      srid: root.getAttribute("srid"),
      error: error ? error.getAttribute("description") : null,
      code: script ? Number(script.getAttribute("code")) : null,
      call: child("call"),
      stdout: child("stdout"),
      stderr: child("stderr"),
    };
  }

  async function fetchRun(srid) {
    if (!srid) return null;
    const response = await fetch(`${cfg.api}/runs/${encodeURIComponent(srid)}`,
      { credentials: "same-origin" });
    return response.ok ? response.json() : null;
  }

  async function submitRun(form, event) {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    const status = form.querySelector(".status");
    const result = document.getElementById("result");
    if (form.dataset.mode === "config" && !form.reportValidity()) return;
    let data;
    try {
      data = form.dataset.mode === "config" ? configFormData(form) : genericFormData(form);
    } catch (err) {
      status.textContent = err.message;
      status.classList.add("error");
      return;
    }
    status.classList.remove("error");
    // "Wait for a debugger": a header, so the script's own fields stay what the form says.
    const debugWait = form.querySelector("#debug-wait");
    const headers = {};
    if (debugWait && debugWait.checked) {
      const port = form.querySelector("#debug-port").value || "5678";
      headers["X-SSS-Debug-Wait"] = port;
      status.textContent = `Waiting for a debugger on 127.0.0.1:${port}…`;
    } else status.textContent = "Running…";
    button.disabled = true;
    form.setAttribute("aria-busy", "true");
    try {
      const response = await fetch(cfg.scripting, {
        method: "POST", body: data, credentials: "same-origin", headers,
      });
      const parsed = parseXml(await response.text());
      // A run that timed out answers 500 but is in the history; a refused call is not.
      const run = await fetchRun(parsed.srid);
      if (run && run.timed_out) run.note = parsed.error;
      await renderResult(result, run || fromXml(parsed, response.status, form.dataset.call));
      if (run) addToHistory(run);
      status.textContent = "Done.";
    } catch (err) {
      status.textContent = "The request failed: " + err.message;
      status.classList.add("error");
    } finally {
      button.disabled = false;
      form.removeAttribute("aria-busy");
    }
  }

  function fromXml(parsed, httpStatus, call) {
    return {
      srid: parsed.srid, script: call, call: parsed.call || call, user: null,
      code: parsed.code, timed_out: false, duration_s: null,
      stdout: parsed.stdout || "", stderr: parsed.stderr || "", shared_files: [],
      refused: httpStatus === 200 ? null
        : `HTTP ${httpStatus}: ${parsed.error || "the server answered without a description"}`,
    };
  }

  /* ---- the result view ------------------------------------------------------------------- */

  function readableTime(iso) {
    return (iso || "").replace("T", " ").replace(/\+00:00$/, " UTC");
  }

  function fact(label, ...value) {
    return el("div", {}, el("dt", { text: label }), el("dd", {}, ...value));
  }

  function outcomeBadge(run) {
    if (run.refused) return el("span", { class: "badge fail", text: "refused" });
    if (run.timed_out) return el("span", { class: "badge fail", text: "timed out" });
    const ok = run.code === 0;
    return el("span", { class: "badge " + (ok ? "ok" : "fail"), id: "exit-code",
      text: String(run.code) });
  }

  async function stdoutFrame(stdout) {
    const css = await loadFrameCss();
    const base = document.baseURI.replace(/"/g, "&quot;");
    const doc = "<!doctype html><html><head><meta charset=\"utf-8\">" +
      `<base href="${base}" target="_blank"><style>${css}</style></head>` +
      `<body>${stdout}</body></html>`;
    const lines = stdout.split("\n").length;
    const frame = el("iframe", {
      class: "stdout", id: "stdout-frame",
      title: "Standard output of the script, shown as HTML",
      sandbox: "allow-popups allow-popups-to-escape-sandbox",
      referrerpolicy: "no-referrer",
    });
    frame.style.height = Math.min(Math.max(lines * 1.7 + 3, 6), 32) + "em";
    frame.srcdoc = doc;
    return frame;
  }

  async function renderResult(section, run) {
    section.replaceChildren();
    section.hidden = false;
    const title = el("h2", { id: "result-title", tabindex: "-1", text: "Result" });
    section.append(title);
    if (run.refused) {
      section.append(el("p", { class: "refused", role: "alert", id: "refused" },
        "The server refused the call — " + run.refused));
    }
    if (run.timed_out) {
      section.append(el("p", { class: "refused", role: "alert" },
        run.note || "The script did not finish in time and was stopped."));
    }
    const facts = el("dl", { class: "facts" });
    facts.append(fact("Exit code", outcomeBadge(run)));
    if (run.duration_s !== null && run.duration_s !== undefined) {
      facts.append(fact("Duration", run.duration_s.toFixed(3) + " s"));
    }
    if (run.user) facts.append(fact("Ran as", run.user.name +
      (run.user.roles.length ? ` (${run.user.roles.join(", ")})` : "")));
    if (run.timestamp) facts.append(fact("Finished", el("time",
      { datetime: run.timestamp, text: readableTime(run.timestamp) })));
    if (run.call) facts.append(fact("Call", el("code", { class: "call", id: "call",
      text: run.call })));
    section.append(facts);
    if (!run.refused) {
      section.append(el("h3", { text: "Output" }));
      if (run.stdout) {
        section.append(await stdoutFrame(run.stdout));
        const raw = el("details", { class: "raw" }, el("summary", { text: "Output as text" }),
          el("pre", { text: run.stdout }));
        section.append(raw);
      } else {
        section.append(el("p", { class: "empty", text: "The script printed nothing." }));
      }
    }
    if (run.stderr) {
      section.append(el("h3", { text: "Errors (stderr)" }));
      section.append(el("pre", { class: "stderr", id: "stderr", role: "alert",
        text: run.stderr }));
    }
    if (run.shared_files && run.shared_files.length) {
      section.append(el("h3", { text: "Shared files" }));
      const list = el("ul", { class: "shared", id: "shared-files" });
      for (const file of run.shared_files) {
        list.append(el("li", {}, el("a", { href: file.link, target: "_blank",
          rel: "noopener", text: file.name })));
      }
      section.append(list);
    }
    if (run.mails && run.mails.length) {
      section.append(el("h3", { text: "Mails sent (captured, not delivered)" }));
      const mails = el("ul", { class: "mails", id: "mails" });
      for (const mail of run.mails) {
        mails.append(el("li", {},
          el("p", { text: `To ${(mail.to || []).join(", ")}: ${mail.subject || "(no subject)"}` }),
          el("pre", { text: mail.body || "" })));
      }
      section.append(mails);
    }
    if (run.srid && !run.refused) {
      section.append(el("p", { class: "permalink" }, el("a", {
        href: `${cfg.pages}/runs/${encodeURIComponent(run.srid)}`,
        text: "Link to this run" })));
    }
    title.focus();
  }

  function addToHistory(run) {
    const list = document.getElementById("history");
    if (!list) return;
    const empty = document.getElementById("history-empty");
    if (empty) empty.remove();
    const ok = run.code === 0 && !run.timed_out;
    const item = el("li", {},
      el("a", { href: `${cfg.pages}/runs/${encodeURIComponent(run.srid)}` },
        el("code", { text: run.call })), " ",
      el("span", { class: "badge " + (ok ? "ok" : "fail"),
        text: run.timed_out ? "timed out" : `exit ${run.code}` }), " ",
      el("span", { class: "meta" }, `${run.user ? run.user.name : ""} · `,
        el("time", { datetime: run.timestamp, text: readableTime(run.timestamp) })));
    list.prepend(item);
  }

  /* ---- wiring ---------------------------------------------------------------------------- */

  function setup() {
    setupLogin();
    const form = document.getElementById("run-form");
    if (form) {
      form.addEventListener("submit", (event) => submitRun(form, event));
      for (const button of form.querySelectorAll("[data-add]")) {
        button.addEventListener("click", () => addRow(form, button.dataset.add));
      }
    }
    const result = document.getElementById("result");
    if (result && result.dataset.srid) {
      fetchRun(result.dataset.srid).then((run) => {
        if (run) renderResult(result, run);
        else result.textContent = "This run is no longer in the history.";
      });
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setup);
  else setup();
})();
