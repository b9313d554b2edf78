/** Evidence for the map in the Explain view: the model-randomisation sanity check (per-stage
 * Spearman and SSIM, and its verdict) and the deletion/insertion curves with their AUC. Both are
 * slow (one explain per randomised layer; dozens of perturbed forward passes), so they run only
 * when asked for, show progress, and Cancel aborts the request (the transport sends the cancel). */
import { CancelledError, Transport } from "../transport/types";
import { escapeHtml } from "../util/text";

interface Stage { stage: number; layer: string; spearman: number | null; ssim: number | null }
interface SanityResult { passed: boolean; verdict: string; final_spearman: number | null; threshold: number; stages: Stage[] }
interface Curve { metric: string; fractions: number[]; mean_curve: number[]; mean_auc: number }
interface FaithfulnessResult { metrics: Record<string, Curve> }

/** What the evidence is about: the explain settings of the map on screen. */
export type EvidenceArgs = () => Record<string, unknown>;

const COLORS: Record<string, string> = { deletion: "#d9534f", insertion: "#2a7ab0" };
const fmt = (v: number | null) => (v === null || v === undefined ? "–" : v.toFixed(3));

export class EvidenceView {
  readonly el: HTMLDivElement;
  private controller: AbortController | null = null;
  private readonly q = <T extends Element>(s: string) => this.el.querySelector(s) as T;

  constructor(private readonly transport: Transport, private readonly args: EvidenceArgs) {
    this.el = document.createElement("div");
    this.el.className = "cv-evidence";
    this.el.innerHTML = `<div class="cv-toolbar"><button class="cv-evidence-run" type="button">Check evidence</button>
      <span class="cv-evidence-reason cv-note" hidden></span>
      <span class="cv-evidence-progress" hidden><progress max="1" value="0"></progress>
      <span class="cv-evidence-text"></span><button class="cv-evidence-cancel" type="button">Cancel</button></span></div>
      <div class="cv-evidence-error cv-error" hidden></div>
      <div class="cv-evidence-body"><div class="cv-sanity"></div><div class="cv-faithfulness"></div></div>`;
    this.q<HTMLButtonElement>(".cv-evidence-run").onclick = () => void this.run();
    this.q<HTMLButtonElement>(".cv-evidence-cancel").onclick = () => this.controller?.abort();
  }

  /** Why the evidence cannot run for this model at all (it cannot be copied, for instance). */
  private unavailable: string | null = null;
  private pausedFor: string | null = null;

  /** The model cannot give evidence: the button stays disabled with ``reason`` beside it. */
  setUnavailable(reason: string | null): void {
    this.unavailable = reason;
    this.updateButton();
  }

  /** Disabled for now (a picked image is on screen), with the reason; null enables it again. */
  setDisabled(reason: string | null): void {
    this.pausedFor = reason;
    this.updateButton();
  }

  private updateButton(): void {
    const reason = this.unavailable ?? this.pausedFor;
    const button = this.q<HTMLButtonElement>(".cv-evidence-run");
    button.disabled = reason !== null;
    button.title = reason ?? "";
    const note = this.q<HTMLSpanElement>(".cv-evidence-reason");
    note.hidden = reason === null;
    note.textContent = reason ?? "";
    if (reason !== null) this.clear();
  }

  /** The map changed: the evidence shown was about the old one. */
  clear(): void {
    this.controller?.abort();
    this.q<HTMLDivElement>(".cv-sanity").innerHTML = "";
    this.q<HTMLDivElement>(".cv-faithfulness").innerHTML = "";
    this.q<HTMLDivElement>(".cv-evidence-error").hidden = true;
    delete this.el.dataset.state;
  }

