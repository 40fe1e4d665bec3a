// Helpers shared by the nbimages widget views (bundled into each widget's module).
//
// Text never goes through innerHTML: `h` sets text with text nodes and properties,
// so prompts and errors are escaped by construction. An SVG image is never put into the
// page either: it is only ever the data URL `src` of an <img>, where its scripts do not run.

/**
 * The part of anywidget's model the views use.
 * @typedef {{
 *   get(name: string): any,
 *   set(name: string, value: any): void,
 *   save_changes(): void,
 *   on(event: string, callback: (...args: any[]) => void): void,
 *   off(event: string, callback?: (...args: any[]) => void): void,
 *   send(content: object, callbacks?: any, buffers?: (ArrayBuffer | ArrayBufferView)[]): void,
 *   widget_manager?: any,
 * }} Model
 */

/**
 * An image message from the kernel, once all its parts have arrived.
 * @typedef {{ type: "image", slot: string, seq: number, mime: string, part: number, parts: number,
 *   width?: number, height?: number, [key: string]: any }} ImageMessage
 */

/**
 * Create an element. Props: `hook` (the `data-nbimages` name tests and users select by),
 * `class`, `text`, `dataset`, `style` (object), `on<event>`
 * listeners, DOM properties (`title`, `value`, `disabled`...) or attributes.
 * Children may be nodes or strings (which become text nodes).
 * @param {string} tag
 * @param {Record<string, any>} [props]
 * @param {...(Node | string | null | undefined | (Node | string | null | undefined)[])} children
 * @returns {HTMLElement}
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "hook") el.dataset.nbimages = value;
    else if (key === "class") el.className = value;
    else if (key === "text") el.textContent = String(value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "style") Object.assign(el.style, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key in el && !key.includes("-")) /** @type {any} */ (el)[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) el.append(child);
  }
  return el;
}

/**
 * Bytes of a buffer as received from the kernel (a `DataView`) or built in the page.
 * @param {DataView | ArrayBuffer | ArrayBufferView | null | undefined} value
 * @returns {Uint8Array}
 */
export function toBytes(value) {
  if (!value) return new Uint8Array(0);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  return new Uint8Array(0);
}

/**
 * The image type of some bytes, from their magic numbers.
 * @param {Uint8Array} bytes
 * @returns {string}
 */
export function sniffMime(bytes) {
  const ascii = (/** @type {number} */ from, /** @type {number} */ to) =>
    String.fromCharCode(...bytes.subarray(from, to));
  if (bytes[0] === 0x89 && ascii(1, 4) === "PNG") return "image/png";
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return "image/jpeg";
  if (ascii(0, 4) === "RIFF" && ascii(8, 12) === "WEBP") return "image/webp";
  if (ascii(0, 3) === "GIF") return "image/gif";
  if (/^(\ufeff|\s)*<(svg|\?xml|!--)/i.test(new TextDecoder().decode(bytes.subarray(0, 64)))) return SVG;
  return "application/octet-stream";
}

const SVG = "image/svg+xml";

/**
 * Bytes as a `data:` URL.
 * @param {Uint8Array} bytes
 * @param {string} mime
 * @returns {string}
 */
function dataUrl(bytes, mime) {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return `data:${mime};base64,${btoa(binary)}`;
}

/**
 * Blob URLs owned by one view; all revoked when the view goes away.
 * An SVG gets a data URL instead: a blob URL opened on its own (a new tab) would run the
 * SVG's scripts with the notebook's origin; a data URL is never given one.
 */
export class UrlBag {
  constructor() {
    /** @type {Set<string>} */
    this.urls = new Set();
  }

  /**
   * @param {Blob | Uint8Array} data
   * @param {string} [mime]
   * @returns {string}
   */
  make(data, mime) {
    if (!(data instanceof Blob) && (mime || sniffMime(data)) === SVG) return dataUrl(data, SVG);
    if (data instanceof Blob && data.type === SVG) throw new Error("an SVG blob needs UrlBag.fromBlob");
    const blob = data instanceof Blob ? data : new Blob([data], { type: mime || sniffMime(data) });
    const url = URL.createObjectURL(blob);
    this.urls.add(url);
    return url;
  }

  /**
   * `make` for a blob that may be an SVG (reading its bytes takes a turn of the event loop).
   * @param {Blob} blob
   * @returns {Promise<string>}
   */
  async fromBlob(blob) {
    if (blob.type !== SVG) return this.make(blob);
    return dataUrl(new Uint8Array(await blob.arrayBuffer()), SVG);
  }

