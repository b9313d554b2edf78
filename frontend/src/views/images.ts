/** Image summaries over steps: TensorBoard image tags and the per-epoch CAM snapshots the loggers
 * write (`TorchLogger(snapshot=...)`). One card per run/tag with a step slider. */
import { Transport } from "../transport/types";
import { download, exportButtons } from "./export";

interface TagInfo { tag: string; count: number; steps: number[] }
interface ImageMeta { step: number; wall_time: number; width: number; height: number; index: number; mime: string; buffer: number }

export class ImagesView {
  readonly el: HTMLDivElement;
  private readonly cards: HTMLDivElement;
  private urls: string[] = [];

  constructor(private readonly transport: Transport, private readonly logdir: string) {
    this.el = document.createElement("div");
    this.el.className = "cv-images";
    this.el.innerHTML = `<div class="cv-toolbar"><button type="button" class="cv-refresh">Refresh</button>
      <span class="cv-info"></span></div><div class="cv-image-cards"></div>`;
    this.cards = this.el.querySelector(".cv-image-cards")!;
    this.el.querySelector<HTMLButtonElement>(".cv-refresh")!.onclick = () => void this.start();
  }

  async start(): Promise<void> {
    this.el.dataset.state = "loading";
    const info = this.el.querySelector(".cv-info")!;
    try {
      const list = await this.transport.request<{ runs: { run: string; tags: TagInfo[] }[] }>("images", { logdir: this.logdir });
      this.dispose();
      this.cards.replaceChildren();
      const jobs: Promise<void>[] = [];
      for (const { run, tags } of list.result.runs) for (const t of tags) jobs.push(this.card(run, t.tag));
      await Promise.all(jobs);
      info.textContent = jobs.length ? "" : "No images in this logdir (log_image, or the loggers' snapshot=).";
      this.el.dataset.state = jobs.length ? "ready" : "empty";
      this.el.dataset.cards = String(jobs.length);
    } catch (err) {
      info.textContent = (err as Error).message;
      this.el.dataset.state = "error";
    }
  }

  dispose(): void {
    for (const url of this.urls) URL.revokeObjectURL(url);
    this.urls = [];
  }

  private async card(run: string, tag: string): Promise<void> {
    const reply = await this.transport.request<{ images: ImageMeta[]; total: number }>("images", { logdir: this.logdir, run, tag });
    const images = reply.result.images;
    if (!images.length) return;
    const urls = images.map((m) => URL.createObjectURL(new Blob([reply.buffers[m.buffer]], { type: m.mime })));
    this.urls.push(...urls);
    const card = document.createElement("div");
    card.className = "cv-image-card";
    card.dataset.run = run;
    card.dataset.tag = tag;
    const title = document.createElement("div");
    title.className = "cv-panel-title";
    const img = document.createElement("img");
    img.className = "cv-image";
    const slider = document.createElement("input");
    slider.type = "range";
    slider.min = "0";
    slider.max = String(images.length - 1);
    slider.value = String(images.length - 1);
    const show = () => {
      const i = Number(slider.value);
      img.src = urls[i];
      title.textContent = `${run} · ${tag} · step ${images[i].step}`;
      card.dataset.step = String(images[i].step);
    };
    slider.oninput = show;
    show();
    const exporter = exportButtons({ name: () => `${run}_${tag}_step${card.dataset.step}`, csv: () =>
      "step,wall_time,width,height\n" + images.map((m) => `${m.step},${m.wall_time},${m.width},${m.height}`).join("\n") + "\n",
    png: () => urls[Number(slider.value)] });
    // PNG export of a stored image is the stored file itself.
    exporter.querySelector<HTMLButtonElement>(".cv-export-png")!.onclick = () =>
      download(`${run}_${tag}_step${card.dataset.step}.png`.replace(/[^A-Za-z0-9._-]+/g, "_"), urls[Number(slider.value)]);
    card.append(title, img, slider, exporter);
    this.cards.appendChild(card);
  }
}
