// Bundles the extension host (out/extension.js: Node, CommonJS, `vscode` provided by VS Code) and,
// with --tests, the unit tests (out/test/*.test.js for `node --test`). The webview bundle
// (out/webview.js) comes from frontend/build.mjs with the other frontend bundles.
import * as esbuild from "esbuild";
import { readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const common = { bundle: true, platform: "node", format: "cjs", target: "node18", logLevel: "info",
  // ws loads these native speed-ups only if present.
  external: ["vscode", "bufferutil", "utf-8-validate"] };

await esbuild.build({ ...common, entryPoints: [path.join(here, "src/extension.ts")],
  outfile: path.join(here, "out/extension.js"), minify: true, sourcemap: false });

if (process.argv.includes("--tests")) {
  const tests = readdirSync(path.join(here, "test")).filter((f) => f.endsWith(".test.ts"));
  await esbuild.build({ ...common, entryPoints: tests.map((f) => path.join(here, "test", f)),
    outdir: path.join(here, "out/test") });
}
