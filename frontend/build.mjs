// Bundles the views into cnnvis/static/widget.js (+ widget.css). The layout worker is bundled
// first and inlined as a string: anywidget loads one ES module, so the worker has no URL of its own.
import * as esbuild from "esbuild";
import { fileURLToPath } from "node:url";
import path from "node:path";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const watch = process.argv.includes("--watch");

async function workerSource() {
  const out = await esbuild.build({
    entryPoints: [path.join(root, "frontend/src/layout/worker.ts")],
    bundle: true, format: "iife", minify: true, write: false, target: "es2020",
  });
  return out.outputFiles[0].text;
}

const inlineWorker = {
  name: "inline-worker",
  setup(build) {
    build.onResolve({ filter: /^cnnvis:layout-worker$/ }, () => ({ path: "layout-worker", namespace: "cnnvis" }));
    build.onLoad({ filter: /.*/, namespace: "cnnvis" }, async () => ({
      contents: `export default ${JSON.stringify(await workerSource())};`, loader: "js",
      watchFiles: [path.join(root, "frontend/src/layout/worker.ts"), path.join(root, "frontend/src/layout/layered.ts")],
    }));
  },
};

const options = {
  entryPoints: { widget: path.join(root, "frontend/src/widget.ts") },
  outdir: path.join(root, "cnnvis/static"),
  bundle: true, format: "esm", minify: true, target: "es2020", sourcemap: false,
  plugins: [inlineWorker], logLevel: "info",
};

if (watch) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
} else {
  await esbuild.build(options);
}
