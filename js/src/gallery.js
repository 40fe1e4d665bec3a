// Gallery view: a page of stored images; click one to select it and see it large.
//
// The enlarged view is a dialog over the grid, placed at the clicked card's height (the page
// does not jump); it keeps the focus and its keys (Escape closes, the arrows step through the
// page) and gives the focus back to the card on close. While the widget is on screen it asks
// the kernel every few seconds whether the store changed, so new images appear by themselves.
import { act, actionBar, errorLine, focusOnPress, h, listen, openedSlot, takeKeys, typing, UrlBag, watch } from "./_shared.js";

/** @typedef {import("./_shared.js").Model} Model */
/** @typedef {{ id: string, prompt: string, revised_prompt: string, model: string, created: number,
 *   width: number, height: number, kind: string, size: string, problem?: string }} Item
 * ``problem``: why the image cannot be shown ("file missing", "file damaged"), else empty. */

/** @param {Item} item */
function dims(item) {
  return item.width && item.height ? `${item.width}×${item.height}` : "";
}

const POLL_SECONDS = 3;

/** Previous and next page buttons; `name` prefixes their hooks. @param {string} name */
function pagerButtons(name) {
  return [
    /** @type {HTMLButtonElement} */ (h("button", { hook: `${name}-prev`, class: "nbi-btn", type: "button", title: "Newer images" }, "‹ Prev")),
    /** @type {HTMLButtonElement} */ (h("button", { hook: `${name}-next`, class: "nbi-btn", type: "button", title: "Older images" }, "Next ›")),
  ];
}

/** @param {number} seconds */
function when(seconds) {
  return seconds ? new Date(seconds * 1000).toLocaleString() : "";
}

