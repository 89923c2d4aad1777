/* The upload form: files chosen or dropped are listed and checked against the
 * limits before anything is sent; the form posts with htmx, its progress is
 * shown, and the server's refusals come back into the form's error slots. */

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

function uploadProblems(files, limits) {
  const problems = [];
  const refused = files.filter((file) => fileProblem(file, limits));
  if (refused.length === 1) problems.push(refused[0].name + ": " + fileProblem(refused[0], limits));
  if (refused.length > 1) problems.push(plural(refused.length, "file") + " cannot be sent; see the list below.");
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

  function showFiles() {
    const files = Array.from(input.files);
    list.replaceChildren();
    list.hidden = clear.hidden = files.length === 0;
    for (const file of files) {
      const item = document.createElement("li");
      const name = document.createElement("span");
      name.className = "file-name";
      name.textContent = file.name;
      const size = document.createElement("span");
      size.className = "file-size";
      size.textContent = fileSize(file.size);
      item.append(name, size);
      const problem = fileProblem(file, limits);
      if (problem) {
        const note = document.createElement("span");
        note.className = "file-problem";
        note.textContent = problem;
        item.append(note);
      }
      list.append(item);
    }
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
  });
  form.addEventListener("htmx:xhr:progress", (event) => {
    if (!event.detail.lengthComputable || progress.hidden) return;
    const percent = Math.round((event.detail.loaded * 100) / event.detail.total);
    progress.querySelector("progress").value = percent;
    progress.querySelector("[data-upload-progress-text]").textContent =
      percent < 100 ? "Uploading… " + percent + "%" : "Checking the files…";
  });
  form.addEventListener("htmx:afterRequest", (event) => {
    busy(false);
    const xhr = event.detail.xhr;
    if (xhr.status >= 400 || !isOurs(xhr)) showProblems(xhr);
  });
  form.addEventListener("htmx:sendError", () => {
    busy(false);
    showErrors(form, { files: ["The upload did not reach the server. Check your connection and try again."] });
  });
  form.addEventListener("ingest:done", (event) => {
    form.reset();
    showFiles();
    if (streamRoot() && streamRoot().dataset.streamNew) addRow(event.detail.job);
  });
}

export function start() {
  const form = document.getElementById("upload-form");
  if (form) setupUpload(form);
}
