// MaskPainter view: paint on a canvas of the image's own size, CSS-scaled to fit (at most
// 70% of the window's height, keeping the aspect ratio).
//
// The painted layer is the list of operations since the last mask the kernel sent
// (strokes, clear, invert), so undo replays all but the last one. After each change the
// layer goes to the kernel as a PNG whose opaque pixels are the painted ones.
//
// In markup mode a second canvas of the same size takes the pointer: coloured pen strokes,
// arrows and boxes, kept the same way (the marks since the last markup the kernel sent) and
// sent as an RGBA PNG after each change. The mode is a trait; each canvas shows in its mode.
// Undo moves the last change aside and redo brings it back, in either layer.
//
// Zoom and pan move the canvases together with one CSS transform, so a pointer's position
// read from a canvas's box is in image pixels at any zoom. The plain wheel is the notebook's
// (it scrolls); Ctrl+wheel zooms, Alt+wheel and [ ] size the brush. The widget takes the
// focus when it is pressed and keeps its keys from JupyterLab's shortcuts.
//
// After painter.edit() the result is shown beside its input, with "Continue from the
// result"; a result of another size makes the kernel change width/height, and the view is
// built again for it.
import { act, bindControl, bindText, errorLine, focusOnPress, h, listen, takeKeys, toBytes, typing, UrlBag, watch } from "./_shared.js";

/** @typedef {import("./_shared.js").Model} Model */
/** @typedef {{ kind: "stroke", erase: boolean, size: number, points: [number, number][] }
 *   | { kind: "clear" } | { kind: "invert" }} Op */

const PAINT = [255, 45, 110]; // the overlay colour; its opacity is a trait
const PALETTE = ["#ff2d55", "#ffcc00", "#34c759", "#0a84ff", "#ffffff", "#111111"];

/** @typedef {[number, number]} Point */
/** @typedef {{ kind: "pen", color: string, width: number, points: Point[] }
 *   | { kind: "arrow" | "box", color: string, width: number, from: Point, to: Point }
 *   | { kind: "clear" }} Mark */

/** Show or hide an element whose class sets its `display` (which beats the `hidden` attribute). */
function show(/** @type {HTMLElement} */ el, /** @type {boolean} */ on) {
  el.style.display = on ? "" : "none";
}

/**
 * Draw one mark on a markup canvas.
 * @param {CanvasRenderingContext2D} ctx @param {number} W @param {number} H @param {Mark} mark
 */
function drawMark(ctx, W, H, mark) {
  if (mark.kind === "clear") {
    ctx.clearRect(0, 0, W, H);
    return;
  }
  ctx.save();
  ctx.strokeStyle = ctx.fillStyle = mark.color;
  ctx.lineWidth = mark.width;
  ctx.lineCap = ctx.lineJoin = "round";
  if (mark.kind === "pen") penPath(ctx, mark);
  else if (mark.kind === "box") ctx.strokeRect(...boxOf(mark.from, mark.to));
  else arrow(ctx, mark.from, mark.to, mark.width);
  ctx.restore();
}

/** @param {CanvasRenderingContext2D} ctx @param {{ width: number, points: Point[] }} mark */
function penPath(ctx, { width, points }) {
  ctx.beginPath();
  if (points.length === 1) {
    ctx.arc(points[0][0], points[0][1], width / 2, 0, 2 * Math.PI);
    ctx.fill();
    return;
  }
  ctx.moveTo(...points[0]);
  for (const point of points.slice(1)) ctx.lineTo(...point);
  ctx.stroke();
}

/** [x, y, width, height] of the box two corners span. @param {Point} a @param {Point} b */
function boxOf(a, b) {
  return /** @type {[number, number, number, number]} */ (
    [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.abs(b[0] - a[0]), Math.abs(b[1] - a[1])]);
}

/** A shaft from `from` and a filled head at `to`. @param {CanvasRenderingContext2D} ctx @param {Point} from @param {Point} to @param {number} width */
function arrow(ctx, from, to, width) {
  const angle = Math.atan2(to[1] - from[1], to[0] - from[0]);
  const head = Math.min(Math.max(14, 4 * width), Math.hypot(to[0] - from[0], to[1] - from[1]));
  const along = (/** @type {number} */ back, /** @type {number} */ turn) =>
    /** @type {Point} */ ([to[0] - back * Math.cos(angle + turn), to[1] - back * Math.sin(angle + turn)]);
  ctx.beginPath();
  ctx.moveTo(...from);
  ctx.lineTo(...along(head * 0.8, 0)); // the head's tip stays sharp: the round cap ends inside it
  ctx.stroke();
  ctx.beginPath();
  ctx.moveTo(...to);
  ctx.lineTo(...along(head, Math.PI / 7));
  ctx.lineTo(...along(head, -Math.PI / 7));
  ctx.closePath();
  ctx.fill();
}

