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
import { act, bindControl, bindText, errorLine, h, listen, QUIET_KEYS, toBytes, UrlBag, watch } from "./_shared.js";

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

/** @param {{ model: Model, el: HTMLElement }} context */
function render({ model, el }) {
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
  const wrap = h("div", { hook: "canvas-wrap", class: "nbi-canvas-wrap", style: { aspectRatio: `${W} / ${H}`, width: `min(100%, 900px, ${(70 * W / H).toFixed(3)}vh)` } }, backdrop, layer, marks, cursor);
  const ctx = /** @type {CanvasRenderingContext2D} */ (layer.getContext("2d", { willReadFrequently: true }));
  const mctx = /** @type {CanvasRenderingContext2D} */ (marks.getContext("2d", { willReadFrequently: true }));

  // -- toolbar -------------------------------------------------------------------------------
  const brush = h("button", { hook: "brush", class: "nbi-btn nbi-tool", type: "button", title: "Paint where the edit may change the image (B)" }, "Brush");
  const eraser = h("button", { hook: "eraser", class: "nbi-btn nbi-tool", type: "button", title: "Erase paint (E)" }, "Eraser");
  const maxSize = Math.max(8, Math.round(Math.max(W, H) / 2));
  const sizeInput = /** @type {HTMLInputElement} */ (h("input", { hook: "brush-size", type: "range", min: 1, max: maxSize, step: 1 }));
  const sizeOut = h("output", { class: "nbi-value" });
  const opacityInput = /** @type {HTMLInputElement} */ (h("input", { hook: "opacity", type: "range", min: 0, max: 100, step: 1 }));
  const opacityOut = h("output", { class: "nbi-value" });
  const undo = /** @type {HTMLButtonElement} */ (h("button", { hook: "undo", class: "nbi-btn", type: "button", title: "Undo the last change (Ctrl+Z)" }, "Undo"));
  const invert = h("button", { hook: "invert", class: "nbi-btn", type: "button", title: "Swap painted and unpainted" }, "Invert");
  const clear = h("button", { hook: "clear", class: "nbi-btn nbi-btn--danger", type: "button", title: "Erase everything" }, "Clear");
  const painted = h("span", { hook: "painted", class: "nbi-status__text nbi-painted" });
  const hint = h("span", { class: "nbi-hint" });
  const caption = h("p", { hook: "caption", class: "nbi-caption" });
  const [error, stopError] = errorLine(model);
  stops.push(stopError, bindText(model, "caption", caption));

  const maskMode = h("button", { hook: "mode-mask", class: "nbi-btn nbi-tool", type: "button", title: "Paint a mask: where the edit may change the image" }, "Mask");
  const markupMode = h("button", { hook: "mode-markup", class: "nbi-btn nbi-tool", type: "button", title: "Draw marks over the image to guide the edit (a markup, GPT Image 2.5)" }, "Markup");
  const pen = h("button", { hook: "pen", class: "nbi-btn nbi-tool", type: "button", title: "Draw freehand (P)" }, "Pen");
  const arrowTool = h("button", { hook: "arrow", class: "nbi-btn nbi-tool", type: "button", title: "Draw an arrow (A)" }, "Arrow");
  const boxTool = h("button", { hook: "box", class: "nbi-btn nbi-tool", type: "button", title: "Draw a box (R)" }, "Box");
  const [palette, stopPalette] = swatches(model);
  const colorInput = /** @type {HTMLInputElement} */ (h("input", { hook: "color", type: "color", title: "Pick any colour" }));
  const maxWidth = Math.max(8, Math.round(Math.max(W, H) / 16));
  const widthInput = /** @type {HTMLInputElement} */ (h("input", { hook: "line-width", type: "range", min: 1, max: maxWidth, step: 1 }));
  const widthOut = h("output", { class: "nbi-value" });
  stops.push(stopPalette, bindControl(model, "color", colorInput, { event: "input" }),
    bindControl(model, "line_width", widthInput, { parse: Number, event: "input" }),
    watch(model, "line_width", () => { widthOut.textContent = `${model.get("line_width")} px`; }));

  const maskTools = [
    h("div", { class: "nbi-seg", role: "group", "aria-label": "Tool" }, brush, eraser),
    slider("Size", sizeInput, sizeOut),
    slider("Overlay", opacityInput, opacityOut),
  ];
  const maskOnly = [...maskTools, invert];
  const markupOnly = [
    h("div", { class: "nbi-seg", role: "group", "aria-label": "Mark" }, pen, arrowTool, boxTool),
    h("div", { class: "nbi-row nbi-row--tight", role: "group", "aria-label": "Colour" }, ...palette, colorInput),
    slider("Width", widthInput, widthOut),
  ];
  const root = h("div", { hook: "mask-painter", class: "nbi nbi-painter", tabIndex: 0, ...QUIET_KEYS },
    h("div", { class: "nbi-toolbar" },
      h("div", { class: "nbi-seg", role: "group", "aria-label": "Mode" }, maskMode, markupMode),
      ...maskTools, ...markupOnly,
      h("div", { class: "nbi-row nbi-row--tight" }, undo, invert, clear)),
    wrap,
    h("div", { class: "nbi-status" }, painted, hint),
    caption, error);
  el.replaceChildren(root);

  // -- state ----------------------------------------------------------------------------------
  /** @type {ImageData | null} */
  let base = null; // the last mask the kernel sent, as painted pixels
  /** @type {Op[]} */
  const ops = [];
  let erase = false;
  /** @type {PointerEvent | null} */
  let lastPointer = null; // for the brush outline
  /** @type {ImageData | null} */
  let markBase = null; // the last markup the kernel sent
  /** @type {Mark[]} */
  const markOps = [];
  /** @type {"pen" | "arrow" | "box"} */
  let markTool = "pen";
  const inMarkup = () => model.get("mode") === "markup";
  const currentOps = () => (inMarkup() ? markOps : ops);

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
    hint.textContent = `${W}×${H} · wheel over the image changes the ${markup ? "line width" : "brush size"}`;
    undo.disabled = currentOps().length === 0;
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
    sizeInput.value = String(model.get("brush_size"));
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
  sizeInput.addEventListener("input", () => setTrait("brush_size", Number(sizeInput.value)));
  opacityInput.addEventListener("input", () => setTrait("overlay_opacity", Number(opacityInput.value) / 100));

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
    for (const op of ops) apply(op);
    undo.disabled = ops.length === 0;
  }

  // Layers go to the kernel one after the other, in the order they were painted.
  let sending = Promise.resolve();
  /** @param {HTMLCanvasElement} canvas @param {"mask" | "markup"} action @param {"masksSent" | "markupsSent"} counter */
  function sendLayer(canvas, action, counter) {
    undo.disabled = currentOps().length === 0;
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

  // Pointer position in the image's own pixels, whatever the CSS scale.
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
      left: `${lastPointer.clientX - w.left - diameter / 2}px`, top: `${lastPointer.clientY - w.top - diameter / 2}px`,
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
  layer.addEventListener("wheel", (e) => {
    e.preventDefault();
    const size = Number(model.get("brush_size"));
    const next = Math.round(e.deltaY < 0 ? size * 1.15 + 1 : size / 1.15);
    setTrait("brush_size", Math.min(maxSize, Math.max(1, next)));
  }, { passive: false });

  brush.addEventListener("click", () => setTool(false));
  eraser.addEventListener("click", () => setTool(true));
  clear.addEventListener("click", () => (inMarkup() ? commitMark({ kind: "clear" }) : commit({ kind: "clear" })));
  invert.addEventListener("click", () => commit({ kind: "invert" }));
  undo.addEventListener("click", () => {
    const list = currentOps();
    if (!list.length) return;
    list.pop();
    if (inMarkup()) {
      replayMarks();
      sendMarkup();
    } else {
      replay();
      sendMask();
    }
  });
  /** @type {Record<string, () => void>} */
  const maskKeys = { b: () => setTool(false), e: () => setTool(true) };
  /** @type {Record<string, () => void>} */
  const markupKeys = { p: () => setMarkTool("pen"), a: () => setMarkTool("arrow"), r: () => setMarkTool("box") };
  root.addEventListener("keydown", (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key === "z") { e.preventDefault(); undo.click(); }
    else (inMarkup() ? markupKeys : maskKeys)[e.key]?.();
  });
  pen.addEventListener("click", () => setMarkTool("pen"));
  arrowTool.addEventListener("click", () => setMarkTool("arrow"));
  boxTool.addEventListener("click", () => setMarkTool("box"));

  // -- marking -----------------------------------------------------------------------------------
  function replayMarks() {
    mctx.clearRect(0, 0, W, H);
    if (markBase) mctx.putImageData(markBase, 0, 0);
    for (const mark of markOps) drawMark(mctx, W, H, mark);
    undo.disabled = markOps.length === 0;
  }

  /** @param {Mark} mark */
  function commitMark(mark) {
    markOps.push(mark);
    drawMark(mctx, W, H, mark);
    sendMarkup();
  }

  /** @type {Mark | null} */
  let drawing = null;
  marks.addEventListener("pointerdown", (e) => {
    if (e.button !== 0) return;
    e.preventDefault();
    marks.setPointerCapture(e.pointerId);
    const at = toImage(e);
    const style = { color: String(model.get("color")), width: Number(model.get("line_width")) };
    drawing = markTool === "pen" ? { kind: "pen", ...style, points: [at] } : { kind: markTool, ...style, from: at, to: at };
    if (drawing.kind === "pen") drawMark(mctx, W, H, drawing);
  });
  marks.addEventListener("pointermove", (e) => {
    if (!drawing || drawing.kind === "clear") return;
    if (drawing.kind === "pen") {
      drawing.points.push(toImage(e));
      drawMark(mctx, W, H, { ...drawing, points: drawing.points.slice(-2) }); // only the new segment
    } else {
      drawing.to = toImage(e);
      replayMarks();
      drawMark(mctx, W, H, drawing); // the shape follows the pointer until it is let go
    }
  });
  const endMark = () => {
    const done = drawing;
    drawing = null;
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
  marks.addEventListener("wheel", (e) => {
    e.preventDefault();
    const width = Number(model.get("line_width"));
    const next = Math.round(e.deltaY < 0 ? width * 1.15 + 1 : width / 1.15);
    setTrait("line_width", Math.min(maxWidth, Math.max(1, next)));
  }, { passive: false });
  undo.disabled = true;

  // -- messages from the kernel -------------------------------------------------------------------
  stops.push(listen(model, {
    async image(msg, blob) {
      const bitmap = await createImageBitmap(blob);
      if (msg.slot === "backdrop") {
        const bctx = /** @type {CanvasRenderingContext2D} */ (backdrop.getContext("2d"));
        bctx.drawImage(bitmap, 0, 0, W, H);
        root.dataset.ready = "true";
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
        ops.length = 0;
        replay();
      } else if (msg.slot === "markup") {
        // The kernel's markup (an RGBA PNG) replaces the marks; undo restarts.
        mctx.clearRect(0, 0, W, H);
        mctx.drawImage(bitmap, 0, 0, W, H);
        markBase = mctx.getImageData(0, 0, W, H);
        markOps.length = 0;
        replayMarks();
      }
      bitmap.close();
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
    urls.revokeAll();
  };
}

export default { render };
