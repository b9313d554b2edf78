// Bundles the one frontend codebase three ways:
//   cnnvis/static/widget.js (+ .css)  the notebook widget (anywidget loads one ES module);
//   cnnvis/static/page.js (+ .css)    the full page at {base_url}cnnvis/;
//   lib/lab.js                        the JupyterLab extension's entry; `jupyter labextension build`
//                                     then makes it a prebuilt (federated) extension, sharing
//                                     JupyterLab's own packages instead of bundling them;
//   vscode/out/webview.js (+ .css)    the VS Code extension's webview view (a classic script: the
//                                     webview's Content-Security-Policy admits it by nonce).
// The layout worker is bundled first and inlined as a string, so no bundle needs a second URL.
import * as esbuild from "esbuild";
import { fileURLToPath } from "node:url";
import path from "node:path";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const watch = process.argv.includes("--watch");
const src = (p) => path.join(root, "frontend/src", p);

async function workerSource() {
  const out = await esbuild.build({
    entryPoints: [src("layout/worker.ts")], bundle: true, format: "iife", minify: true, write: false, target: "es2020",
  });
  return out.outputFiles[0].text;
}

const inlineWorker = {
  name: "inline-worker",
  setup(build) {
    build.onResolve({ filter: /^cnnvis:layout-worker$/ }, () => ({ path: "layout-worker", namespace: "cnnvis" }));
    build.onLoad({ filter: /.*/, namespace: "cnnvis" }, async () => ({
      contents: `export default ${JSON.stringify(await workerSource())};`, loader: "js",
      watchFiles: [src("layout/worker.ts"), src("layout/layered.ts")],
    }));
  },
};

const common = { bundle: true, format: "esm", minify: true, target: "es2020", sourcemap: false,
  plugins: [inlineWorker], logLevel: "info" };

const builds = [
  { ...common, entryPoints: { widget: src("widget.ts"), page: src("page.ts") },
    outdir: path.join(root, "cnnvis/static") },
  // JupyterLab provides these packages at run time; the lab's stylesheet import becomes text.
  { ...common, entryPoints: { lab: src("lab/index.ts") }, outdir: path.join(root, "lib"),
    external: ["@jupyterlab/*", "@lumino/*"], loader: { ".css": "text" }, minify: false },
  { ...common, format: "iife", entryPoints: { webview: src("vscode/webview.ts") },
    outdir: path.join(root, "vscode/out") },
];

if (watch) {
  for (const options of builds) await (await esbuild.context(options)).watch();
} else {
  await Promise.all(builds.map((options) => esbuild.build(options)));
}
