// Gallery view: a page of stored images; click one to select it and see it large.
import { act, errorLine, h, listen, QUIET_KEYS, UrlBag, watch } from "./_shared.js";

/** @typedef {import("./_shared.js").Model} Model */
/** @typedef {{ id: string, prompt: string, revised_prompt: string, model: string, created: number,
 *   width: number, height: number, kind: string, size: string, problem?: string }} Item
 * ``problem``: why the image cannot be shown ("file missing", "file damaged"), else empty. */

/** @param {Item} item */
function dims(item) {
  return item.width && item.height ? `${item.width}×${item.height}` : "";
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
    hook: "search", class: "nbi-input nbi-search", type: "search", placeholder: "Search prompts and models…", ...QUIET_KEYS,
  }));
  const count = h("span", { hook: "count", class: "nbi-status__text" });
  const prev = /** @type {HTMLButtonElement} */ (h("button", { hook: "pager-prev", class: "nbi-btn", type: "button", title: "Newer images" }, "‹ Prev"));
  const next = /** @type {HTMLButtonElement} */ (h("button", { hook: "pager-next", class: "nbi-btn", type: "button", title: "Older images" }, "Next ›"));
  const reload = h("button", { hook: "refresh", class: "nbi-btn", type: "button", title: "Look for new images" }, "Refresh");
  const pager = h("div", { hook: "pager", class: "nbi-row nbi-row--tight" }, prev, next, reload);
  const grid = h("div", { hook: "gallery-grid", class: "nbi-grid", role: "list" });
  const empty = h("div", { hook: "empty", class: "nbi-empty", hidden: true });

  const largeImg = /** @type {HTMLImageElement} */ (h("img", { hook: "enlarged-img", class: "nbi-detail__img", alt: "" }));
  const detailPrompt = h("p", { hook: "enlarged-prompt", class: "nbi-detail__prompt" });
  const detailRevised = h("p", { class: "nbi-detail__revised" });
  const detailMeta = h("p", { hook: "enlarged-meta", class: "nbi-detail__meta" });
  const close = h("button", { hook: "enlarged-close", class: "nbi-btn nbi-detail__close", type: "button", title: "Close (Esc)", "aria-label": "Close" }, "×");
  const panel = h("div", { class: "nbi-detail__panel", role: "dialog", "aria-label": "Enlarged image" },
    h("div", { class: "nbi-detail__frame" }, largeImg),
    h("div", { class: "nbi-detail__text" }, close, detailPrompt, detailRevised, detailMeta));
  // An overlay over the grid, not a block above it: the clicked card stays where it was.
  const detail = h("div", { hook: "enlarged", class: "nbi-detail", hidden: true }, panel);
  const body = h("div", { class: "nbi-gallery__body" }, grid, empty, detail);
  const [error, stopError] = errorLine(model);
  stops.push(stopError);

  const root = h("div", { hook: "gallery", class: "nbi nbi-gallery" },
    h("div", { class: "nbi-toolbar" }, search, count, pager),
    body, error);
  el.replaceChildren(root);

  // A short grid (one row) grows while the overlay is open, so the whole panel fits in the widget.
  const fit = new ResizeObserver(() => {
    body.style.minHeight = detail.hidden ? "" : `${panel.offsetHeight + 16}px`;
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
    pager.dataset.page = String(page);
    pager.dataset.pages = String(pages);
    prev.disabled = page <= 0;
    next.disabled = page >= pages - 1;
    empty.hidden = list.length > 0;
    empty.textContent = model.get("search")
      ? "No stored image matches this search."
      : "No images stored yet: generate one with %%imagine or the Studio, then Refresh.";
    grid.replaceChildren(...list.map((item) => {
      const url = thumbs.get(item.id);
      return h("button", {
        hook: "gallery-item", class: "nbi-card" + (item.id === selected() ? " is-selected" : ""),
        type: "button", role: "listitem", title: item.prompt || "(no prompt)",
        "aria-pressed": String(item.id === selected()),
        dataset: { id: item.id, selected: String(item.id === selected()) },
        onclick: () => {
          if (!item.problem) {
            enlarged = true;
            showDetail(item);
          }
          act(model, "select", { id: item.id }); // for a missing file: the error line says where it was
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
  }

  /** @param {Item} item */
  function showDetail(item) {
    const opening = detail.hidden;
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
      close.focus({ preventScroll: true }); // so Escape reaches the widget
      panel.scrollIntoView({ block: "nearest" });
    }
  }

  function hideDetail() {
    if (detail.hidden) return;
    enlarged = false;
    detail.hidden = true;
    body.style.minHeight = "";
    const card = [...grid.children].find((c) => /** @type {HTMLElement} */ (c).dataset.id === detail.dataset.id);
    /** @type {HTMLElement | undefined} */ (card)?.focus({ preventScroll: true });
  }

  stops.push(watch(model, ["items", "total", "page", "page_size", "search"], renderGrid));
  stops.push(watch(model, "selected_id", () => {
    root.dataset.selected = selected();
    renderGrid();
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
  prev.addEventListener("click", () => turn(-1));
  next.addEventListener("click", () => turn(1));
  reload.addEventListener("click", () => act(model, "refresh"));
  close.addEventListener("click", hideDetail);
  detail.addEventListener("click", (e) => {
    if (e.target === detail) hideDetail(); // beside the panel
  });
  root.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !detail.hidden) {
      e.stopPropagation();
      hideDetail();
    }
  });

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
