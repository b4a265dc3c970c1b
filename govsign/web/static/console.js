// The console's only script: live checks on the issue form, and the signature box dragged over page 1
// (drawn again where it was when the preview comes back after a wrong PIN).
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const profile = document.getElementById("profile");
  if (profile) {
    const show = () => {
      for (const set of document.querySelectorAll("fieldset[data-profile]")) {
        const active = set.dataset.profile === profile.value;
        set.hidden = !active;
        for (const input of set.querySelectorAll("input")) input.disabled = !active;
      }
    };
    profile.addEventListener("change", show);
    show();
    const rules = { personal_id: /^\d{12}$/, tax_code: /^\d{10}(-\d{3})?$/ };
    for (const input of document.querySelectorAll("input[data-check]")) {
      const rule = rules[input.dataset.check];
      if (!rule) continue;
      const hint = input.parentElement.querySelector(`[data-hint="${input.dataset.check}"]`);
      input.addEventListener("input", () => {
        const bad = input.value !== "" && !rule.test(input.value);
        input.setCustomValidity(bad ? hint.textContent : "");
        hint.hidden = !bad;
        input.setAttribute("aria-invalid", bad ? "true" : "false");
      });
    }
  }

  const page = document.getElementById("page");
  if (page) {
    const box = document.getElementById("box");
    const field = document.getElementById("box-field");
    const pageWidth = Number(page.dataset.width), pageHeight = Number(page.dataset.height);
    let start = null;
    // a box already chosen (the preview shown again after a wrong PIN): drawn where it was
    const drawChosen = () => {
      const numbers = field.value.split(",").map(Number);
      if (numbers.length !== 4 || numbers.some(Number.isNaN)) return;
      const [x, y, width, height] = numbers;
      const scale = pageWidth / page.getBoundingClientRect().width;
      Object.assign(box.style, { left: `${x / scale}px`, top: `${(pageHeight - y - height) / scale}px`,
                                 width: `${width / scale}px`, height: `${height / scale}px` });
      box.hidden = false;
    };
    const image = page.querySelector("img");
    if (image.complete) drawChosen(); else image.addEventListener("load", drawChosen);
    window.addEventListener("resize", drawChosen);
    const point = (event) => {
      const frame = page.getBoundingClientRect();
      const scale = pageWidth / frame.width;
      return { x: (event.clientX - frame.left) * scale, y: (event.clientY - frame.top) * scale, scale };
    };
    page.addEventListener("dragstart", (event) => event.preventDefault());
    page.addEventListener("pointerdown", (event) => { start = point(event); event.preventDefault(); });
    page.addEventListener("pointermove", (event) => {
      if (!start) return;
      const end = point(event);
      const left = Math.min(start.x, end.x), top = Math.min(start.y, end.y);
      const width = Math.abs(end.x - start.x), height = Math.abs(end.y - start.y);
      Object.assign(box.style, { left: `${left / end.scale}px`, top: `${top / end.scale}px`,
                                 width: `${width / end.scale}px`, height: `${height / end.scale}px` });
      box.hidden = false;
      // PDF points from the lower left corner (the preview is 72 dpi: one pixel per point)
      field.value = [left, pageHeight - top - height, width, height].map((n) => n.toFixed(1)).join(",");
    });
    window.addEventListener("pointerup", () => { start = null; });
  }
});
