// /verify: a PDF dropped on the zone goes into the file chooser (which stays the way without a mouse or
// without this script); "Check" sends it with a progress bar and shows the answer in place, where a
// signature followed by changes offers the exact version it signed (cut by /api/v1/verify/revision).
"use strict";

function formatSize(bytes, lang) {
  const mib = bytes / 1048576, kib = bytes / 1024;
  const text = mib >= 1 ? `${mib.toFixed(1)} MiB` : kib >= 1 ? `${kib.toFixed(1)} KiB` : `${bytes} B`;
  return lang === "vi" ? text.replace(".", ",") : text;
}

// the file last checked, kept across the answer replacing the page: the signed revisions are cut from it
let checkedFile = null;

function offerRevisions() {
  for (const form of document.querySelectorAll("form.revision")) {
    if (!checkedFile) continue;
    form.hidden = false;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const sent = new FormData();
      sent.append("file", checkedFile);
      const answer = await fetch(form.action, { method: "POST", body: sent });
      if (!answer.ok) return;
      const link = document.createElement("a");
      link.href = URL.createObjectURL(await answer.blob());
      link.download = checkedFile.name.replace(/\.pdf$/i, "") + "-ban-da-ky.pdf";
      document.body.append(link);
      link.click();
      link.remove();
    });
  }
}

function setUpVerifyPage() {
  const form = document.getElementById("verify-form");
  if (!form) return;
  const input = document.getElementById("file");
  const drop = document.getElementById("drop");
  const chosen = document.getElementById("chosen");
  const lang = document.documentElement.lang;
  const showChosen = () => {
    const file = input.files[0];
    chosen.textContent = file ? `${file.name} · ${formatSize(file.size, lang)}` : "";
  };
  input.addEventListener("change", showChosen);
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (event) => { event.preventDefault(); drop.classList.add("over"); });
  }
  for (const name of ["dragleave", "drop"]) {
    drop.addEventListener(name, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    if (!event.dataTransfer || event.dataTransfer.files.length === 0) return;
    const files = new DataTransfer();
    files.items.add(event.dataTransfer.files[0]);
    input.files = files.files;
    showChosen();
  });

  form.addEventListener("submit", (event) => {
    // the PDF report is a download: the browser's own submission handles it
    if (event.submitter && event.submitter.id !== "check") return;
    event.preventDefault();
    const uploading = document.getElementById("uploading");
    const progress = document.getElementById("progress");
    const request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.upload.addEventListener("progress", (step) => {
      if (step.lengthComputable) progress.value = Math.round((100 * step.loaded) / step.total);
    });
    request.upload.addEventListener("load", () => progress.removeAttribute("value")); // now: checking
    request.addEventListener("load", () => {
      const answer = new DOMParser().parseFromString(request.responseText, "text/html");
      document.title = answer.title;
      document.body.replaceWith(document.adoptNode(answer.body));
      setUpVerifyPage();
      offerRevisions();
      const first = document.querySelector("section.file h2, #error");
      if (first) { first.tabIndex = -1; first.focus(); }
    });
    request.addEventListener("error", () => form.submit());
    uploading.hidden = false;
    progress.value = 0;
    for (const button of form.querySelectorAll("button")) button.disabled = true;
    checkedFile = input.files[0] || null;
    request.send(new FormData(form));
  });
}

document.addEventListener("DOMContentLoaded", setUpVerifyPage);