  /** @param {string | null | undefined} url */
  revoke(url) {
    if (url && this.urls.delete(url)) URL.revokeObjectURL(url);
  }

  revokeAll() {
    for (const url of this.urls) URL.revokeObjectURL(url);
    this.urls.clear();
  }
}

/**
 * Listen to the kernel's custom messages. A message in parts (an image, a download) reaches
 * `handlers[type](message, blob)` once every part has arrived; any other `{type}` reaches
 * `handlers[type](message, buffers)`. Types without a handler are left alone.
 * @param {Model} model
 * @param {{ image?: (msg: ImageMessage, blob: Blob) => void,
 *   [type: string]: ((msg: any, buffers: any) => void) | undefined }} handlers
 * @returns {() => void} stop listening
 */
export function listen(model, handlers) {
  /** @type {Map<number, { chunks: Uint8Array[], count: number }>} */
  const pending = new Map();
  /** @param {any} msg @param {DataView[]} buffers */
  const onMessage = (msg, buffers = []) => {
    if (!msg || typeof msg.type !== "string") return;
    const handler = handlers[msg.type];
    if (!handler) return;
    if (typeof msg.parts === "number") {
      let entry = pending.get(msg.seq);
      if (!entry) {
        entry = { chunks: new Array(msg.parts), count: 0 };
        pending.set(msg.seq, entry);
      }
      entry.chunks[msg.part] = toBytes(buffers[0]).slice();
      entry.count += 1;
      if (entry.count === msg.parts) {
        pending.delete(msg.seq);
        handler(msg, new Blob(entry.chunks, { type: msg.mime }));
      }
      return;
    }
    handler(msg, buffers.map(toBytes));
  };
  model.on("msg:custom", onMessage);
  return () => model.off("msg:custom", onMessage);
}

/**
 * Save a file the kernel sent: a temporary Blob URL behind a temporary `<a download>`.
 * @param {Blob} blob
 * @param {string} name
 */
export function saveFile(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = h("a", { href: url, download: name, style: { display: "none" } });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000); // the browser may still be reading it
}

/**
 * Put text on the clipboard: the Clipboard API, else a hidden textarea and `execCommand`
 * (an insecure origin, or a browser that refuses the permission).
 * @param {string} text
 * @returns {Promise<boolean>} whether it was copied
 */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const box = /** @type {HTMLTextAreaElement} */ (h("textarea", {
      value: text, readOnly: true, style: { position: "fixed", top: "0", left: "-9999px", opacity: "0" },
    }));
    const focused = /** @type {HTMLElement | null} */ (document.activeElement);
    document.body.append(box);
    box.select();
    let copied = false;
    try {
      copied = document.execCommand("copy");
    } catch {
      copied = false;
    }
    box.remove();
    focused?.focus({ preventScroll: true });
    return copied;
  }
}

/**
 * @typedef {{ hook: string, label: string, title: string, onclick: () => void }} ExtraAction
 * @typedef {{ el: HTMLElement, say: (text: string, seconds?: number) => void,
 *   enable: (on: boolean) => void, stop: () => void }} ActionBar
 */

/**
 * The row of small actions under every image view: Download (the original file, sent by the
 * kernel: `{action: "download", ...target()}`), Copy prompt, Open in the painter and Refine in
 * Studio (`paint` / `refine`: the kernel opens that widget below the view, see `openedSlot`),
 * and any `extra` actions, with a short feedback line. The kernel's `download` messages are
 * handled here.
 * @param {Model} model
 * @param {{ target: () => Record<string, any>, prompt: () => string, paint?: boolean, refine?: boolean,
 *   extra?: ExtraAction[] }} options
 * @returns {ActionBar}
 */
