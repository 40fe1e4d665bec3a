// Studio view: prompt and options, a live preview of every partial image, follow-ups and history.
import { act, actionBar, bindControl, bindText, errorLine, h, listen, openedSlot, setPhrases, takeKeys, toBytes, UrlBag, watch } from "./_shared.js";

/** @typedef {import("./_shared.js").Model} Model */
/** @typedef {import("./_shared.js").ImageMessage} ImageMessage */

const HINT = globalThis.navigator?.platform?.startsWith("Mac") ? "⌘+Enter" : "Ctrl+Enter";

/**
 * @param {string[]} values
 * @param {(value: string) => string} [label]
 */
function options(values, label = (v) => v) {
  return values.map((value) => h("option", { value, text: label(value) }));
}

/**
 * @param {string} text
 * @param {HTMLElement} control
 */
function field(text, control) {
  return h("label", { class: "nbi-field" }, h("span", { class: "nbi-label", text }), control);
}

/**
 * Scroll `strip` sideways (it alone, never the page, as `scrollIntoView` could) so that
 * `item` is wholly inside its visible box.
 * @param {HTMLElement} strip
 * @param {HTMLElement} item
 */
function revealInStrip(strip, item) {
  const box = strip.getBoundingClientRect();
  const left = box.left + strip.clientLeft;
  const right = left + strip.clientWidth;
  const { left: start, right: end } = item.getBoundingClientRect();
  const margin = 4; // not flush with the edge
  if (start < left) strip.scrollLeft -= left - start + margin;
  else if (end > right) strip.scrollLeft += end - right + margin;
}