/**
 * Swatches of the palette; a click picks its colour. The pressed one is the trait's colour.
 * @param {Model} model
 * @returns {[HTMLElement[], () => void]}
 */
function swatches(model) {
  const buttons = PALETTE.map((color) => h("button", {
    hook: "swatch", type: "button", title: `Draw in ${color}`, dataset: { color },
    style: { width: "22px", height: "22px", padding: "0", borderRadius: "50%", cursor: "pointer",
      background: color, border: "1px solid var(--nbi-border)" },
    onclick: () => { model.set("color", color); model.save_changes(); },
  }));
  const stop = watch(model, "color", () => {
    for (const button of buttons) {
      const on = button.dataset.color === model.get("color");
      button.setAttribute("aria-pressed", String(on));
      button.style.boxShadow = on ? "0 0 0 2px var(--nbi-bg), 0 0 0 4px var(--nbi-accent)" : "";
    }
  });
  return [buttons, stop];
}

/**
 * @param {string} text
 * @param {HTMLInputElement} input
 * @param {HTMLElement} output
 */
function slider(text, input, output) {
  return h("label", { class: "nbi-slider" }, h("span", { class: "nbi-label", text }), input, output);
}

/**
 * The painted part with one decimal; a few pixels read "<0.1%", not "0.0%" (nothing painted).
 * @param {number} pixels @param {number} total
 */
function paintedShare(pixels, total) {
  const share = total ? pixels / total : 0;
  if (pixels > 0 && share < 0.0005) return "<0.1%";
  if (pixels < total && share > 0.9995) return ">99.9%";
  return `${(100 * share).toFixed(1)}%`;
}

const MAX_ZOOM = 16;
const SIZE_STEP = 1.15; // one wheel notch or one [ / ] press

/** The next brush size or line width one step up or down, within 1..max. @param {number} value @param {boolean} up @param {number} max */
function stepSize(value, up, max) {
  const next = Math.round(up ? value * SIZE_STEP + 1 : value / SIZE_STEP);
  return Math.min(max, Math.max(1, next));
}

/**
 * A range input over 1..max on a logarithmic scale: each step of the slider is the same
 * ratio, so sizes of a few pixels are as easy to pick as sizes of hundreds.
 * @param {string} name @param {number} max
 */
function logSlider(name, max) {
  const input = /** @type {HTMLInputElement} */ (h("input", { hook: name, type: "range", min: 0, max: 1000, step: 1 }));
  const span = Math.log(max);
  return {
    input,
    /** @param {number} value */
    set(value) { input.value = String(Math.round((1000 * Math.log(Math.max(1, value))) / span)); },
    value() { return Math.min(max, Math.max(1, Math.round(Math.exp((Number(input.value) / 1000) * span)))); },
  };
}

/**
 * The changes made to one layer since the kernel last sent it: undo moves the last one to
 * `undone`, redo moves it back, and any new change forgets what was undone.
 * @template T
 */
class Steps {
  constructor() {
    /** @type {T[]} */
    this.done = [];
    /** @type {T[]} */
    this.undone = [];
  }

  /** @param {T} step */
  push(step) {
    this.done.push(step);
    this.undone.length = 0;
  }

  undo() {
    const step = this.done.pop();
    if (step === undefined) return false;
    this.undone.push(step);
    return true;
  }

  redo() {
    const step = this.undone.pop();
    if (step === undefined) return false;
    this.done.push(step);
    return true;
  }

  reset() {
    this.done.length = 0;
    this.undone.length = 0;
  }
}

/**
 * Zoom and pan of the canvases: `stage` (which holds them) is scaled and moved inside `box`
 * with a CSS transform, so pointer positions read from the canvases' own boxes stay exact.
 * At zoom 1 the image fits the box; it never leaves a gap at the edges.
 */
class Viewport {
  /** @param {HTMLElement} box @param {HTMLElement} stage @param {(zoom: number) => void} onChange */
  constructor(box, stage, onChange) {
    this.box = box;
    this.stage = stage;
    this.onChange = onChange;
    this.zoom = 1;
    this.x = 0;
    this.y = 0;
  }

  /** Zoom by `factor`, keeping the image point under (clientX, clientY) where it is. */
  zoomAt(/** @type {number} */ factor, /** @type {number} */ clientX, /** @type {number} */ clientY) {
    const r = this.box.getBoundingClientRect();
    const px = clientX - r.left - this.box.clientLeft;
    const py = clientY - r.top - this.box.clientTop;
    const zoom = Math.min(MAX_ZOOM, Math.max(1, this.zoom * factor));
    const k = zoom / this.zoom;
    this.x = px - (px - this.x) * k;
    this.y = py - (py - this.y) * k;
    this.zoom = zoom;
    this.apply();
  }

