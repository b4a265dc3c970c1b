// The console's only script: live checks on the issue form, a sign of life while files upload, and the
// signature box dragged (or moved with the arrow keys) over page 1, drawn again where it was when the
// preview comes back after a wrong PIN.
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

  // a form that sends files says so while the browser sends them (the next page shows what follows)
  for (const form of document.querySelectorAll("form[data-busy]")) {
    form.addEventListener("submit", () => { document.getElementById(form.dataset.busy).hidden = false; });
  }

  const page = document.getElementById("page");
  if (page) {
    const box = document.getElementById("box");
    const field = document.getElementById("box-field");
    const pageWidth = Number(page.dataset.width), pageHeight = Number(page.dataset.height);
    let start = null;
    // the box as chosen (PDF points from the lower left: the preview is 72 dpi, one pixel per point),
    // drawn over the image at its shown scale; also after a wrong PIN sends the preview back
    const chosen = () => {
      const numbers = field.value.split(",").map(Number);
      return numbers.length === 4 && !numbers.some(Number.isNaN) ? numbers : null;
    };
    const drawBox = () => {
      const numbers = chosen();
      if (!numbers) return;
      const [x, y, width, height] = numbers;
      const scale = pageWidth / page.getBoundingClientRect().width;
      Object.assign(box.style, { left: `${x / scale}px`, top: `${(pageHeight - y - height) / scale}px`,
                                 width: `${width / scale}px`, height: `${height / scale}px` });
      box.hidden = false;
    };
    const choose = (x, y, width, height) => {
      field.value = [x, y, width, height].map((n) => n.toFixed(1)).join(",");
      drawBox();
    };
    const image = page.querySelector("img");
    if (image.complete) drawBox(); else image.addEventListener("load", drawBox);
    window.addEventListener("resize", drawBox);
    const point = (event) => {
      const frame = page.getBoundingClientRect();
      const scale = pageWidth / frame.width;
      return { x: (event.clientX - frame.left) * scale, y: (event.clientY - frame.top) * scale };
    };
    page.addEventListener("dragstart", (event) => event.preventDefault());
    page.addEventListener("pointerdown", (event) => { start = point(event); event.preventDefault(); });
    page.addEventListener("pointermove", (event) => {
      if (!start) return;
      const end = point(event);
      const left = Math.min(start.x, end.x), top = Math.min(start.y, end.y);
      const width = Math.abs(end.x - start.x), height = Math.abs(end.y - start.y);
      choose(left, pageHeight - top - height, width, height);
    });
    // without a mouse: the arrow keys move the box (with Shift, they resize it), from the lower right
    const steps = { ArrowLeft: [-6, 0], ArrowRight: [6, 0], ArrowUp: [0, 6], ArrowDown: [0, -6] };
    page.addEventListener("keydown", (event) => {
      const step = steps[event.key];
      if (!step) return;
      event.preventDefault();
      let [x, y, width, height] = chosen() || [pageWidth - 270, 110, 200, 80];
      if (event.shiftKey) {
        width = Math.max(24, width + step[0]);
        height = Math.max(12, height + step[1]);
        y -= step[1];
      } else {
        x = Math.min(Math.max(0, x + step[0]), pageWidth - width);
        y = Math.min(Math.max(0, y + step[1]), pageHeight - height);
      }
      choose(x, y, width, height);
    });
    window.addEventListener("pointerup", () => { start = null; });
  }
});
