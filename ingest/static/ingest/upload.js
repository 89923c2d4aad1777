/* The upload form: files chosen or dropped are listed and checked against the
 * limits before anything is sent, each with its own Remove button; the form
 * posts with htmx, its progress is shown, and the server's refusals come back
 * into the form's error slots. While an upload is on its way, leaving the
 * page asks first; a page left anyway says, once reloaded, whether the upload
 * became a job (each upload carries an Idempotency-Key the server keeps). */

import { fileSize, isOurs, plural, unexpected } from "./common.js";
import { addRow, streamRoot } from "./live.js";

function extensionOf(name) {
  const base = name.split(/[\\/]/).pop();
  const dot = base.lastIndexOf(".");
  return dot > 0 ? base.slice(dot).toLowerCase() : "";
}

function uploadLimits(form) {
  return {
    maxFileBytes: Number(form.dataset.maxFileBytes),
    maxFiles: Number(form.dataset.maxFiles),
    maxTotalBytes: Number(form.dataset.maxTotalBytes),
    // Text is judged by its content whatever its name, so only names that
    // are never text nor a kind the server reads are refused here.
    refused: form.dataset.refused.split(","),
    supported: form.dataset.supported,
  };
}

function fileProblem(file, limits) {
  const ext = extensionOf(file.name);
  if (ext && limits.refused.includes(ext)) {
    return ext + " files are not accepted; send " + limits.supported + ".";
  }
  if (file.size === 0) return "This file is empty.";
  if (file.size > limits.maxFileBytes) {
    return "Too large: the limit is " + fileSize(limits.maxFileBytes) + " per file.";
  }
  return "";
}

// Each file's own problem is shown once, beside it in the list; the field's
// error only says how many there are and what to do.
function uploadProblems(files, limits) {
  const problems = [];
  const refused = files.filter((file) => fileProblem(file, limits));
  if (refused.length === 1) problems.push("1 file cannot be sent: remove it from the list below.");
  if (refused.length > 1) problems.push(plural(refused.length, "file") + " cannot be sent: remove them from the list below.");
  if (files.length > limits.maxFiles) {
    problems.push(plural(files.length, "file") + " chosen; a job takes at most " + limits.maxFiles + ".");
  }
  const total = files.reduce((sum, file) => sum + file.size, 0);
  if (total > limits.maxTotalBytes) {
    problems.push("The files add up to " + fileSize(total) + "; a job takes at most " + fileSize(limits.maxTotalBytes) + ".");
  }
  return problems;
}

function clearErrors(form) {
  form.querySelectorAll("[data-error-for]").forEach((el) => { el.textContent = ""; });
  form.querySelectorAll(".has-error").forEach((el) => el.classList.remove("has-error"));
  form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
}

function showErrors(form, errors) {
  let first = null;
  for (const [field, messages] of Object.entries(errors)) {
    const slot = form.querySelector('[data-error-for="' + field + '"]') || form.querySelector('[data-error-for="__all__"]');
    if (!slot) continue;
    slot.textContent = [].concat(messages).join(" ");
    const input = form.querySelector('[name="' + field + '"]');
    if (input) {
      input.setAttribute("aria-invalid", "true");
      const wrapper = input.closest(".field");
      if (wrapper) wrapper.classList.add("has-error");
      const options = input.closest("details");
      if (options) options.open = true;
      first = first || input;
    }
  }
  if (first) first.focus();
}

