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
    frameScript: body.dataset.frameScript || "",
    frameScriptHash: body.dataset.frameScriptHash || "",
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
      const shown = run || fromXml(parsed, response, form.dataset.call, callOf(data));
      await renderResult(result, shown);
      if (run) addToHistory(run);
      const outcome = outcomeOf(shown);
      status.textContent = outcome.kind === "done" ? "Done." : outcome.title + " (see below).";
      status.classList.toggle("error", outcome.kind !== "done");
    } catch (err) {
      status.textContent = "The request failed: " + err.message;
      status.classList.add("error");
    } finally {
      button.disabled = false;
      form.removeAttribute("aria-busy");
    }
  }

  /* The call string the server would report for these form fields (core.call.call_string):
     options in order, then positionals by index, a file as .upload_files/<name>. Shown when
     the server refuses, so the user still sees the arguments they sent. */
  function callOf(data) {
    let call = "";
    const options = [];
    const positionals = [];
    for (const [name, value] of data.entries()) {
      const text = typeof value === "string" ? value : ".upload_files/" + value.name;
      const positional = /^-p(\d+)$/.exec(name);
      if (name === "call") call = text;
      else if (name.startsWith("-O")) options.push(`--${name.slice(2)}=${text}`);
      else if (positional) positionals[Number(positional[1])] = text;
    }
    return [call, ...options, ...positionals.filter((v) => v !== undefined)].join(" ");
  }

  const REASONS = { 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 413: "Content Too Large",
    415: "Unsupported Media Type", 500: "Internal Server Error" };

  function fromXml(parsed, response, script, sentCall) {
    const refused = response.status === 200 ? null : {
      status: response.status,
      // werkzeug sends upper-case reason phrases ("FORBIDDEN"); show the usual spelling
      reason: REASONS[response.status] || response.statusText || "",
      description: parsed.error || "the server answered without a description",
    };
    return {
      srid: parsed.srid, script: script, call: parsed.call || sentCall, user: null,
      code: parsed.code, timed_out: false, duration_s: null,
      stdout: parsed.stdout || "", stderr: parsed.stderr || "", shared_files: [],
      refused: refused,
    };
  }

  /* ---- the result view ------------------------------------------------------------------- */

  function readableTime(iso) {
    return (iso || "").replace("T", " ").replace(/\+00:00$/, " UTC");
  }

  function fact(label, ...value) {
    return el("div", {}, el("dt", { text: label }), el("dd", {}, ...value));
  }

  /* What happened, in a word and a headline: "Done", "Failed — exit 3", "Refused — 403 …". */
  function outcomeOf(run) {
    if (run.refused) {
      return { kind: "refused",
        title: `Refused — ${run.refused.status} ${run.refused.reason}`.trim() };
    }
    if (run.timed_out) return { kind: "failed", title: "Timed out" };
    if (run.code === 0) return { kind: "done", title: "Done — exit 0" };
    return { kind: "failed", title: `Failed — exit ${run.code}` };
  }

  function outcomeBadge(run) {
    if (run.refused) return el("span", { class: "badge fail", text: "refused" });
    if (run.timed_out) return el("span", { class: "badge fail", text: "timed out" });
    const ok = run.code === 0;
    return el("span", { class: "badge " + (ok ? "ok" : "fail"), id: "exit-code",
      text: String(run.code) });
  }

  function headline(run, title) {
    const outcome = outcomeOf(run);
    const box = el("div", { class: "headline " + outcome.kind, id: "result-headline" });
    title.textContent = outcome.title;
    box.append(title);
    const script = run.script || (run.call || "").split(" ")[0];
    if (outcome.kind === "refused") {
      box.append(el("p", { id: "refused", role: "alert" },
        `The server did not run ${script}. HTTP ${run.refused.status}: ` +
        run.refused.description));
    } else if (run.timed_out) {
      box.append(el("p", { role: "alert" },
        run.note || "The script did not finish in time and was stopped."));
    } else if (outcome.kind === "failed") {
      box.append(el("p", {}, `${script} ended with exit code ${run.code}` +
        (run.stderr ? "; it wrote to stderr:" : " and wrote nothing to stderr.")));
    }
    if (outcome.kind !== "done" && run.stderr) box.append(stderrBlock(run.stderr));
    return box;
  }

  function stderrBlock(text) {
    return el("pre", { class: "stderr", id: "stderr", role: "alert", text: text });
  }

  function escapeAttribute(text) {
    return text.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;")
      .replace(/>/g, "&gt;");
  }

  /* stdout in a sandboxed frame, at its full height, styled as the web UI styles it.

     The frame is sandboxed without allow-same-origin (an opaque origin: it cannot reach this
     page), and its own CSP allows exactly one script, pinned by hash: frame-size.js, which
     puts the output in (it comes as escaped text, so that the frame's parser never acts on
     it: no <meta http-equiv=refresh> can navigate the frame) and posts the height of the
     output. A <script> or an onerror= in the output does not run. */
  async function stdoutFrame(stdout) {
    const css = await loadFrameCss();
    const base = document.baseURI.replace(/"/g, "&quot;");
    const csp = "default-src 'none'; script-src " + cfg.frameScriptHash + "; " +
      "style-src 'unsafe-inline'; img-src * data: blob:; media-src * data: blob:; " +
      "font-src data:; base-uri 'none'; form-action 'none'";
    const doc = "<!doctype html><html><head><meta charset=\"utf-8\">" +
      `<base href="${base}" target="_blank">` +
      `<meta http-equiv="Content-Security-Policy" content="${csp}">` +
      `<style>${css}</style><script>${cfg.frameScript}</script></head>` +
      `<body data-stdout="${escapeAttribute(stdout)}"></body></html>`;
    const lines = stdout.split("\n").length;
    const frame = el("iframe", {
      class: "stdout", id: "stdout-frame",
      title: "Standard output of the script, shown as HTML",
      sandbox: "allow-scripts allow-popups allow-popups-to-escape-sandbox",
      referrerpolicy: "no-referrer",
    });
    // A first guess until the frame reports its height (or if it never does).
    frame.style.height = Math.min(Math.max(lines * 1.7 + 3, 6), 32) + "em";
    frame.srcdoc = doc;
    // The output may only ever show itself. frame-size.js takes every <meta> and target= out
    // of it; should the frame be navigated all the same, the output is put back once. A second
    // navigation ends the frame (each restore could bring the next, 10-20 requests a second):
    // the output stays readable as text below it.
    let loads = 0;
    frame.addEventListener("load", () => {
      loads += 1;
      if (loads === 2) {  // navigated away: put the output back (load 3 is that output)
        frame.srcdoc = doc;
      } else if (loads > 3) {
        const notice = el("p", { class: "notice warn", id: "stdout-navigated", role: "note",
          text: "The output tried to load another page in its frame, so it is not shown as " +
            "HTML; see \"Output as text\"." });
        frame.replaceWith(notice);
      }
    });
    return frame;
  }

  const MAX_FRAME_PX = 200000;

  function setupFrameSizing() {
    window.addEventListener("message", (event) => {
      const frame = document.getElementById("stdout-frame");
      if (!frame || event.source !== frame.contentWindow) return;
      const height = event.data && event.data.sssFrameHeight;
      if (typeof height !== "number" || !Number.isFinite(height) || height < 0) return;
      const border = frame.offsetHeight - frame.clientHeight;
      frame.style.height = Math.min(Math.ceil(height), MAX_FRAME_PX) + border + "px";
      frame.dataset.sized = String(Math.ceil(height));
    });
  }

  async function renderResult(section, run) {
    section.replaceChildren();
    section.hidden = false;
    const outcome = outcomeOf(run);
    section.dataset.outcome = outcome.kind;
    const title = el("h2", { id: "result-title", tabindex: "-1" });
    section.append(headline(run, title));
    const facts = el("dl", { class: "facts" });
    if (!run.refused) facts.append(fact("Exit code", outcomeBadge(run)));
    if (run.duration_s !== null && run.duration_s !== undefined) {
      facts.append(fact("Duration", run.duration_s.toFixed(3) + " s"));
    }
    if (run.user) facts.append(fact("Ran as", run.user.name +
      (run.user.roles.length ? ` (${run.user.roles.join(", ")})` : "")));
    if (run.timestamp) facts.append(fact("Finished", el("time",
      { datetime: run.timestamp, text: readableTime(run.timestamp) })));
    if (run.call) {
      const call = fact(run.refused ? "Call (as sent; not run)" : "Call",
        el("code", { class: "call", id: "call", text: run.call }));
      call.classList.add("call-fact");
      facts.append(call);
    }
    section.append(facts);
    if (run.notes && run.notes.length) {
      const notes = el("div", { class: "notice warn", id: "ignored-fields", role: "note" },
        el("p", { text: "The server ignored form fields of this call (as a real server " +
          "does, without a word):" }));
      const list = el("ul");
      for (const note of run.notes) list.append(el("li", { text: note }));
      notes.append(list);
      section.append(notes);
    }
    if (!run.refused) {
      section.append(el("h3", { text: "Output" }));
      if (run.stdout) {
        const shown = new TextEncoder().encode(run.stdout).length;
        if (run.stdout_bytes && run.stdout_bytes > shown) {
          section.append(el("p", { class: "notice warn", id: "stdout-cut",
            text: `Showing the first ${shown} of ${run.stdout_bytes} bytes of the output.` }));
        }
        section.append(await stdoutFrame(run.stdout));
        const raw = el("details", { class: "raw" }, el("summary", { text: "Output as text" }),
          el("pre", { text: run.stdout }));
        section.append(raw);
      } else {
        section.append(el("p", { class: "empty", text: "The script printed nothing." }));
      }
    }
    if (outcome.kind === "done" && run.stderr) {
      section.append(el("h3", { text: "Errors (stderr)" }));
      section.append(stderrBlock(run.stderr));
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
    setupFrameSizing();
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
