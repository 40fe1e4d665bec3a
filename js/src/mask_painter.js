// MaskPainter view: paint on a canvas of the image's own size, CSS-scaled to fit (at most
// 70% of the window's height, keeping the aspect ratio).
//
// The painted layer is the list of operations since the last mask the kernel sent
// (strokes, clear, invert), so undo replays all but the last one. After each change the
// layer goes to the kernel as a PNG whose opaque pixels are the painted ones.
import { act, bindText, errorLine, h, listen, QUIET_KEYS, toBytes, UrlBag, watch } from "./_shared.js";

/** @typedef {import("./_shared.js").Model} Model */
/** @typedef {{ kind: "stroke", erase: boolean, size: number, points: [number, number][] }
 *   | { kind: "clear" } | { kind: "invert" }} Op */

const PAINT = [255, 45, 110]; // the overlay colour; its opacity is a trait

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
  const cursor = h("div", { hook: "cursor", class: "nbi-cursor", hidden: true });
  const wrap = h("div", { hook: "canvas-wrap", class: "nbi-canvas-wrap", style: { aspectRatio: `${W} / ${H}`, width: `min(100%, 900px, ${(70 * W / H).toFixed(3)}vh)` } }, backdrop, layer, cursor);
  const ctx = /** @type {CanvasRenderingContext2D} */ (layer.getContext("2d", { willReadFrequently: true }));

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
  const caption = h("p", { hook: "caption", class: "nbi-caption" });
  const [error, stopError] = errorLine(model);
  stops.push(stopError, bindText(model, "caption", caption));

  const root = h("div", { hook: "mask-painter", class: "nbi nbi-painter", tabIndex: 0, ...QUIET_KEYS },
    h("div", { class: "nbi-toolbar" },
      h("div", { class: "nbi-seg", role: "group", "aria-label": "Tool" }, brush, eraser),
      slider("Size", sizeInput, sizeOut),
      slider("Overlay", opacityInput, opacityOut),
      h("div", { class: "nbi-row nbi-row--tight" }, undo, invert, clear)),
    wrap,
    h("div", { class: "nbi-status" }, painted,
      h("span", { class: "nbi-hint", text: `${W}×${H} · wheel over the image changes the brush size` })),
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

  const setTool = (/** @type {boolean} */ toEraser) => {
    erase = toEraser;
    brush.setAttribute("aria-pressed", String(!erase));
    eraser.setAttribute("aria-pressed", String(erase));
    root.dataset.tool = erase ? "eraser" : "brush";
  };
  setTool(false);

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
  stops.push(watch(model, "painted_pixels", () => {
    painted.textContent = `${paintedShare(Number(model.get("painted_pixels")), W * H)} painted`;
  }));
  stops.push(watch(model, "mask_version", () => { root.dataset.maskVersion = String(model.get("mask_version")); }));

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

  // Masks go to the kernel one after the other, in the order they were painted.
  let sending = Promise.resolve();
  function sendMask() {
    undo.disabled = ops.length === 0;
    sending = sending.then(() => new Promise((resolve) => {
      layer.toBlob(async (blob) => {
        if (blob) {
          act(model, "mask", {}, [await blob.arrayBuffer()]);
          root.dataset.masksSent = String(Number(root.dataset.masksSent || 0) + 1);
        }
        resolve(undefined);
      }, "image/png");
    }));
  }

  /** @param {Op} op */
  function commit(op) {
    ops.push(op);
    apply(op);
    sendMask();
  }

  // Pointer position in the image's own pixels, whatever the CSS scale.
  /** @param {PointerEvent | WheelEvent} e @returns {[number, number]} */
  function toImage(e) {
    const r = layer.getBoundingClientRect();
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
  clear.addEventListener("click", () => commit({ kind: "clear" }));
  invert.addEventListener("click", () => commit({ kind: "invert" }));
  undo.addEventListener("click", () => {
    if (!ops.length) return;
    ops.pop();
    replay();
    sendMask();
  });
  root.addEventListener("keydown", (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key === "z") { e.preventDefault(); undo.click(); }
    else if (e.key === "b") setTool(false);
    else if (e.key === "e") setTool(true);
  });
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
