/** The JupyterLab extension: the "CNN Vis" left sidebar, the `cnnvis:open` command (palette and
 * launcher), and "Open in CNN Vis" in the file browser's context menu. The sidebar hosts the same
 * panel application as the full page; files and logdirs go through the server API, notebook
 * models through a kernel comm. */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from "@jupyterlab/application";
import { ICommandPalette } from "@jupyterlab/apputils";
import { IDefaultFileBrowser } from "@jupyterlab/filebrowser";
import { ILauncher } from "@jupyterlab/launcher";
import { LabIcon } from "@jupyterlab/ui-components";
import { Widget } from "@lumino/widgets";
import { KernelSource } from "../panel/kernels";
import { CnnvisPanel, MODEL_FILE } from "../panel/panel";
import { ServerTransport } from "../transport/server";
import { injectStyle } from "./style";

const ICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><g class="jp-icon3" fill="#616161">
<rect x="2" y="3" width="6" height="6" rx="1"/><rect x="9" y="9" width="6" height="6" rx="1"/>
<rect x="16" y="15" width="6" height="6" rx="1"/><path d="M8 6h3v3h-1V7H8zM15 12h3v3h-1v-2h-2z"/></g></svg>`;

const COMMAND_OPEN = "cnnvis:open";
const COMMAND_OPEN_FILE = "cnnvis:open-file";

class CnnvisSidebar extends Widget {
  private reopened = false;

  constructor(readonly panel: CnnvisPanel) {
    super();
    this.id = "cnnvis-sidebar";
    this.addClass("cnnvis-lab-sidebar");
    this.node.appendChild(panel.el);
    (this.node as any).cnnvisPanel = panel; // for scripted use (benchmarks, automation)
  }

  /** The first time the sidebar shows, what was open before the page was reloaded comes back. */
  protected onAfterShow(): void {
    if (this.reopened) return;
    this.reopened = true;
    void this.panel.restore();
  }

  dispose(): void {
    this.panel.dispose();
    super.dispose();
  }
}

function activate(app: JupyterFrontEnd, palette: ICommandPalette | null, launcher: ILauncher | null,
                  browser: IDefaultFileBrowser | null, restorer: ILayoutRestorer | null): void {
  injectStyle();
  const services = app.serviceManager;
  const panel = new CnnvisPanel(new ServerTransport(services.serverSettings),
    new KernelSource(services.sessions, services.kernels));
  const sidebar = new CnnvisSidebar(panel);
  const icon = new LabIcon({ name: "cnnvis:icon", svgstr: ICON_SVG });
  sidebar.title.icon = icon;
  sidebar.title.caption = "CNN Vis";
  app.shell.add(sidebar, "left", { rank: 900 });
  restorer?.add(sidebar, "cnnvis-sidebar");

  app.commands.addCommand(COMMAND_OPEN, {
    label: "Open CNN Vis",
    caption: "Graphs, activations, CAM heatmaps and training curves",
    icon,
    execute: () => app.shell.activateById(sidebar.id),
  });
  palette?.addItem({ command: COMMAND_OPEN, category: "CNN Vis" });
  launcher?.add({ command: COMMAND_OPEN, category: "Other", rank: 50 });

  const selected = () => browser?.selectedItems().next()?.value ?? null;
  app.commands.addCommand(COMMAND_OPEN_FILE, {
    label: "Open in CNN Vis",
    icon,
    isVisible: () => {
      const item = selected();
      return !!item && (item.type === "directory" || MODEL_FILE.test(item.name));
    },
    execute: async () => {
      const item = selected();
      if (!item) return;
      app.shell.activateById(sidebar.id);
      await panel.openPath(item.path, item.type === "directory");
    },
  });
  app.contextMenu.addItem({ command: COMMAND_OPEN_FILE, selector: ".jp-DirListing-item[data-isdir]", rank: 3 });
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: "cnnvis:plugin",
  description: "The CNN Vis sidebar: graphs, activations, CAM heatmaps and training curves.",
  autoStart: true,
  optional: [ICommandPalette, ILauncher, IDefaultFileBrowser, ILayoutRestorer],
  activate,
};

export default plugin;
