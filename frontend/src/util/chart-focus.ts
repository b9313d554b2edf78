/** The mouse wheel scrolls the panel; it zooms a chart only while that chart has focus (a click on
 * it, or Tab), so a long page of charts can be scrolled past them. */

interface Zoomable { setOption(option: object): void }

export interface FocusState { focused: boolean }

/** Makes `box` focusable and turns the chart's inside-zoom wheel on while it has focus. */
export function zoomWhenFocused(box: HTMLElement, chart: Zoomable): FocusState {
  const state: FocusState = { focused: false };
  box.tabIndex = 0;
  box.classList.add("cv-focusable");
  const set = (on: boolean) => {
    state.focused = on;
    chart.setOption({ dataZoom: [{ zoomOnMouseWheel: on, moveOnMouseWheel: false }] });
  };
  box.addEventListener("focus", () => set(true));
  box.addEventListener("blur", () => set(false));
  return state;
}
