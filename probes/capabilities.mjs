// The facts behind a Node cell's verdicts, as capabilities.py gives them for Python cells: Node itself and
// every npm package installed beside the probes. Prints one JSON object.

import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const modules = path.join(path.dirname(fileURLToPath(import.meta.url)), "node_modules");

function packages() {
  const found = [];
  for (const entry of fs.existsSync(modules) ? fs.readdirSync(modules) : []) {
    const names = entry.startsWith("@") ? fs.readdirSync(path.join(modules, entry)).map((n) => `${entry}/${n}`)
      : entry.startsWith(".") ? [] : [entry];
    for (const name of names) {
      try {
        const meta = JSON.parse(fs.readFileSync(path.join(modules, name, "package.json"), "utf8"));
        found.push(`${name}@${meta.version}`);
      } catch {
        // a folder without a package.json is not a package
      }
    }
  }
  return found.sort();
}

process.stdout.write(JSON.stringify({
  runtime: "node", node: process.version, platform: `${process.platform}-${process.arch}`, freeze: packages(),
}) + "\n");
