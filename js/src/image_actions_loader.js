// What the line under each %%imagine output keeps in its state: this loader only. There is
// one such widget per output, and `jupyter execute` and nbconvert save every widget's state,
// module included, in the notebook. So the module itself (image_actions.js, with the shared
// code, and the stylesheet) is the state of one holder widget the lines of a kernel share
// (`_module`); it is imported from a Blob URL once per page.
const loaded = (globalThis.__nbimagesModules ??= new Map());

/** @param {any} model @returns {Promise<any>} the module, once per holder */
function load(model) {
  const ref = String(model.get("_module"));
  if (!loaded.has(ref)) {
    const module = (async () => {
      const holder = await model.widget_manager.get_model(ref.replace(/^IPY_MODEL_/, ""));
      const style = document.createElement("style");
      style.dataset.nbimagesModule = ref;
      style.textContent = holder.get("css");
      document.head.append(style);
      return import(URL.createObjectURL(new Blob([holder.get("code")], { type: "text/javascript" })));
    })();
    module.catch(() => loaded.delete(ref)); // the next line tries again
    loaded.set(ref, module);
  }
  return loaded.get(ref);
}

export default {
  /** @param {{ model: any, el: HTMLElement }} context */
  async render(context) {
    const module = await load(context.model);
    return module.default.render(context);
  },
};
