// The entry the Pulumi CLI runs for `pulumi preview --policy-pack ./policy-pack` in a clone
// of Paved (package.json "main"). The CLI would type-check TypeScript under ts-node for
// ~20 s; this runs the compiled pack that `npm run build` writes to dist/policy-pack
// instead: the same files the npm package ships.
const { existsSync } = require("node:fs");
const { join } = require("node:path");

const compiled = join(__dirname, "..", "dist", "policy-pack", "index.js");
if (!existsSync(compiled)) {
  throw new Error(`the Paved policy pack is not built: run \`npm run build\` in ${join(__dirname, "..")} (it compiles the pack to ${compiled})`);
}
require(compiled);