export function actionBar(model, { target, prompt, paint = false, refine = false, extra = [] }) {
  const feedback = h("span", { hook: "action-feedback", class: "nbi-actions__feedback", "aria-live": "polite" });
  let timer = 0;
  /** @param {string} text @param {number} [seconds] */
  const say = (text, seconds = 3) => {
    clearTimeout(timer);
    feedback.textContent = text;
    if (seconds > 0) timer = window.setTimeout(() => { feedback.textContent = ""; }, seconds * 1000);
  };
  /** @param {ExtraAction} action */
  const button = ({ hook, label, title, onclick }) =>
    /** @type {HTMLButtonElement} */ (h("button", { hook, class: "nbi-btn nbi-btn--small", type: "button", title, onclick }, label));
  /** @type {ExtraAction[]} */
  const opening = [
    ...(paint ? [{ hook: "open-in-painter", label: "Open in the painter", title: "Paint a mask or draw a markup on this image, below",
      onclick: () => act(model, "paint", target()) }] : []),
    ...(refine ? [{ hook: "refine-in-studio", label: "Refine in Studio", title: "Continue from this image in a Studio, below",
      onclick: () => act(model, "refine", target()) }] : []),
  ];
  // A widget shown twice (two outputs, a second view) has two bars: the file goes to the one clicked.
  const view = Math.random().toString(36).slice(2);
  const buttons = [
    button({ hook: "download", label: "Download", title: "Save the original file", onclick: () => {
      say("Preparing the download…", 0);
      act(model, "download", { ...target(), view });
    } }),
    button({ hook: "copy-prompt", label: "Copy prompt", title: "Copy the prompt to the clipboard", onclick: async () => {
      say((await copyText(prompt())) ? "Copied" : "Could not copy: select the prompt and copy it");
    } }),
    ...opening.map(button),
    ...extra.map(button),
  ];
  const el = h("div", { hook: "actions", class: "nbi-actions", role: "toolbar", "aria-label": "Image actions" },
    ...buttons, feedback);
  const stopListening = listen(model, {
    download(/** @type {{name: string, view?: string}} */ msg, /** @type {Blob} */ blob) {
      if (msg.view && msg.view !== view) return;
      saveFile(blob, msg.name);
      say(`Saved ${msg.name}`);
    },
  });
  // A refused download is said on the error line; the "Preparing" note goes.
  const stopError = watch(model, "error", () => { if (model.get("error") !== "") say(""); });
  return {
    el,
    say,
    enable(on) {
      for (const b of buttons) b.disabled = !on;
    },
    stop() {
      clearTimeout(timer);
      stopListening();
      stopError();
    },
  };
}

/**
 * Where a widget the kernel opened for this view (a painter, a Studio) is shown: below the
 * view, under a line that says how to reach it from Python, with a Close button. The trait
 * `_opened` refers to the child widget ("IPY_MODEL_<id>"), `_opened_note` is that line.
 * @param {Model} model
 * @returns {{ el: HTMLElement, stop: () => void }}
 */
export function openedSlot(model) {
  const note = h("span", { hook: "opened-note", class: "nbi-opened__note" });
  const close = h("button", { hook: "close-opened", class: "nbi-btn nbi-btn--small", type: "button",
    title: "Close the widget opened below (it stays usable from Python)", onclick: () => act(model, "close_opened") }, "Close");
  const body = h("div", { class: "nbi-opened__body" });
  const el = h("div", { hook: "opened", class: "nbi-opened", hidden: true },
    h("div", { class: "nbi-opened__head" }, note, close), body);
  /** @type {any} */
  let view = null;
  let shown = "";
  let turn = 0; // a newer reference wins over a view still being made
  const show = async () => {
    const ref = String(model.get("_opened") ?? "");
    note.textContent = String(model.get("_opened_note") ?? "");
    if (ref === shown) return;
    shown = ref;
    const mine = ++turn;
    view?.remove();
    view = null;
    el.hidden = ref === "";
    el.dataset.state = ref === "" ? "closed" : "opening";
    if (ref === "" || !model.widget_manager) return;
    const child = await model.widget_manager.get_model(ref.replace(/^IPY_MODEL_/, ""));
    const made = await model.widget_manager.create_view(child);
    if (mine !== turn) {
      made.remove();
      return;
    }
    view = made;
    body.append(made.el);
    el.dataset.state = "shown";
    el.scrollIntoView({ block: "nearest" });
  };
  const stop = watch(model, ["_opened", "_opened_note"], () => {
    show().catch((e) => { note.textContent = `Could not show it here: ${e}`; });
  });
  return {
    el,
    stop() {
      stop();
      turn += 1;
      view?.remove();
    },
  };
}

/**
 * Ask the kernel to do something: `{action, ...payload}` plus binary buffers.
 * @param {Model} model
 * @param {string} action
 * @param {Record<string, any>} [payload]
 * @param {(ArrayBuffer | ArrayBufferView)[]} [buffers]
 */
export function act(model, action, payload = {}, buffers) {
  model.send({ action, ...payload }, undefined, buffers);
}

/**
 * Call `update(value)` now and whenever trait `name` changes.
 * @param {Model} model
 * @param {string | string[]} names
 * @param {() => void} update
 * @returns {() => void} stop watching
 */
export function watch(model, names, update) {
  const list = Array.isArray(names) ? names : [names];
  for (const name of list) model.on(`change:${name}`, update);
  update();
  return () => {
    for (const name of list) model.off(`change:${name}`, update);
  };
}