  /** Zoom by `factor` about the middle of the box (the buttons and keys). @param {number} factor */
  zoomCentre(factor) {
    const r = this.box.getBoundingClientRect();
    this.zoomAt(factor, r.left + r.width / 2, r.top + r.height / 2);
  }

  /** @param {number} dx @param {number} dy */
  panBy(dx, dy) {
    this.x += dx;
    this.y += dy;
    this.apply();
  }

  fit() {
    this.zoom = 1;
    this.x = this.y = 0;
    this.apply();
  }

  apply() {
    const w = this.box.clientWidth;
    const h = this.box.clientHeight;
    this.x = Math.min(0, Math.max(w - w * this.zoom, this.x));
    this.y = Math.min(0, Math.max(h - h * this.zoom, this.y));
    this.stage.style.transform = `translate(${this.x}px, ${this.y}px) scale(${this.zoom})`;
    this.onChange(this.zoom);
  }
}

/** @param {string} hook @param {string} text @param {string} title */
function button(hook, text, title) {
  return /** @type {HTMLButtonElement} */ (h("button", { hook, class: "nbi-btn", type: "button", title }, text));
}

/** @param {string} hook @param {string} text @param {string} title */
function tool(hook, text, title) {
  return h("button", { hook, class: "nbi-btn nbi-tool", type: "button", title }, text);
}

/**
 * A change of the image's size (after "Continue from the result") builds the view again:
 * every canvas has the image's own pixel size.
 * @param {{ model: Model, el: HTMLElement }} context
 */
function render({ model, el }) {
  let unmount = mount(model, el);
  let pending = false;
  const remount = () => {
    if (pending) return;
    pending = true;
    queueMicrotask(() => { // width and height change together: build once
      pending = false;
      unmount();
      unmount = mount(model, el);
    });
  };
  model.on("change:width", remount);
  model.on("change:height", remount);
  return () => {
    model.off("change:width", remount);
    model.off("change:height", remount);
    unmount();
  };
}