function setupUpload(form) {
  const input = form.querySelector('input[type="file"]');
  const zone = form.querySelector("[data-dropzone]");
  const list = form.querySelector("[data-file-list]");
  const clear = form.querySelector("[data-upload-clear]");
  const submit = form.querySelector("[data-upload-submit]");
  const progress = form.querySelector("[data-upload-progress]");
  const limits = uploadLimits(form);

  function fileItem(file, index) {
    const item = document.createElement("li");
    const name = document.createElement("span");
    name.className = "file-name clip";
    name.textContent = file.name;
    name.title = file.name; // the whole name, however long, in the tooltip
    const size = document.createElement("span");
    size.className = "file-size";
    size.textContent = fileSize(file.size);
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "btn btn-small btn-quiet file-remove";
    remove.textContent = "Remove";
    remove.setAttribute("aria-label", "Remove " + file.name);
    remove.dataset.removeFile = String(index);
    item.append(name, size, remove);
    const problem = fileProblem(file, limits);
    if (problem) {
      item.classList.add("has-problem");
      const note = document.createElement("span");
      note.className = "file-problem";
      note.textContent = problem;
      item.append(note);
    }
    return item;
  }

  function showFiles() {
    const files = Array.from(input.files);
    list.replaceChildren(...files.map(fileItem));
    list.hidden = clear.hidden = files.length === 0;
    if (files.length > 1) {
      const summary = document.createElement("li");
      summary.className = "file-summary";
      summary.textContent = plural(files.length, "file") + " · " + fileSize(files.reduce((sum, f) => sum + f.size, 0));
      list.append(summary);
    }
    clearErrors(form);
    const problems = uploadProblems(files, limits);
    if (problems.length) showErrors(form, { files: problems });
  }

  function removeFile(index) {
    const kept = new DataTransfer();
    Array.from(input.files).forEach((file, i) => { if (i !== index) kept.items.add(file); });
    input.files = kept.files;
    showFiles();
    // Focus stays in the list (the next file's button), or goes back to the input.
    const next = list.querySelector('[data-remove-file="' + Math.min(index, input.files.length - 1) + '"]');
    (next || input).focus();
  }

  function addFiles(dropped) {
    const merged = new DataTransfer();
    const seen = new Set();
    for (const file of [...input.files, ...dropped]) {
      const key = file.name + "/" + file.size + "/" + file.lastModified;
      if (!seen.has(key)) { seen.add(key); merged.items.add(file); }
    }
    input.files = merged.files;
    showFiles();
  }

  function busy(on, text) {
    submit.disabled = on;
    progress.hidden = !on;
    uploading = on;
    if (on) {
      progress.querySelector("progress").value = 0;
      progress.querySelector("[data-upload-progress-text]").textContent = text;
    }
  }

  function showProblems(xhr) {
    // The refusals came back in the error slots; mark their fields.
    const errors = {};
    form.querySelectorAll("[data-error-for]").forEach((slot) => {
      if (slot.textContent.trim()) errors[slot.dataset.errorFor] = [slot.textContent.trim()];
    });
    if (!Object.keys(errors).length) errors.files = [unexpected(xhr.status, xhr.responseURL)];
    showErrors(form, errors);
  }

  let uploading = false;
  // A page left mid-upload loses it, or (once the files are in) never hears
  // of the job it became: the browser asks first.
  window.addEventListener("beforeunload", (event) => {
    if (!uploading) return;
    event.preventDefault();
    event.returnValue = "";
  });
  list.addEventListener("click", (event) => {
    const button = event.target.closest("[data-remove-file]");
    if (button) removeFile(Number(button.dataset.removeFile));
  });
  input.addEventListener("change", showFiles);
  clear.addEventListener("click", () => { input.value = ""; showFiles(); input.focus(); });
  ["dragenter", "dragover"].forEach((type) => zone.addEventListener(type, (event) => {
    event.preventDefault();
    zone.classList.add("is-dragging");
  }));
  ["dragleave", "dragend"].forEach((type) => zone.addEventListener(type, () => zone.classList.remove("is-dragging")));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("is-dragging");
    if (event.dataTransfer && event.dataTransfer.files.length) addFiles(event.dataTransfer.files);
  });

  form.addEventListener("htmx:beforeRequest", (event) => {
    clearErrors(form);
    const files = Array.from(input.files);
    if (!files.length) {
      event.preventDefault();
      showErrors(form, { files: ["Choose one or more files to upload, or drop them on the box above."] });
      return;
    }
    const problems = uploadProblems(files, limits);
    if (problems.length) { event.preventDefault(); showErrors(form, { files: problems }); return; }
    busy(true, "Uploading…");
    pending.save(form, { key: form.dataset.uploadKey, names: files.map((f) => f.name), phase: "uploading" });
  });
  form.addEventListener("htmx:configRequest", (event) => {
    // A new key for each upload: the job it becomes can be asked for later.
    form.dataset.uploadKey = newKey();
    event.detail.headers["Idempotency-Key"] = form.dataset.uploadKey;
  });
  form.addEventListener("htmx:xhr:progress", (event) => {
    if (!event.detail.lengthComputable || progress.hidden) return;
    const percent = Math.round((event.detail.loaded * 100) / event.detail.total);
    progress.querySelector("progress").value = percent;
    progress.querySelector("[data-upload-progress-text]").textContent =
      percent < 100 ? "Uploading… " + percent + "%" : "Checking the files…";
    if (percent >= 100) pending.update(form, { phase: "checking" });
  });
  form.addEventListener("htmx:afterRequest", (event) => {
    busy(false);
    pending.clear(form);
    const xhr = event.detail.xhr;
    if (xhr.status >= 400 || !isOurs(xhr)) showProblems(xhr);
  });
  form.addEventListener("htmx:sendError", () => {
    busy(false);
    pending.clear(form);
    showErrors(form, { files: ["The upload did not reach the server. Check your connection and try again."] });
  });
  form.addEventListener("ingest:done", (event) => {
    form.reset();
    showFiles();
    if (streamRoot() && streamRoot().dataset.streamNew) addRow(event.detail.job);
  });
}

function newKey() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
}

// The upload on its way, kept in the tab's sessionStorage (it survives a
// reload, not the tab), under the form's own URL.
const pending = {
  slot(form) { return "ingest:upload:" + form.getAttribute("action"); },
  read(form) {
    try { return JSON.parse(sessionStorage.getItem(this.slot(form)) || "null"); } catch (error) { return null; }
  },
  save(form, record) {
    try { sessionStorage.setItem(this.slot(form), JSON.stringify({ ...record, at: Date.now() })); } catch (error) { /* private mode */ }
  },
  update(form, changes) {
    const record = this.read(form);
    if (record) this.save(form, { ...record, ...changes });
  },
  clear(form) {
    try { sessionStorage.removeItem(this.slot(form)); } catch (error) { /* private mode */ }
  },
};

// Once the files were all sent the server may still be checking them when
// the page comes back: it is asked again for a while before the page says
// that no job came of it.
const OUTCOME_WAIT_MS = { uploading: 5000, checking: 60000 };

async function reportLeftUpload(form) {
  const record = pending.read(form);
  if (!record || !record.key) return;
  const notices = document.getElementById("notices");
  const url = form.dataset.outcomeUrl + "?" + new URLSearchParams({ key: record.key, phase: record.phase });
  const giveUp = Date.now() + (OUTCOME_WAIT_MS[record.phase] || 5000);
  for (;;) {
    let response;
    try {
      response = await fetch(url + (Date.now() >= giveUp ? "&final=1" : ""), { credentials: "same-origin" });
    } catch (error) {
      return; // asked again on the next load
    }
    if (response.status === 200 || Date.now() >= giveUp) {
      pending.clear(form);
      if (response.ok && notices) notices.insertAdjacentHTML("beforeend", await response.text());
      const row = response.headers.get("X-Ingest-Job");
      if (row) addRow(row);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

export function start() {
  const form = document.getElementById("upload-form");
  if (!form) return;
  setupUpload(form);
  reportLeftUpload(form);
}