/**
 * Show a status like "gpt-image-2 · done in 3.1 s · 1024×1024" so that, when narrow, it wraps
 * between its parts rather than inside one ("offline / simulator"); a long part may still wrap.
 * @param {HTMLElement} el
 * @param {string} text
 */
export function setPhrases(el, text) {
  const parts = text.split(" · ");
  el.replaceChildren(...parts.flatMap((part, i) => [
    ...(i > 0 ? [" · "] : []),
    part.length <= 40 ? h("span", { class: "nbi-phrase", text: part }) : part,
  ]));
}

/**
 * Keep an element's text in sync with a text trait; hidden while empty.
 * @param {Model} model
 * @param {string} name
 * @param {HTMLElement} el
 * @returns {() => void}
 */
export function bindText(model, name, el) {
  return watch(model, name, () => {
    const text = String(model.get(name) ?? "");
    el.textContent = text;
    el.hidden = text === "";
  });
}

/**
 * The error area every widget has (`error` trait), with role="alert". A widget that syncs
 * `error_request_id` gets the server's request id at the end, as text to select and copy
 * (the error text names it too, in brackets: said once).
 * @param {Model} model
 * @returns {[HTMLElement, () => void]}
 */
export function errorLine(model) {
  const el = h("div", { hook: "error", class: "nbi-error", role: "alert" });
  const stop = watch(model, ["error", "error_request_id"], () => {
    const text = String(model.get("error") ?? "");
    const id = String(model.get("error_request_id") ?? "");
    el.replaceChildren(id ? text.replace(` [request ${id}]`, "") : text);
    if (id) {
      el.append(h("span", { class: "nbi-error__request" }, " ·\u00a0request\u00a0", // kept together with the id
        h("span", { hook: "request-id", class: "nbi-error__id", text: id })));
    }
    el.hidden = text === "";
  });
  return [el, stop];
}

/**
 * Two-way binding between a form control and a trait.
 * @param {Model} model
 * @param {string} name
 * @param {HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement} control
 * @param {{ parse?: (value: string) => any, event?: string }} [options]
 * @returns {() => void}
 */
export function bindControl(model, name, control, { parse = (v) => v, event = "change" } = {}) {
  const stop = watch(model, name, () => {
    const value = String(model.get(name) ?? "");
    if (control.value !== value) control.value = value;
  });
  const onInput = () => {
    model.set(name, parse(control.value));
    model.save_changes();
  };
  control.addEventListener(event, onInput);
  return () => {
    stop();
    control.removeEventListener(event, onInput);
  };
}

/**
 * Make a widget's root take keys, in JupyterLab and in Notebook 7: focusable, shortcuts kept
 * out of it (Lumino's attribute and class), and each key `handle` says it handled (returns
 * true) prevented and stopped here, so no notebook handler further up sees it either.
 *
 * Keys typed into the widget's text fields stop here too, without being prevented: for a
 * keydown inside a cell, JupyterLab cancels the line break that follows (so Enter would not
 * make a new line in a textarea). Ctrl/Cmd combinations go on (Ctrl+S saves the notebook).
 * @param {HTMLElement} root
 * @param {(e: KeyboardEvent) => boolean} handle
 * @returns {() => void} stop listening
 */
export function takeKeys(root, handle) {
  if (root.tabIndex < 0) root.tabIndex = 0;
  root.classList.add("lm-suppress-shortcuts");
  root.setAttribute("data-lm-suppress-shortcuts", "true");
  const onKey = (/** @type {KeyboardEvent} */ e) => {
    if (handle(e)) {
      e.preventDefault();
      e.stopPropagation();
    } else if (typing(e) && !e.ctrlKey && !e.metaKey) {
      e.stopPropagation();
    }
  };
  root.addEventListener("keydown", onKey);
  return () => root.removeEventListener("keydown", onKey);
}

/**
 * Give `root` the focus whenever `target` is pressed: a canvas or an image is not focusable,
 * so without this the next key would go to the notebook instead of the widget in use.
 * @param {HTMLElement} root
 * @param {HTMLElement} target
 */
export function focusOnPress(root, target) {
  target.addEventListener("pointerdown", () => {
    if (!root.contains(document.activeElement)) root.focus({ preventScroll: true });
  });
}

/** True for a key typed into a text field (where letters are text, not shortcuts). @param {KeyboardEvent} e */
export function typing(e) {
  const target = /** @type {HTMLElement} */ (e.target);
  return target instanceof HTMLTextAreaElement
    || (target instanceof HTMLInputElement && !["range", "color", "button", "checkbox"].includes(target.type));
}