/** @param {{ model: Model, el: HTMLElement }} context */
function render({ model, el }) {
  const urls = new UrlBag();
  /** @type {(() => void)[]} */
  const stops = [];
  /** @type {Map<string, string>} image id -> thumbnail URL */
  const thumbs = new Map();
  let enlarged = false;
  let largeUrl = "";

  const search = /** @type {HTMLInputElement} */ (h("input", {
    hook: "search", class: "nbi-input nbi-search", type: "search", placeholder: "Search prompts and models…",
  }));
  const count = h("span", { hook: "count", class: "nbi-status__text" });
  const [prev, next] = pagerButtons("pager");
  const reload = h("button", { hook: "refresh", class: "nbi-btn", type: "button", title: "Look for new images now" }, "Refresh");
  const pager = h("div", { hook: "pager", class: "nbi-row nbi-row--tight" }, prev, next, reload);
  const [prevBelow, nextBelow] = pagerButtons("pager-bottom");
  const countBelow = h("span", { class: "nbi-status__text" });
  const pagerBelow = h("div", { hook: "pager-bottom", class: "nbi-row nbi-row--tight nbi-pager-bottom" }, countBelow, prevBelow, nextBelow);
  const grid = h("div", { hook: "gallery-grid", class: "nbi-grid", role: "list" });
  const empty = h("div", { hook: "empty", class: "nbi-empty", hidden: true });

  const largeImg = /** @type {HTMLImageElement} */ (h("img", { hook: "enlarged-img", class: "nbi-detail__img", alt: "" }));
  const detailPrompt = h("p", { hook: "enlarged-prompt", class: "nbi-detail__prompt" });
  const detailRevised = h("p", { class: "nbi-detail__revised" });
  const detailMeta = h("p", { hook: "enlarged-meta", class: "nbi-detail__meta" });
  const actions = actionBar(model, {
    target: () => ({ id: detail.dataset.id }),
    prompt: () => items().find((item) => item.id === detail.dataset.id)?.prompt ?? "",
    paint: true,
    refine: true,
  });
  stops.push(actions.stop);
  const close = h("button", { hook: "enlarged-close", class: "nbi-btn nbi-detail__close", type: "button", title: "Close (Esc)", "aria-label": "Close" }, "×");
  const panel = h("div", { class: "nbi-detail__panel", role: "dialog", "aria-modal": "true", "aria-label": "Enlarged image (Esc closes, ← → step)", tabIndex: -1 },
    h("div", { class: "nbi-detail__frame" }, largeImg),
    h("div", { class: "nbi-detail__text" }, close, detailPrompt, detailRevised, detailMeta, actions.el));
  // An overlay over the grid, not a block above it: the clicked card stays where it was.
  const detail = h("div", { hook: "enlarged", class: "nbi-detail", hidden: true }, panel);
  const body = h("div", { class: "nbi-gallery__body" }, grid, empty, detail);
  const [error, stopError] = errorLine(model);
  stops.push(stopError);

  const opened = openedSlot(model);
  stops.push(opened.stop);
  const root = h("div", { hook: "gallery", class: "nbi nbi-gallery" },
    h("div", { class: "nbi-toolbar" }, search, count, pager),
    body, pagerBelow, error, opened.el);
  el.replaceChildren(root);

  // A short grid (one row) grows while the overlay is open, so the whole panel fits in the widget.
  const fit = new ResizeObserver(() => {
    body.style.minHeight = detail.hidden ? "" : `${panel.offsetTop + panel.offsetHeight + 16}px`;
  });
  fit.observe(panel);
  stops.push(() => fit.disconnect());

  /** @returns {Item[]} */
  const items = () => model.get("items");
  const selected = () => /** @type {string} */ (model.get("selected_id"));

  function renderGrid() {
    const list = items();
    const page = model.get("page");
    const pages = Math.max(1, Math.ceil(model.get("total") / model.get("page_size")));
    count.textContent = `${model.get("total")} image${model.get("total") === 1 ? "" : "s"} · page ${page + 1} of ${pages}`;
    countBelow.textContent = `page ${page + 1} of ${pages}`;
    for (const box of [pager, pagerBelow]) {
      box.dataset.page = String(page);
      box.dataset.pages = String(pages);
    }
    prev.disabled = prevBelow.disabled = page <= 0;
    next.disabled = nextBelow.disabled = page >= pages - 1;
    pagerBelow.hidden = pages <= 1 || list.length === 0;
    empty.hidden = list.length > 0;
    empty.textContent = model.get("search")
      ? "No stored image matches this search."
      : "No images stored yet: generate one with %%imagine or the Studio, then Refresh.";
    const focused = grid.contains(document.activeElement) ? /** @type {HTMLElement} */ (document.activeElement).dataset.id : "";
    grid.replaceChildren(...list.map((item) => {
      const url = thumbs.get(item.id);
      return h("button", {
        hook: "gallery-item", class: "nbi-card" + (item.id === selected() ? " is-selected" : ""),
        type: "button", role: "listitem", title: item.prompt || "(no prompt)",
        "aria-pressed": String(item.id === selected()),
        dataset: { id: item.id, selected: String(item.id === selected()) },
        onclick: (/** @type {MouseEvent} */ e) => {
          if (!item.problem) placeDetail(/** @type {HTMLElement} */ (e.currentTarget));
          open(item);
        },
      },
      h("span", { class: "nbi-card__frame" }, item.problem
        ? h("span", { hook: "gallery-item-problem", class: "nbi-card__problem", text: item.problem })
        : url ? h("img", { src: url, alt: "", loading: "lazy" }) : null),
      h("span", { hook: "gallery-item-prompt", class: "nbi-card__prompt", text: item.prompt || "(no prompt)" }),
      h("span", { hook: "gallery-item-meta", class: "nbi-card__meta" },
        item.model ? h("span", { class: "nbi-card__model", text: item.model }) : null,
        dims(item) ? h("span", { class: "nbi-card__size", text: dims(item) }) : null));
    }));
    if (focused) cardOf(focused)?.focus({ preventScroll: true }); // the new card of the same image keeps the focus
  }

  /** The card of image `id` on this page. @param {string | undefined} id */
  function cardOf(id) {
    return /** @type {HTMLElement | undefined} */ ([...grid.children].find((c) => /** @type {HTMLElement} */ (c).dataset.id === id));
  }

  /** Select `item` and show it enlarged (for a missing file the error line says where it was). @param {Item} item */
  function open(item) {
    if (!item.problem) {
      enlarged = true;
      showDetail(item);
    }
    act(model, "select", { id: item.id });
  }

  /** Put the dialog at the height of the card clicked, within the grid: the page stays where it is. @param {HTMLElement} card */
  function placeDetail(card) {
    const room = Math.max(0, grid.offsetHeight - (panel.offsetHeight || 360));
    panel.style.marginTop = `${Math.min(Math.max(0, card.offsetTop - 8), room)}px`;
  }

  /** The image `step` cards before or after the enlarged one on this page. @param {number} step */
  function stepDetail(step) {
    const list = items().filter((item) => !item.problem);
    const at = list.findIndex((item) => item.id === detail.dataset.id);
    const item = list[at + step];
    if (at >= 0 && item) open(item);
  }

  /** @param {Item} item */
  function showDetail(item) {
    const opening = detail.hidden;
    if (detail.dataset.id !== item.id) actions.say(""); // a note about the image shown before
    detail.hidden = false;
    detail.dataset.id = item.id;
    detailPrompt.textContent = item.prompt || "(no prompt)";
    detailRevised.textContent = item.revised_prompt && item.revised_prompt !== item.prompt
      ? `Revised: ${item.revised_prompt}` : "";
    detailMeta.textContent = [item.model, dims(item), item.size && `asked ${item.size}`, when(item.created), item.id]
      .filter(Boolean).join(" · ");
    const thumb = thumbs.get(item.id);
    if (largeImg.dataset.id !== item.id && thumb) {
      largeImg.src = thumb; // the large one replaces it when it arrives
      largeImg.dataset.id = item.id;
      largeImg.dataset.full = "false";
    }
    if (opening) {
      panel.focus({ preventScroll: true }); // so Escape and the arrows reach the widget
      panel.scrollIntoView({ block: "nearest" });
    }
  }

  function hideDetail() {
    if (detail.hidden) return;
    enlarged = false;
    detail.hidden = true;
    body.style.minHeight = "";
    const card = cardOf(detail.dataset.id);
    if (!card) return;
    card.focus({ preventScroll: true });
    card.scrollIntoView({ block: "nearest" }); // back to the card, wherever the arrows led
  }

  stops.push(watch(model, ["items", "total", "page", "page_size", "search"], renderGrid));
  // The selection changes the cards in place: rebuilding them would drop the card the focus
  // or the pointer is on while the kernel's answer to a click or an arrow key arrives.
  function markSelected() {
    for (const card of /** @type {HTMLElement[]} */ ([...grid.children])) {
      const on = card.dataset.id === selected();
      card.classList.toggle("is-selected", on);
      card.setAttribute("aria-pressed", String(on));
      card.dataset.selected = String(on);
    }
  }
  stops.push(watch(model, "selected_id", () => {
    root.dataset.selected = selected();
    markSelected();
    if (!selected()) hideDetail();
  }));
  stops.push(watch(model, "search", () => {
    if (search.value !== model.get("search")) search.value = model.get("search");
  }));
  stops.push(watch(model, ["page", "search"], hideDetail)); // the image is no longer on the page

  let debounce = 0;
  search.addEventListener("input", () => {
    clearTimeout(debounce);
    debounce = window.setTimeout(() => {
      model.set("search", search.value);
      model.save_changes();
    }, 300);
  });
  stops.push(() => clearTimeout(debounce));
  /** @param {number} delta */
  const turn = (delta) => {
    model.set("page", Math.max(0, model.get("page") + delta));
    model.save_changes();
  };
  for (const button of [prev, prevBelow]) button.addEventListener("click", () => turn(-1));
  for (const button of [next, nextBelow]) button.addEventListener("click", () => turn(1));
  reload.addEventListener("click", () => act(model, "refresh"));
  close.addEventListener("click", hideDetail);
  // A painter or Studio opened from the enlarged view is shown below the grid: the overlay makes way.
  stops.push(watch(model, "_opened", () => { if (model.get("_opened") && !detail.hidden) hideDetail(); }));
  detail.addEventListener("click", (e) => {
    if (e.target === detail) hideDetail(); // beside the panel
  });
  /** @type {Record<string, () => void>} */
  const detailKeys = { Escape: hideDetail, ArrowLeft: () => stepDetail(-1), ArrowRight: () => stepDetail(1) };
  stops.push(takeKeys(root, (e) => {
    const ignored = detail.hidden || e.ctrlKey || e.metaKey || e.altKey || typing(e); // arrows move the search box's caret
    const action = ignored ? undefined : detailKeys[e.key];
    action?.();
    return Boolean(action);
  }));
  focusOnPress(root, panel);

  // New images appear by themselves: while the widget is on screen and the tab visible, the
  // kernel is asked every few seconds whether the store changed (a count and the newest id).
  let onScreen = false;
  const seen = new IntersectionObserver(([entry]) => { onScreen = entry.isIntersecting; });
  seen.observe(root);
  const poll = window.setInterval(() => {
    if (onScreen && document.visibilityState === "visible") act(model, "poll");
  }, POLL_SECONDS * 1000);
  stops.push(() => { seen.disconnect(); clearInterval(poll); });

  stops.push(listen(model, {
    thumbs(msg, buffers) {
      msg.items.forEach((/** @type {{id: string, mime: string}} */ item, /** @type {number} */ i) => {
        urls.revoke(thumbs.get(item.id));
        thumbs.set(item.id, urls.make(buffers[i], item.mime));
      });
      renderGrid();
    },
    async image(msg, blob) {
      if (msg.slot !== "large" || msg.id !== selected() && msg.id !== detail.dataset.id) return;
      const url = await urls.fromBlob(blob);
      if (msg.id !== selected() && msg.id !== detail.dataset.id) return; // another image was picked meanwhile
      const old = largeUrl;
      largeUrl = url;
      largeImg.onload = () => {
        largeImg.dataset.full = "true";
        urls.revoke(old);
      };
      largeImg.src = largeUrl;
      largeImg.dataset.id = msg.id;
      const item = items().find((it) => it.id === msg.id);
      if (item && enlarged) showDetail(item);
    },
  }));

  act(model, "hello", { enlarged: false });
  return () => {
    for (const stop of stops) stop();
    urls.revokeAll();
  };
}

export default { render };