/** @param {{ model: Model, el: HTMLElement }} context */
function render({ model, el }) {
  const urls = new UrlBag();
  /** @type {(() => void)[]} */
  const stops = [];
  /** @type {Map<number, string>} turn id -> thumbnail URL */
  const thumbs = new Map();

  // -- controls --------------------------------------------------------------------------
  const prompt = /** @type {HTMLTextAreaElement} */ (h("textarea", {
    hook: "prompt", class: "nbi-input nbi-prompt", rows: 4,
    placeholder: "Describe an image… e.g. a serene forest lake at sunrise",
  }));
  const modelInput = /** @type {HTMLInputElement} */ (h("input", { hook: "model", class: "nbi-input", type: "text" }));
  const size = /** @type {HTMLSelectElement} */ (h("select", { hook: "size", class: "nbi-input" }, options(model.get("sizes"))));
  const quality = /** @type {HTMLSelectElement} */ (h("select", { hook: "quality", class: "nbi-input" }, options(model.get("qualities"))));
  const partials = /** @type {HTMLSelectElement} */ (h("select", { hook: "partial-images", class: "nbi-input" },
    options(["0", "1", "2", "3"], (v) => (v === "0" ? "none" : v))));
  const complexity = /** @type {HTMLSelectElement} */ (h("select", { hook: "complexity", class: "nbi-input" }, options(model.get("complexities"))));
  const format = /** @type {HTMLSelectElement} */ (h("select", { hook: "output-format", class: "nbi-input" }, options(model.get("formats"))));
  const frames = /** @type {HTMLInputElement} */ (h("input", {
    hook: "frame-count", class: "nbi-input", type: "number", min: "2", max: "16", step: "1",
  }));
  const partialsField = field("Partial images", partials);
  const framesField = field("GIF frames", frames);
  const generate = /** @type {HTMLButtonElement} */ (h("button", {
    hook: "generate", class: "nbi-btn nbi-btn--primary", type: "button", title: `Generate (${HINT})`,
  }, "Generate"));
  const cancel = /** @type {HTMLButtonElement} */ (h("button", {
    hook: "cancel", class: "nbi-btn nbi-btn--danger", type: "button", title: "Stop the running generation",
  }, "Cancel"));
  const followup = /** @type {HTMLTextAreaElement} */ (h("textarea", {
    hook: "followup", class: "nbi-input nbi-followup", rows: 2,
    placeholder: "Refine the current image… e.g. now add a canoe",
  }));
  const refine = /** @type {HTMLButtonElement} */ (h("button", {
    hook: "refine", class: "nbi-btn", type: "button", title: `Refine the current image (${HINT})`,
  }, "Refine"));
  // Enter makes a new line in the boxes (prompts are often several lines); the hint says how to send.
  const generateHint = h("span", { hook: "generate-hint", class: "nbi-hint nbi-keys", text: `${HINT} to generate · Esc to cancel` });
  const refineHint = h("span", { hook: "refine-hint", class: "nbi-hint nbi-keys", text: `${HINT} to refine · Esc to cancel` });

  // -- preview -----------------------------------------------------------------------------
  const img = /** @type {HTMLImageElement} */ (h("img", {
    hook: "preview", class: "nbi-preview__img", alt: "Preview", dataset: { seq: "0", kind: "none" },
  }));
  const badge = h("span", { hook: "badge", class: "nbi-badge", hidden: true });
  const placeholder = h("div", { class: "nbi-preview__empty" }, "Your image will appear here");
  const frame = h("div", { hook: "preview-frame", class: "nbi-preview", dataset: { state: "empty" } }, img, placeholder, badge);
  const caption = h("p", { hook: "caption", class: "nbi-caption" });
  let shownPrompt = ""; // the prompt of the image shown (the kernel sends it with each preview)
  const actions = actionBar(model, { target: () => ({}), prompt: () => shownPrompt || prompt.value, paint: true });
  stops.push(actions.stop);
  const opened = openedSlot(model);
  stops.push(opened.stop);

  // -- status, error, history --------------------------------------------------------------
  const statusText = h("span", { class: "nbi-status__text" });
  const elapsed = h("span", { hook: "elapsed", class: "nbi-status__elapsed" });
  const status = h("div", { hook: "status", class: "nbi-status", "aria-live": "polite" },
    h("span", { class: "nbi-spinner", "aria-hidden": "true" }), statusText, elapsed);
  const [error, stopError] = errorLine(model);
  const strip = h("div", { hook: "history", class: "nbi-strip", role: "list" });
  const history = h("div", { class: "nbi-history" }, h("span", { class: "nbi-label", text: "History" }), strip);

  const root = h("div", { hook: "studio", class: "nbi nbi-studio" },
    h("div", { class: "nbi-studio__main" },
      h("div", { class: "nbi-controls" },
        field("Prompt", prompt),
        h("div", { class: "nbi-options" },
          field("Model", modelInput), field("Size", size), field("Quality", quality), partialsField,
          field("Complexity", complexity), field("Format", format), framesField),
        h("div", { class: "nbi-row" }, generate, cancel, generateHint),
        h("hr", { class: "nbi-rule" }),
        field("Follow-up", followup),
        h("div", { class: "nbi-row" }, refine, refineHint)),
      h("div", { class: "nbi-stage" }, frame, actions.el, caption)),
    status, error, history, opened.el);
  el.replaceChildren(root);
  stops.push(stopError);

  // -- state -> view -------------------------------------------------------------------------
  stops.push(bindControl(model, "prompt", prompt, { event: "change" }));
  stops.push(bindControl(model, "followup", followup, { event: "change" }));
  stops.push(bindControl(model, "model", modelInput));
  stops.push(bindControl(model, "size", size));
  stops.push(bindControl(model, "quality", quality));
  stops.push(bindControl(model, "partial_images", partials, { parse: Number }));
  stops.push(bindControl(model, "complexity", complexity));
  stops.push(bindControl(model, "output_format", format));
  stops.push(bindControl(model, "frame_count", frames, { parse: Number }));
  // The menus follow the model: the kernel sends the sizes and qualities it takes.
  /** @param {HTMLSelectElement} select @param {string} list @param {string} name */
  const refill = (select, list, name) => watch(model, list, () => {
    select.replaceChildren(...options(model.get(list)));
    select.value = String(model.get(name) ?? "");
  });
  stops.push(refill(size, "sizes", "size"), refill(quality, "qualities", "quality"));
  // GIF and SVG arrive whole: no partial images; only a GIF has frames.
  stops.push(watch(model, "output_format", () => {
    const fmt = model.get("output_format");
    partialsField.hidden = fmt === "gif" || fmt === "svg";
    framesField.hidden = fmt !== "gif";
  }));
  stops.push(watch(model, "default_model", () => {
    const fallback = model.get("default_model") || "default";
    modelInput.placeholder = fallback;
    modelInput.title = `Empty: ${fallback}`; // the placeholder is cut where the box is narrow
  }));
  stops.push(bindText(model, "caption", caption));
  stops.push(watch(model, "status", () => setPhrases(statusText, String(model.get("status") ?? ""))));

  // What the preview shows. `data-seq` counts the images this view has displayed (1, 2, ...),
  // set once each is decoded and on screen; `data-kind` is partial/final ("thumbnail" for
  // the saved thumbnail shown before any preview arrives).
  let seq = 0;
  let previewing = false; // once a preview is on its way, the saved thumbnail must not replace it
  let shown = "";
  /** @param {string} url @param {string} kind */
  const display = (url, kind) => {
    urls.revoke(shown);
    shown = url;
    frame.dataset.state = kind;
    img.dataset.kind = kind;
    actions.enable(true);
  };
  stops.push(watch(model, "thumbnail", () => {
    const bytes = toBytes(model.get("thumbnail"));
    if (previewing || bytes.length === 0) return;
    img.src = urls.make(bytes);
    display(img.src, "thumbnail");
  }));

  // Previews are shown one after the other, each fully decoded before the next replaces it,
  // so fast partials are not skipped by an aborted load.
  let queue = Promise.resolve();
  /** @param {ImageMessage} msg @param {Blob} blob */
  const show = async (msg, blob) => {
    previewing = true;
    const url = await urls.fromBlob(blob);
    const probe = new Image();
    probe.src = url;
    try {
      await probe.decode();
    } catch {
      urls.revoke(url); // unreadable bytes: keep what is shown
      previewing = seq > 0;
      return;
    }
    img.src = url;
    await img.decode().catch(() => undefined);
    const kind = msg.final ? "final" : "partial";
    seq += 1;
    shownPrompt = msg.prompt || "";
    display(url, kind);
    img.dataset.index = msg.final ? "" : String(msg.index);
    img.dataset.seq = String(seq);
    badge.hidden = msg.badge === false; // the current image shown again after a failed run
    badge.dataset.kind = kind;
    badge.textContent = msg.final ? "Final" : `Partial ${msg.index + 1} of ${msg.total}`;
  };

  // After a failed run with no image to go back to: an empty preview, no badge.
  const clear = () => {
    img.removeAttribute("src");
    urls.revoke(shown);
    shown = "";
    frame.dataset.state = "empty";
    img.dataset.kind = "none";
    img.dataset.index = "";
    badge.hidden = true;
    shownPrompt = "";
    actions.enable(false);
  };
  actions.enable(false);

  // Generate needs a prompt, Refine an instruction and an image; both wait for the running one.
  function enableButtons() {
    const busy = Boolean(model.get("busy"));
    generate.disabled = busy || !prompt.value.trim();
    refine.disabled = busy || !followup.value.trim() || !model.get("head");
  }
  for (const box of [prompt, followup]) box.addEventListener("input", enableButtons);
  stops.push(watch(model, ["prompt", "followup", "head"], enableButtons));

  let timer = 0;
  let started = 0;
  let revealed = 0; // the turn last scrolled into view in the history strip
  stops.push(watch(model, "busy", () => {
    const busy = Boolean(model.get("busy"));
    root.classList.toggle("is-busy", busy);
    status.dataset.busy = String(busy);
    enableButtons();
    cancel.disabled = !busy;
    clearInterval(timer);
    if (busy) {
      started = performance.now();
      const tick = () => { elapsed.textContent = `${((performance.now() - started) / 1000).toFixed(1)} s`; };
      tick();
      timer = window.setInterval(tick, 100);
    } else {
      elapsed.textContent = "";
    }
    renderHistory();
  }));
  stops.push(() => clearInterval(timer));

  function renderHistory() {
    const items = /** @type {{id: number, prompt: string, in_line: boolean}[]} */ (model.get("history"));
    const head = model.get("head");
    const busy = Boolean(model.get("busy"));
    history.hidden = items.length === 0;
    const scroll = strip.scrollLeft;
    strip.replaceChildren(...items.map((item, i) => {
      const url = thumbs.get(item.id);
      const current = item.id === head;
      return h("button", {
        hook: "history-item",
        class: "nbi-thumb" + (current ? " is-current" : "") + (item.in_line ? "" : " is-branch"),
        type: "button", role: "listitem", title: `#${i + 1}: ${item.prompt}`, disabled: busy,
        "aria-current": current ? "true" : undefined,
        dataset: { turn: String(item.id), current: String(current), inLine: String(item.in_line) },
        onclick: () => act(model, "checkout", { id: item.id }),
      },
      url ? h("img", { src: url, alt: "" }) : h("span", { class: "nbi-thumb__empty" }),
      h("span", { class: "nbi-thumb__n", text: String(i + 1) }));
    }));
    strip.scrollLeft = scroll;
    if (head !== revealed) { // only then: a strip the user scrolled stays where it is
      revealed = head;
      revealCurrent();
    }
  }
  function revealCurrent() {
    const current = /** @type {HTMLElement | null} */ (strip.querySelector(".is-current"));
    if (current) revealInStrip(strip, current);
  }
  stops.push(watch(model, ["history", "head"], renderHistory));
  // A strip laid out later (the view not yet on the page) or made narrower shows it again.
  const resized = new ResizeObserver(revealCurrent);
  resized.observe(strip);
  stops.push(() => resized.disconnect());

  // -- messages from the kernel -----------------------------------------------------------------
  stops.push(listen(model, {
    image(msg, blob) {
      if (msg.slot !== "preview") return;
      queue = queue.then(() => show(msg, blob));
    },
    "preview-clear"() {
      queue = queue.then(clear);
    },
    run(msg) { // a run started: the image still shown is no longer the final one
      queue = queue.then(() => {
        badge.hidden = false;
        badge.dataset.kind = "pending";
        badge.textContent = msg.kind === "refine" ? "Refining…" : "Generating…";
        frame.dataset.state = frame.dataset.state === "empty" ? "empty" : "pending";
      });
    },
    "history-thumbs"(msg, buffers) {
      msg.items.forEach((/** @type {{id: number, mime: string}} */ item, /** @type {number} */ i) => {
        urls.revoke(thumbs.get(item.id));
        thumbs.set(item.id, urls.make(buffers[i], item.mime));
      });
      renderHistory();
    },
  }));

  // -- view -> kernel ----------------------------------------------------------------------------
  const submit = () => {
    if (!prompt.value.trim() || model.get("busy")) return;
    model.set("prompt", prompt.value);
    model.save_changes();
    act(model, "generate", { prompt: prompt.value });
  };
  const submitRefine = () => {
    if (!followup.value.trim() || model.get("busy")) return;
    model.set("followup", followup.value);
    model.save_changes();
    act(model, "refine", { prompt: followup.value }); // the kernel empties the box once it succeeded
  };
  generate.addEventListener("click", submit);
  refine.addEventListener("click", submitRefine);
  cancel.addEventListener("click", () => act(model, "cancel"));
  /** Ctrl/Cmd+Enter sends the box it is typed in; Escape cancels a running generation. @param {KeyboardEvent} e */
  const onKey = (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      if (e.target === prompt) submit();
      else if (e.target === followup) submitRefine();
      else return false;
      return true;
    }
    if (e.key === "Escape" && model.get("busy")) {
      act(model, "cancel");
      return true;
    }
    return false;
  };
  stops.push(takeKeys(root, onKey));

  act(model, "hello");
  return () => {
    for (const stop of stops) stop();
    urls.revokeAll();
  };
}

export default { render };
