/** How the training view lays its charts out: TensorBoard's convention of one group per tag prefix
 * (`grad_norm/conv1` goes under `grad_norm`), groups collapsible, and what people look at first —
 * loss and accuracy — ahead of the rest; a run list with colour swatches and on/off toggles. */

const FIRST = /loss|acc/i;

/** The group of a tag: its prefix before the first "/" ("" for a top-level tag). */
export function groupOf(tag: string): string {
  const i = tag.indexOf("/");
  return i > 0 ? tag.slice(0, i) : "";
}

const rank = (tag: string) => (FIRST.test(tag) ? 0 : 1);
const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Tags in display order, grouped: groups holding a loss/accuracy tag first (top level before
 * prefixes on a tie), then by name; inside a group loss/accuracy first, then by name. */
export function orderTags(tags: Iterable<string>): { group: string; tags: string[] }[] {
  const groups = new Map<string, string[]>();
  for (const tag of tags) {
    const g = groupOf(tag);
    groups.set(g, [...(groups.get(g) ?? []), tag]);
  }
  const groupRank = (g: string) => Math.min(...groups.get(g)!.map(rank));
  return [...groups.keys()]
    .sort((a, b) => groupRank(a) - groupRank(b) || (a === "" ? -1 : b === "" ? 1 : byName(a, b)))
    .map((group) => ({ group, tags: groups.get(group)!.sort((a, b) => rank(a) - rank(b) || byName(a, b)) }));
}

/** A collapsible group of charts (`data-group`); the top-level group has no header. */
export class ChartGroup {
  readonly el: HTMLDivElement;
  readonly body: HTMLDivElement;
  private readonly count: HTMLSpanElement;

  constructor(readonly name: string, onToggle: () => void) {
    this.el = document.createElement("div");
    this.el.className = "cv-chart-group";
    this.el.dataset.group = name;
    this.body = document.createElement("div");
    this.body.className = "cv-charts-grid";
    this.count = document.createElement("span");
    if (name) {
      const head = document.createElement("button");
      head.type = "button";
      head.className = "cv-group-head";
      head.setAttribute("aria-expanded", "true");
      const title = document.createElement("span");
      title.textContent = name;
      this.count.className = "cv-group-count";
      head.append(title, this.count);
      head.onclick = () => {
        const collapsed = this.el.classList.toggle("cv-collapsed");
        head.setAttribute("aria-expanded", String(!collapsed));
        this.body.hidden = collapsed;
        onToggle();
      };
      this.el.appendChild(head);
    }
    this.el.appendChild(this.body);
  }

  get collapsed(): boolean {
    return this.el.classList.contains("cv-collapsed");
  }

  setCount(n: number): void {
    this.count.textContent = ` (${n})`;
  }
}

/** Runs with a colour swatch and an on/off toggle each; `onChange` after a toggle. */
export class RunList {
  readonly el: HTMLDivElement;
  readonly off = new Set<string>();

  constructor(private readonly onChange: () => void) {
    this.el = document.createElement("div");
    this.el.className = "cv-run-list";
  }

  render(runs: { name: string; color: string; shown: boolean }[]): void {
    this.el.replaceChildren(...runs.map(({ name, color, shown }) => {
      const label = document.createElement("label");
      label.className = "cv-run";
      label.dataset.run = name;
      label.classList.toggle("cv-run-filtered", !shown);
      const box = document.createElement("input");
      box.type = "checkbox";
      box.checked = !this.off.has(name);
      box.onchange = () => {
        if (box.checked) this.off.delete(name); else this.off.add(name);
        this.onChange();
      };
      const swatch = document.createElement("span");
      swatch.className = "cv-swatch";
      swatch.style.background = color;
      const text = document.createElement("span");
      text.className = "cv-run-name";
      text.textContent = name;
      label.title = name;
      label.append(box, swatch, text);
      return label;
    }));
  }
}
