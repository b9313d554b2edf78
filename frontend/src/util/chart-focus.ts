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
    // Disabled, not just wheel-less: an enabled inside zoom swallows every wheel event over the chart.
    chart.setOption({ dataZoom: [{ disabled: !on }] });
  };
  box.addEventListener("focus", () => set(true));
  box.addEventListener("blur", () => set(false));
  return state;
}
