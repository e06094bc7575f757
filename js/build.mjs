// Builds the front end: widget.js (ES module for anywidget, + widget.css) and standalone.js (classic script for exported pages).
import { build } from "esbuild";
import { mkdirSync } from "node:fs";

const outdir = "transeasy_widget/static";
mkdirSync(outdir, { recursive: true });
const watch = process.argv.includes("--dev");
const common = { bundle: true, target: "es2020", minify: !watch, sourcemap: false, logLevel: "info", legalComments: "none" };

await Promise.all([
  build({ ...common, entryPoints: ["js/widget.ts"], format: "esm", outfile: `${outdir}/widget.js` }),
  build({
    ...common,
    entryPoints: ["js/standalone.ts"],
    format: "iife",
    globalName: "TranseasyWidget",
    outfile: `${outdir}/standalone.js`,
    loader: { ".css": "empty" },
  }),
]);
