/** The views' stylesheet, bundled as text and added once to the page (the lab extension ships one
 * JavaScript module, like the widget). */
import css from "../views/style.css";
import panelCss from "../panel/panel.css";

export function injectStyle(): void {
  if (document.getElementById("cnnvis-style")) return;
  const style = document.createElement("style");
  style.id = "cnnvis-style";
  style.textContent = `${css}\n${panelCss}`;
  document.head.appendChild(style);
}
