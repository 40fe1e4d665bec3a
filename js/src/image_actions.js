// The line under a %%imagine output: a ticking clock and the phase while the image is being
// made, then the action bar (with a choice of image when the output has several).
import { actionBar, errorLine, h, openedSlot, setPhrases, takeKeys, watch } from "./_shared.js";

/** @typedef {import("./_shared.js").Model} Model */

/** @param {{ model: Model, el: HTMLElement }} context */
function render({ model, el }) {
  /** @type {(() => void)[]} */
  const stops = [];
  const phase = h("span", { hook: "phase", class: "nbi-status__text" });
  const clock = h("span", { hook: "clock", class: "nbi-status__elapsed" });
  const status = h("div", { hook: "status", class: "nbi-status", "aria-live": "polite" },
    h("span", { class: "nbi-spinner", "aria-hidden": "true" }), phase, clock);
  const choice = /** @type {HTMLSelectElement} */ (h("select", { hook: "image-choice", class: "nbi-input nbi-image-choice", title: "Which image the actions are for" }));
  const actions = actionBar(model, {
    target: () => ({ index: Number(choice.value || 0) }),
    prompt: () => String(model.get("prompt") ?? ""),
    paint: true,
    refine: true,
  });
  stops.push(actions.stop);
  actions.el.prepend(choice);
  const [error, stopError] = errorLine(model);
  stops.push(stopError);
  const opened = openedSlot(model);
  stops.push(opened.stop);
  const root = h("div", { hook: "image-actions", class: "nbi nbi-image-actions" }, status, actions.el, error, opened.el);
  stops.push(takeKeys(root, () => false));
  el.replaceChildren(root);

  // The kernel sends the elapsed time with each phase; the clock counts on from there locally.
  let since = performance.now();
  let timer = 0;
  const tick = () => {
    const seconds = Number(model.get("elapsed")) + (performance.now() - since) / 1000;
    clock.textContent = `${seconds.toFixed(1)} s`;
  };
  stops.push(watch(model, ["running", "elapsed", "phase"], () => {
    since = performance.now();
    const running = Boolean(model.get("running"));
    root.classList.toggle("is-busy", running);
    status.hidden = !running;
    setPhrases(phase, String(model.get("phase") ?? ""));
    clearInterval(timer);
    if (running) {
      tick();
      timer = window.setInterval(tick, 100);
    }
  }));
  stops.push(() => clearInterval(timer));
  stops.push(watch(model, "count", () => {
    const count = Number(model.get("count"));
    actions.el.hidden = count === 0;
    choice.hidden = count < 2;
    choice.replaceChildren(...Array.from({ length: count }, (_, i) => h("option", { value: String(i), text: `Image ${i + 1} of ${count}` })));
  }));
  return () => stops.forEach((stop) => stop());
}

export default { render };