  async run(): Promise<void> {
    if (this.unavailable ?? this.pausedFor) return;
    this.clear();
    const controller = new AbortController();
    this.controller = controller;
    this.el.dataset.state = "loading";
    this.q<HTMLSpanElement>(".cv-evidence-progress").hidden = false;
    try {
      const sanity = await this.ask<SanityResult>("sanity", "sanity check", controller.signal);
      this.renderSanity(sanity);
      const faith = await this.ask<FaithfulnessResult>("faithfulness", "deletion / insertion", controller.signal);
      this.renderCurves(faith);
      this.el.dataset.state = "ready";
    } catch (err) {
      if (this.controller !== controller) return; // superseded
      const box = this.q<HTMLDivElement>(".cv-evidence-error");
      box.hidden = false;
      box.textContent = err instanceof CancelledError ? "Cancelled." : (err as Error).message;
      this.el.dataset.state = err instanceof CancelledError ? "cancelled" : "error";
    } finally {
      if (this.controller === controller) this.q<HTMLSpanElement>(".cv-evidence-progress").hidden = true;
    }
  }

  private async ask<R>(kind: string, label: string, signal: AbortSignal): Promise<R> {
    const bar = this.q<HTMLSpanElement>(".cv-evidence-progress").querySelector("progress")!;
    const text = this.q<HTMLSpanElement>(".cv-evidence-text");
    bar.removeAttribute("value"); // indeterminate until the first report
    text.textContent = `${label}…`;
    const reply = await this.transport.request<R>(kind, this.args(), [], {
      signal,
      onProgress: (p) => {
        bar.max = p.total || 1; bar.value = p.done;
        text.textContent = `${label}: ${p.done} / ${p.total}`;
      },
    });
    return reply.result;
  }

  private renderSanity(r: SanityResult): void {
    const box = this.q<HTMLDivElement>(".cv-sanity");
    box.dataset.passed = String(r.passed);
    const head = document.createElement("div");
    head.className = "cv-sanity-verdict";
    head.textContent = `${r.passed ? "✔ passed" : "✘ failed"} · ${r.verdict} (Spearman with the randomised model `
      + `${fmt(r.final_spearman)}, threshold ${r.threshold})`;
    const table = document.createElement("table");
    table.className = "cv-sanity-stages";
    table.innerHTML = "<thead><tr><th>stage</th><th>randomised down to</th><th>Spearman</th><th>SSIM</th></tr></thead>";
    const body = table.createTBody();
    for (const s of r.stages) {
      const row = body.insertRow();
      for (const v of [String(s.stage), s.layer, fmt(s.spearman), fmt(s.ssim)]) row.insertCell().textContent = v;
    }
    box.replaceChildren(head, table);
  }

  /** Score against the fraction of pixels removed (deletion) or restored (insertion), one SVG. */
  private renderCurves(r: FaithfulnessResult): void {
    const box = this.q<HTMLDivElement>(".cv-faithfulness");
    const w = 260, h = 140, pad = 24;
    const curves = Object.values(r.metrics);
    const top = Math.max(1e-6, ...curves.flatMap((c) => c.mean_curve));
    const x = (f: number) => pad + f * (w - pad - 6), y = (s: number) => h - pad - (s / top) * (h - pad - 6);
    const paths = curves.map((c) => {
      const d = c.fractions.map((f, i) => `${i ? "L" : "M"}${x(f).toFixed(1)},${y(c.mean_curve[i]).toFixed(1)}`).join("");
      return `<path d="${d}" fill="none" stroke="${COLORS[c.metric] ?? "#555"}" stroke-width="2" data-metric="${escapeHtml(c.metric)}"/>`;
    }).join("");
    box.innerHTML = `<svg class="cv-curves" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">
      <line x1="${pad}" y1="${h - pad}" x2="${w - 6}" y2="${h - pad}" stroke="currentColor"/>
      <line x1="${pad}" y1="6" x2="${pad}" y2="${h - pad}" stroke="currentColor"/>
      <text x="${w / 2}" y="${h - 6}" font-size="10" text-anchor="middle" fill="currentColor">fraction of pixels</text>
      ${paths}</svg><div class="cv-auc"></div>`;
    const legend = box.querySelector(".cv-auc")!;
    for (const c of curves) {
      const item = document.createElement("div");
      item.dataset.metric = c.metric;
      item.style.color = COLORS[c.metric] ?? "";
      const better = c.metric === "deletion" ? "lower" : "higher";
      item.textContent = `${c.metric} AUC ${c.mean_auc.toFixed(3)} (${better} = more faithful)`;
      legend.appendChild(item);
    }
  }
}