/** @param {Model} model @param {HTMLElement} el */
function mount(model, el) {
  const urls = new UrlBag();
  /** @type {(() => void)[]} */
  const stops = [];
  const W = model.get("width");
  const H = model.get("height");

  // -- canvases ------------------------------------------------------------------------------
  const backdrop = /** @type {HTMLCanvasElement} */ (h("canvas", { hook: "backdrop", class: "nbi-backdrop", width: W, height: H }));
  const layer = /** @type {HTMLCanvasElement} */ (h("canvas", { hook: "canvas", class: "nbi-layer", width: W, height: H }));
  const marks = /** @type {HTMLCanvasElement} */ (h("canvas", { hook: "markup-canvas", class: "nbi-marks", width: W, height: H, style: { cursor: "crosshair" } }));
  const cursor = h("div", { hook: "cursor", class: "nbi-cursor", hidden: true });
  const stage = h("div", { hook: "canvas-stage", class: "nbi-canvas-stage" }, backdrop, layer, marks);
  const wrap = h("div", { hook: "canvas-wrap", class: "nbi-canvas-wrap", style: { aspectRatio: `${W} / ${H}`, width: `min(100%, 900px, ${(70 * W / H).toFixed(3)}vh)` } }, stage, cursor);
  const ctx = /** @type {CanvasRenderingContext2D} */ (layer.getContext("2d", { willReadFrequently: true }));
  const mctx = /** @type {CanvasRenderingContext2D} */ (marks.getContext("2d", { willReadFrequently: true }));

  // -- toolbar -------------------------------------------------------------------------------
  const brush = tool("brush", "Brush", "Paint where the edit may change the image (B)");
  const eraser = tool("eraser", "Eraser", "Erase paint (E)");
  const maxSize = Math.max(8, Math.round(Math.max(W, H) / 2));
  const size = logSlider("brush-size", maxSize);
  const sizeOut = h("output", { class: "nbi-value" });
  const opacityInput = /** @type {HTMLInputElement} */ (h("input", { hook: "opacity", type: "range", min: 0, max: 100, step: 1 }));
  const opacityOut = h("output", { class: "nbi-value" });
  const undo = button("undo", "Undo", "Undo the last change (Ctrl+Z)");
  const redo = button("redo", "Redo", "Redo what was undone (Ctrl+Shift+Z or Ctrl+Y)");
  const invert = button("invert", "Invert", "Swap painted and unpainted");
  const clear = h("button", { hook: "clear", class: "nbi-btn nbi-btn--danger", type: "button", title: "Erase everything" }, "Clear");
  const zoomOut = button("zoom-out", "−", "Zoom out (-, or Ctrl+wheel)");
  const zoomIn = button("zoom-in", "+", "Zoom in (+, or Ctrl+wheel over the image)");
  const zoomFit = button("zoom-fit", "Fit", "Show the whole image (0)");
  const zoomOutput = h("output", { hook: "zoom", class: "nbi-value" });
  const painted = h("span", { hook: "painted", class: "nbi-status__text nbi-painted" });
  const hint = h("span", { hook: "hint", class: "nbi-hint" });
  const caption = h("p", { hook: "caption", class: "nbi-caption" });
  const [error, stopError] = errorLine(model);
  stops.push(stopError, bindText(model, "caption", caption));

  const maskMode = tool("mode-mask", "Mask", "Paint a mask: where the edit may change the image");
  const markupMode = tool("mode-markup", "Markup", "Draw marks over the image to guide the edit (a markup, GPT Image 2.5)");
  const pen = tool("pen", "Pen", "Draw freehand (P)");
  const arrowTool = tool("arrow", "Arrow", "Draw an arrow (A)");
  const boxTool = tool("box", "Box", "Draw a box (R)");
  const [palette, stopPalette] = swatches(model);
  const colorInput = /** @type {HTMLInputElement} */ (h("input", { hook: "color", type: "color", title: "Pick any colour" }));
  const maxWidth = Math.max(8, Math.round(Math.max(W, H) / 16));
  const width = logSlider("line-width", maxWidth);
  const widthOut = h("output", { class: "nbi-value" });
  stops.push(stopPalette, bindControl(model, "color", colorInput, { event: "input" }),
    watch(model, "line_width", () => {
      width.set(Number(model.get("line_width")));
      widthOut.textContent = `${model.get("line_width")} px`;
    }));

  const maskTools = [
    h("div", { class: "nbi-seg", role: "group", "aria-label": "Tool" }, brush, eraser),
    slider("Size", size.input, sizeOut),
    slider("Overlay", opacityInput, opacityOut),
  ];
  const maskOnly = [...maskTools, invert];
  const markupOnly = [
    h("div", { class: "nbi-seg", role: "group", "aria-label": "Mark" }, pen, arrowTool, boxTool),
    h("div", { class: "nbi-row nbi-row--tight", role: "group", "aria-label": "Colour" }, ...palette, colorInput),
    slider("Width", width.input, widthOut),
  ];

  // -- the last edit's result, beside its input ---------------------------------------------------
  const before = /** @type {HTMLCanvasElement} */ (h("canvas", { hook: "result-before", class: "nbi-compare__img" }));
  const after = /** @type {HTMLImageElement} */ (h("img", { hook: "result-after", class: "nbi-compare__img", alt: "The edited image" }));
  const afterLabel = h("figcaption", { text: "After" });
  const useResult = h("button", { hook: "continue", class: "nbi-btn nbi-btn--primary", type: "button",
    title: "Paint the next edit on the edited image (painter.continue_from_result())" }, "Continue from the result");
  const dismiss = button("result-dismiss", "Dismiss", "Hide the comparison (painter.results keeps the images)");
  const compare = h("div", { hook: "result", class: "nbi-compare", hidden: true },
    h("div", { class: "nbi-compare__pair" },
      h("figure", { class: "nbi-compare__fig" }, before, h("figcaption", { text: "Before" })),
      h("figure", { class: "nbi-compare__fig" }, after, afterLabel)),
    h("div", { class: "nbi-row nbi-row--tight" }, useResult, dismiss));
  useResult.addEventListener("click", () => act(model, "continue"));
  dismiss.addEventListener("click", () => act(model, "dismiss"));

  const root = h("div", { hook: "mask-painter", class: "nbi nbi-painter" },
    h("div", { class: "nbi-toolbar" },
      h("div", { class: "nbi-seg", role: "group", "aria-label": "Mode" }, maskMode, markupMode),
      ...maskTools, ...markupOnly,
      h("div", { class: "nbi-row nbi-row--tight" }, undo, redo, invert, clear),
      h("div", { class: "nbi-row nbi-row--tight", role: "group", "aria-label": "Zoom" }, zoomOut, zoomOutput, zoomIn, zoomFit)),
    wrap,
    h("div", { class: "nbi-status" }, painted, hint),
    caption, compare, error);
  el.replaceChildren(root);

  // -- state ----------------------------------------------------------------------------------
  /** @type {ImageData | null} */
  let base = null; // the last mask the kernel sent, as painted pixels
  /** @type {Steps<Op>} */
  const ops = new Steps();
  let erase = false;
  /** @type {PointerEvent | null} */
  let lastPointer = null; // for the brush outline
  /** @type {ImageData | null} */
  let markBase = null; // the last markup the kernel sent
  /** @type {Steps<Mark>} */
  const markOps = new Steps();
  /** @type {"pen" | "arrow" | "box"} */
  let markTool = "pen";
  const inMarkup = () => model.get("mode") === "markup";
  const current = () => (inMarkup() ? markOps : ops);
  const showSteps = () => {
    undo.disabled = current().done.length === 0;
    redo.disabled = current().undone.length === 0;
  };

  const view = new Viewport(wrap, stage, (zoom) => {
    zoomOutput.textContent = `${Math.round(zoom * 100)}%`;
    root.dataset.zoom = zoom.toFixed(3);
    zoomOut.disabled = zoomFit.disabled = zoom <= 1;
    zoomIn.disabled = zoom >= MAX_ZOOM;
    placeCursor();
  });
  view.apply();

  const setTool = (/** @type {boolean} */ toEraser) => {
    erase = toEraser;
    brush.setAttribute("aria-pressed", String(!erase));
    eraser.setAttribute("aria-pressed", String(erase));
    root.dataset.tool = erase ? "eraser" : "brush";
  };
  setTool(false);

  const setMarkTool = (/** @type {"pen" | "arrow" | "box"} */ kind) => {
    markTool = kind;
    for (const [button, name] of /** @type {const} */ ([[pen, "pen"], [arrowTool, "arrow"], [boxTool, "box"]])) {
      button.setAttribute("aria-pressed", String(name === kind));
    }
    root.dataset.markTool = kind;
  };
  setMarkTool("pen");

  stops.push(watch(model, "mode", () => {
    const markup = inMarkup();
    root.dataset.mode = markup ? "markup" : "mask";
    maskMode.setAttribute("aria-pressed", String(!markup));
    markupMode.setAttribute("aria-pressed", String(markup));
    for (const part of maskOnly) show(part, !markup);
    for (const part of markupOnly) show(part, markup);
    show(layer, !markup);
    show(marks, markup);
    cursor.hidden = true;
    const what = markup ? "line width" : "brush size";
    hint.textContent = `${W}×${H} · Alt+wheel or [ ] ${what} · Ctrl+wheel zoom · Space+drag pan`;
    showSteps();
    showShare();
  }));
  /** @param {string} mode */
  const setMode = (mode) => {
    model.set("mode", mode);
    model.save_changes();
  };
  maskMode.addEventListener("click", () => setMode("mask"));
  markupMode.addEventListener("click", () => setMode("markup"));

  stops.push(watch(model, "brush_size", () => {
    size.set(Number(model.get("brush_size")));
    sizeOut.textContent = `${model.get("brush_size")} px`;
    placeCursor();
  }));
  stops.push(watch(model, "overlay_opacity", () => {
    const value = Number(model.get("overlay_opacity"));
    opacityInput.value = String(Math.round(value * 100));
    opacityOut.textContent = `${Math.round(value * 100)}%`;
    layer.style.opacity = String(value);
  }));
  function showShare() {
    painted.textContent = inMarkup()
      ? `${paintedShare(Number(model.get("markup_pixels")), W * H)} drawn on`
      : `${paintedShare(Number(model.get("painted_pixels")), W * H)} painted`;
  }
  stops.push(watch(model, "painted_pixels", showShare), watch(model, "markup_pixels", showShare));
  stops.push(watch(model, "mask_version", () => { root.dataset.maskVersion = String(model.get("mask_version")); }));
  stops.push(watch(model, "markup_version", () => { root.dataset.markupVersion = String(model.get("markup_version")); }));

  /** @param {string} name @param {number} value */
  const setTrait = (name, value) => {
    model.set(name, value);
    model.save_changes();
  };
  size.input.addEventListener("input", () => setTrait("brush_size", size.value()));
  width.input.addEventListener("input", () => setTrait("line_width", width.value()));
  opacityInput.addEventListener("input", () => setTrait("overlay_opacity", Number(opacityInput.value) / 100));
  /** The brush size (the line width in markup mode) one step up or down. @param {boolean} up */
  const resize = (up) => {
    if (inMarkup()) setTrait("line_width", stepSize(Number(model.get("line_width")), up, maxWidth));
    else setTrait("brush_size", stepSize(Number(model.get("brush_size")), up, maxSize));
  };

  // -- drawing ----------------------------------------------------------------------------------
  /** @param {Op} op */
  function apply(op) {
    if (op.kind === "clear") {
      ctx.clearRect(0, 0, W, H);
    } else if (op.kind === "invert") {
      const pixels = ctx.getImageData(0, 0, W, H);
      const d = pixels.data;
      for (let i = 0; i < d.length; i += 4) {
        const on = d[i + 3] <= 127;
        d[i] = PAINT[0]; d[i + 1] = PAINT[1]; d[i + 2] = PAINT[2]; d[i + 3] = on ? 255 : 0;
      }
      ctx.putImageData(pixels, 0, 0);
    } else {
      op.points.forEach((_, i) => segment(op, i));
    }
  }

  /** Draw the part of a stroke that ends at point `i`. @param {Op & {kind: "stroke"}} op @param {number} i */
  function segment(op, i) {
    const [x, y] = op.points[i];
    ctx.save();
    ctx.globalCompositeOperation = op.erase ? "destination-out" : "source-over";
    ctx.fillStyle = ctx.strokeStyle = `rgb(${PAINT.join(",")})`;
    ctx.lineWidth = op.size;
    ctx.lineCap = ctx.lineJoin = "round";
    if (i === 0) {
      ctx.beginPath();
      ctx.arc(x, y, op.size / 2, 0, 2 * Math.PI);
      ctx.fill();
    } else {
      const [px, py] = op.points[i - 1];
      ctx.beginPath();
      ctx.moveTo(px, py);
      ctx.lineTo(x, y);
      ctx.stroke();
    }
    ctx.restore();
  }

  function replay() {
    ctx.clearRect(0, 0, W, H);
    if (base) ctx.putImageData(base, 0, 0);
    for (const op of ops.done) apply(op);
    showSteps();
  }

  // Layers go to the kernel one after the other, in the order they were painted.
  let sending = Promise.resolve();
  /** @param {HTMLCanvasElement} canvas @param {"mask" | "markup"} action @param {"masksSent" | "markupsSent"} counter */
  function sendLayer(canvas, action, counter) {
    showSteps();
    sending = sending.then(() => new Promise((resolve) => {
      canvas.toBlob(async (blob) => {
        if (blob) {
          act(model, action, {}, [await blob.arrayBuffer()]);
          root.dataset[counter] = String(Number(root.dataset[counter] || 0) + 1);
        }
        resolve(undefined);
      }, "image/png");
    }));
  }
  const sendMask = () => sendLayer(layer, "mask", "masksSent");
  const sendMarkup = () => sendLayer(marks, "markup", "markupsSent");

  /** @param {Op} op */
  function commit(op) {
    ops.push(op);
    apply(op);
    sendMask();
  }

  // Pointer position in the image's own pixels, whatever the CSS scale, zoom and pan.
  /** @param {PointerEvent | WheelEvent} e @returns {[number, number]} */
  function toImage(e) {
    const r = (inMarkup() ? marks : layer).getBoundingClientRect();
    return [(e.clientX - r.left) * (W / r.width), (e.clientY - r.top) * (H / r.height)];
  }

  function placeCursor() {
    if (!lastPointer) return;
    const r = layer.getBoundingClientRect();
    const w = wrap.getBoundingClientRect();
    const diameter = Number(model.get("brush_size")) * (r.width / W);
    Object.assign(cursor.style, {
      width: `${diameter}px`, height: `${diameter}px`,
      left: `${lastPointer.clientX - w.left - wrap.clientLeft - diameter / 2}px`,
      top: `${lastPointer.clientY - w.top - wrap.clientTop - diameter / 2}px`,
    });
  }

  /** @type {(Op & {kind: "stroke"}) | null} */
  let stroke = null;
  layer.addEventListener("pointerdown", (e) => {
    if (e.button !== 0) return;
    e.preventDefault();
    layer.setPointerCapture(e.pointerId);
    stroke = { kind: "stroke", erase, size: Number(model.get("brush_size")), points: [toImage(e)] };
    segment(stroke, 0);
  });
  layer.addEventListener("pointermove", (e) => {
    lastPointer = e;
    cursor.hidden = false;
    placeCursor();
    if (!stroke) return;
    stroke.points.push(toImage(e));
    segment(stroke, stroke.points.length - 1);
  });
  const endStroke = () => {
    if (!stroke) return;
    ops.push(stroke);
    stroke = null;
    sendMask();
  };
  layer.addEventListener("pointerup", endStroke);
  layer.addEventListener("pointercancel", endStroke);
  layer.addEventListener("pointerleave", () => { cursor.hidden = true; });

  // The plain wheel scrolls the notebook; Ctrl+wheel (also a touchpad's pinch) zooms about
  // the pointer; Alt+wheel sizes the brush (Shift+wheel scrolls sideways in browsers).
  wrap.addEventListener("wheel", (e) => {
    if (e.ctrlKey || e.metaKey) {
      e.preventDefault();
      view.zoomAt(Math.pow(1.0015, -e.deltaY), e.clientX, e.clientY);
    } else if (e.altKey) {
      e.preventDefault();
      resize((e.deltaY || e.deltaX) < 0);
    }
  }, { passive: false });

  // Pan: drag with the middle button, or with the left one while Space is held.
  let spaceHeld = false;
  /** @type {{ x: number, y: number } | null} */
  let panning = null;
  wrap.addEventListener("pointerdown", (e) => {
    if (!(e.button === 1 || (e.button === 0 && spaceHeld))) return;
    e.preventDefault();
    e.stopPropagation(); // not a stroke
    wrap.setPointerCapture(e.pointerId);
    panning = { x: e.clientX, y: e.clientY };
    root.dataset.panning = "true";
  }, { capture: true });
  wrap.addEventListener("pointermove", (e) => {
    if (!panning) return;
    view.panBy(e.clientX - panning.x, e.clientY - panning.y);
    panning = { x: e.clientX, y: e.clientY };
  });
  const endPan = () => {
    panning = null;
    delete root.dataset.panning;
  };
  wrap.addEventListener("pointerup", endPan);
  wrap.addEventListener("pointercancel", endPan);
  wrap.addEventListener("mousedown", (e) => { if (e.button === 1) e.preventDefault(); }); // no autoscroll
  zoomIn.addEventListener("click", () => view.zoomCentre(1.5));
  zoomOut.addEventListener("click", () => view.zoomCentre(1 / 1.5));
  zoomFit.addEventListener("click", () => view.fit());

  brush.addEventListener("click", () => setTool(false));
  eraser.addEventListener("click", () => setTool(true));
  clear.addEventListener("click", () => (inMarkup() ? commitMark({ kind: "clear" }) : commit({ kind: "clear" })));
  invert.addEventListener("click", () => commit({ kind: "invert" }));
  /** Replay the current layer after an undo or redo and send it. */
  const replayCurrent = () => {
    if (inMarkup()) {
      replayMarks();
      sendMarkup();
    } else {
      replay();
      sendMask();
    }
  };
  undo.addEventListener("click", () => { if (current().undo()) replayCurrent(); });
  redo.addEventListener("click", () => { if (current().redo()) replayCurrent(); });
  pen.addEventListener("click", () => setMarkTool("pen"));
  arrowTool.addEventListener("click", () => setMarkTool("arrow"));
  boxTool.addEventListener("click", () => setMarkTool("box"));

  // -- keys -------------------------------------------------------------------------------------
  /** @type {Record<string, () => void>} */
  const maskKeys = { b: () => setTool(false), e: () => setTool(true) };
  /** @type {Record<string, () => void>} */
  const markupKeys = { p: () => setMarkTool("pen"), a: () => setMarkTool("arrow"), r: () => setMarkTool("box") };
  /** @type {Record<string, () => void>} */
  const viewKeys = {
    "[": () => resize(false), "]": () => resize(true),
    "+": () => view.zoomCentre(1.5), "=": () => view.zoomCentre(1.5), "-": () => view.zoomCentre(1 / 1.5),
    0: () => view.fit(),
  };
  /** @param {KeyboardEvent} e */
  const onKey = (e) => {
    const key = e.key.toLowerCase();
    if (e.ctrlKey || e.metaKey) {
      if ((key === "z" && e.shiftKey) || key === "y") redo.click();
      else if (key === "z") undo.click();
      else return false; // the browser's and the notebook's own (Ctrl+S...)
      return true;
    }
    if (e.altKey || typing(e)) return false;
    if (e.key === " ") {
      spaceHeld = true;
      root.dataset.space = "true";
      return true;
    }
    const action = viewKeys[e.key] ?? (inMarkup() ? markupKeys : maskKeys)[key];
    action?.();
    return Boolean(action);
  };
  stops.push(takeKeys(root, onKey));
  const onKeyUp = (/** @type {KeyboardEvent} */ e) => {
    if (e.key !== " ") return;
    spaceHeld = false;
    delete root.dataset.space;
  };
  root.addEventListener("keyup", onKeyUp);
  root.addEventListener("blur", () => { spaceHeld = false; delete root.dataset.space; });
  focusOnPress(root, wrap);

  // -- marking -----------------------------------------------------------------------------------
  function replayMarks() {
    mctx.clearRect(0, 0, W, H);
    if (markBase) mctx.putImageData(markBase, 0, 0);
    for (const mark of markOps.done) drawMark(mctx, W, H, mark);
    showSteps();
  }

  /** @param {Mark} mark */
  function commitMark(mark) {
    markOps.push(mark);
    drawMark(mctx, W, H, mark);
    sendMarkup();
  }

  /** @type {Mark | null} */
  let drawing = null;
  /** @type {ImageData | null} the marks under an arrow or box being dragged, put back at each move */
  let under = null;
  marks.addEventListener("pointerdown", (e) => {
    if (e.button !== 0) return;
    e.preventDefault();
    marks.setPointerCapture(e.pointerId);
    const at = toImage(e);
    const style = { color: String(model.get("color")), width: Number(model.get("line_width")) };
    drawing = markTool === "pen" ? { kind: "pen", ...style, points: [at] } : { kind: markTool, ...style, from: at, to: at };
    if (drawing.kind === "pen") drawMark(mctx, W, H, drawing);
    else under = mctx.getImageData(0, 0, W, H);
  });
  marks.addEventListener("pointermove", (e) => {
    if (!drawing || drawing.kind === "clear") return;
    if (drawing.kind === "pen") {
      drawing.points.push(toImage(e));
      drawMark(mctx, W, H, { ...drawing, points: drawing.points.slice(-2) }); // only the new segment
    } else {
      drawing.to = toImage(e);
      if (under) mctx.putImageData(under, 0, 0);
      drawMark(mctx, W, H, drawing); // the shape follows the pointer until it is let go
    }
  });
  const endMark = () => {
    const done = drawing;
    drawing = null;
    under = null;
    if (!done || done.kind === "clear") return;
    const shapeTooSmall = done.kind !== "pen" && Math.hypot(done.to[0] - done.from[0], done.to[1] - done.from[1]) < 2;
    if (shapeTooSmall) { // a click is no arrow or box
      replayMarks();
      return;
    }
    markOps.push(done);
    replayMarks(); // the pen's segments again, as one path
    sendMarkup();
  };
  marks.addEventListener("pointerup", endMark);
  marks.addEventListener("pointercancel", endMark);
  showSteps();

  // -- messages from the kernel -------------------------------------------------------------------
  /** The input image beside the result, drawn from the backdrop (no second download). */
  const drawBefore = () => {
    const scale = Math.min(1, 512 / Math.max(W, H));
    before.width = Math.round(W * scale);
    before.height = Math.round(H * scale);
    /** @type {CanvasRenderingContext2D} */ (before.getContext("2d")).drawImage(backdrop, 0, 0, before.width, before.height);
  };
  let resultUrl = "";
  stops.push(listen(model, {
    async image(msg, blob) {
      if (msg.slot === "result") {
        urls.revoke(resultUrl);
        resultUrl = await urls.fromBlob(blob);
        after.src = resultUrl;
        afterLabel.textContent = msg.total > 1 ? `After (1 of ${msg.total})` : "After";
        drawBefore();
        compare.hidden = false;
        root.dataset.result = "shown";
        return;
      }
      const bitmap = await createImageBitmap(blob);
      if (msg.slot === "backdrop") {
        const bctx = /** @type {CanvasRenderingContext2D} */ (backdrop.getContext("2d"));
        bctx.clearRect(0, 0, W, H);
        bctx.drawImage(bitmap, 0, 0, W, H);
        if (!compare.hidden) drawBefore(); // a result shown first (a new view) compares with this
        root.dataset.ready = "true";
        root.dataset.backdropVersion = String(Number(root.dataset.backdropVersion || 0) + 1);
      } else if (msg.slot === "mask") {
        // A grey-level PNG (255 = painted) from the kernel replaces the painting; undo restarts.
        const scratch = new OffscreenCanvas(W, H);
        const sctx = /** @type {OffscreenCanvasRenderingContext2D} */ (scratch.getContext("2d"));
        sctx.drawImage(bitmap, 0, 0, W, H);
        const pixels = sctx.getImageData(0, 0, W, H);
        const d = pixels.data;
        for (let i = 0; i < d.length; i += 4) {
          const on = d[i] > 127;
          d[i] = PAINT[0]; d[i + 1] = PAINT[1]; d[i + 2] = PAINT[2]; d[i + 3] = on ? 255 : 0;
        }
        base = pixels;
        ops.reset();
        replay();
      } else if (msg.slot === "markup") {
        // The kernel's markup (an RGBA PNG) replaces the marks; undo restarts.
        mctx.clearRect(0, 0, W, H);
        mctx.drawImage(bitmap, 0, 0, W, H);
        markBase = mctx.getImageData(0, 0, W, H);
        markOps.reset();
        replayMarks();
      }
      bitmap.close();
    },
    "result-clear"() {
      compare.hidden = true;
      delete root.dataset.result;
      after.removeAttribute("src");
      urls.revoke(resultUrl);
      resultUrl = "";
    },
  }));

  // With no kernel (a saved notebook), at least show the thumbnail as the backdrop.
  const thumb = toBytes(model.get("thumbnail"));
  if (thumb.length) {
    const url = urls.make(thumb);
    const image = new Image();
    image.onload = () => {
      if (!root.dataset.ready) /** @type {CanvasRenderingContext2D} */ (backdrop.getContext("2d")).drawImage(image, 0, 0, W, H);
      urls.revoke(url);
    };
    image.src = url;
  }

  act(model, "hello");
  return () => {
    for (const stop of stops) stop();
    root.removeEventListener("keyup", onKeyUp);
    urls.revokeAll();
  };
}

export default { render };
