// Builds the chat page into the gateway's package (or into the folder given as the
// first argument, for the check that the committed build matches its sources).
// esbuild's output depends only on its inputs and version (pinned by package-lock.json).
import { copyFile, mkdir } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const outdir = resolve(process.argv[2] ?? join(here, "../services/gateway/src/agent_gateway/web_page/static"));

await mkdir(outdir, { recursive: true });
await build({
  entryPoints: [join(here, "src/main.ts")],
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2020"],
  charset: "utf8",
  legalComments: "none",
  outfile: join(outdir, "app.js"),
  logLevel: "warning",
});
for (const file of ["index.html", "app.css"]) {
  await copyFile(join(here, "src", file), join(outdir, file));
}
