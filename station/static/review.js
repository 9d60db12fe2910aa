// The review station's keyboard loop. Plain JavaScript, no build step.
//
// The page works without it: the form posts, the server answers with the next field. With
// it, Enter posts through fetch() and the server's answer (the next field's card, rendered
// by the same template) replaces the card in place, so the next field comes without a
// page load; its crop was fetched while the person looked at the previous one.
"use strict";
(function () {
  const slot = document.getElementById("field-slot");
  if (!slot) return;
  const csrf = slot.dataset.csrf;
  let busy = false;

  function card() { return slot.querySelector(".field-card"); }
  function input() { return slot.querySelector("#value"); }

  function caretToEnd(el) {
    const end = el.value.length;
    el.setSelectionRange(end, end);
  }

  function focusInput() {
    const el = input();
    if (el && !el.disabled) {
      el.focus();
      // The reading is kept with the cursor at its end: a correction of three letters is a
      // few arrows and those letters, not the whole value again. Ctrl+A then typing replaces it.
      caretToEnd(el);
    }
  }

  // Accented capitals: Alt+E gives É, Alt+E again right after turns it into È, then Ê, Ë...
  let lastAccent = null;  // {base, at}: the accent just inserted, to cycle it

  function accentForms(base) {
    return Array.from(slot.querySelectorAll('.accents button[data-base="' + base + '"]')).map(function (b) { return b.dataset.char; });
  }

  function say(text) {
    const said = slot.querySelector("#said");
    if (said) said.textContent = text;
  }

  // The reader's other readings: ↓ brings the next in turn, ↑ the one before, the reading
  // itself between the last and the first.
  function readings() {
    const el = input();
    return [el.dataset.machine].concat(Array.from(slot.querySelectorAll(".suggestions button")).map(function (b) { return b.dataset.value; }));
  }

  function showReading(el, value) {
    el.value = value;
    caretToEnd(el);
    say(value + (value === el.dataset.machine ? " : lecture machine · machine reading" : " : autre lecture · other reading"));
  }

  function stepReading(el, step) {
    const all = readings();
    if (all.length < 2) return false;
    const at = all.indexOf(el.value);
    showReading(el, all[((at < 0 ? 0 : at) + step + all.length) % all.length]);
    return true;
  }

  function insertAtCaret(el, text, replaceBefore) {
    let start = el.selectionStart, end = el.selectionEnd;
    if (replaceBefore) start -= 1;
    el.setRangeText(text, start, end, "end");
    say(text + " inséré · inserted");
  }

  function typeAccent(el, base, chosen) {
    const forms = accentForms(base);
    if (!forms.length) return false;
    const before = el.value.charAt(el.selectionStart - 1);
    const cycling = !chosen && lastAccent && lastAccent.base === base && lastAccent.at === el.selectionStart &&
      el.selectionStart === el.selectionEnd && forms.indexOf(before) >= 0;
    const c = chosen || (cycling ? forms[(forms.indexOf(before) + 1) % forms.length] : forms[0]);
    insertAtCaret(el, c, cycling);
    lastAccent = { base: base, at: el.selectionStart };
    return true;
  }

  function prefetchUpcoming() {
    const c = card();
    const url = c && c.dataset.upcomingCrop;
    if (url) { const img = new Image(); img.src = url; }
  }

  function swap(html) {
    slot.innerHTML = html;
    wire();
    focusInput();
    prefetchUpcoming();
    const c = card();
    if (c && c.dataset.fileNo) {
      const url = "/review?file_no=" + encodeURIComponent(c.dataset.fileNo) + "&field=" + encodeURIComponent(c.dataset.field);
      history.replaceState(null, "", url);
    }
  }

  async function post(action) {
    const form = slot.querySelector("#review-form");
    if (!form || busy) return;
    busy = true;
    form.classList.add("sending");
    try {
      const body = new URLSearchParams(new FormData(form));
      const resp = await fetch(action, {
        method: "POST",
        body: body,
        headers: { "Accept": "application/json", "X-CSRF-Token": csrf },
        credentials: "same-origin",
      });
      const type = resp.headers.get("content-type") || "";
      if (!type.includes("application/json")) { form.submit(); return; }
      const data = await resp.json();
      if (data.html !== undefined) {
        swap(data.html);
        // Four eyes: the change was held for a supervisor, not saved; say so on the next card.
        if (data.saved && data.saved.held) showError(data.saved.message);
        return;
      }
      if (resp.status === 401) { window.location = "/login?next=" + encodeURIComponent(location.pathname + location.search); return; }
      showError(data.error || ("HTTP " + resp.status));
    } catch (err) {
      // Network trouble: the plain form post still works and says what went wrong.
      form.action = action;
      form.submit();
    } finally {
      busy = false;
      const f = slot.querySelector("#review-form");
      if (f) f.classList.remove("sending");
    }
  }

  function showError(text) {
    const c = card();
    if (!c) return;
    let p = c.querySelector(".js-error");
    if (!p) {
      p = document.createElement("p");
      p.className = "flash flash-error js-error";
      p.setAttribute("role", "alert");
      c.insertBefore(p, c.querySelector(".crop"));
    }
    p.textContent = text;
  }

  function openPage() {
    const dialog = slot.querySelector("#page-dialog");
    if (!dialog) return;
    const img = dialog.querySelector("img[data-src]");
    if (img && !img.getAttribute("src")) img.src = img.dataset.src;
    dialog.addEventListener("close", focusInput, { once: true });
    dialog.showModal();
    const outline = dialog.querySelector(".field-outline");
    if (outline) outline.scrollIntoView({ block: "center", inline: "center" });
  }

  function historyUrl() {
    const a = slot.querySelector(".history-link");
    return a ? a.href : null;
  }

  function wire() {
    const form = slot.querySelector("#review-form");
    if (!form) return;
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      const action = (ev.submitter && ev.submitter.getAttribute("formaction")) || form.getAttribute("action");
      post(action);
    });
    const el = input();
    if (el) {
      el.addEventListener("keydown", function (ev) {
        if (ev.key === "Tab" && !ev.shiftKey && !ev.altKey && !ev.ctrlKey) {
          ev.preventDefault();
          post("/review/postpone");
        } else if (ev.key === "Escape") {
          ev.preventDefault();
          el.value = el.dataset.machine;
          caretToEnd(el);
        } else if ((ev.key === "ArrowDown" || ev.key === "ArrowUp") && !ev.altKey && !ev.ctrlKey && !ev.metaKey && !ev.shiftKey &&
                   !el.getAttribute("list")) {
          if (stepReading(el, ev.key === "ArrowDown" ? 1 : -1)) ev.preventDefault();
        } else if (ev.key === "F2") {
          ev.preventDefault();
          caretToEnd(el);
        } else if (/^[1-9]$/.test(ev.key) && !ev.altKey && !ev.ctrlKey && !ev.metaKey &&
                   slot.querySelector('.options [data-key="' + ev.key + '"]')) {
          // A choice: one key per option, its code shown at once (Enter saves it).
          ev.preventDefault();
          el.value = slot.querySelector('.options [data-key="' + ev.key + '"]').dataset.value;
          caretToEnd(el);
        } else if (ev.altKey && !ev.ctrlKey && !ev.metaKey && /^Key[A-Z]$/.test(ev.code)) {
          if (typeAccent(el, ev.code.charAt(3))) ev.preventDefault();
        } else if (!ev.altKey) {
          lastAccent = null;
        }
      });
      slot.querySelectorAll(".suggestions button").forEach(function (b) {
        b.addEventListener("mousedown", function (ev) { ev.preventDefault(); });
        b.addEventListener("click", function () { el.focus(); showReading(el, b.dataset.value); });
      });
      slot.querySelectorAll(".accents button").forEach(function (b) {
        b.addEventListener("mousedown", function (ev) { ev.preventDefault(); });  // the input keeps its caret
        b.addEventListener("click", function () {
          el.focus();
          typeAccent(el, b.dataset.base, b.dataset.char);
        });
      });
    }
    const button = slot.querySelector(".show-page");
    if (button) button.addEventListener("click", openPage);
  }

  document.addEventListener("keydown", function (ev) {
    const inField = ev.target instanceof HTMLInputElement || ev.target instanceof HTMLTextAreaElement;
    const key = ev.key.toLowerCase();
    // Alt+P anywhere; plain P only when the focus is not in the input, where it is a letter.
    if ((ev.altKey && (key === "p" || ev.code === "KeyP")) || (!inField && !ev.altKey && !ev.ctrlKey && !ev.metaKey && key === "p")) {
      ev.preventDefault();
      openPage();
    } else if (ev.altKey && (key === "h" || ev.code === "KeyH")) {
      const url = historyUrl();
      if (url) { ev.preventDefault(); window.location = url; }
    } else if (!inField && key === "enter" && !slot.querySelector("dialog[open]")) {
      ev.preventDefault();
      focusInput();
    }
  });

  wire();
  focusInput();
  prefetchUpcoming();
})();
