// The part of `npm run build` after `tsc -p tsconfig.build.json`: the files tsc does not
// emit. Usage: node scripts/postbuild.js [outDir]   (default: dist)
// - the service's web page;
// - the policy pack directory's PulumiPolicy.yaml and package.json. The Pulumi CLI starts a
//   Node.js pack with the pack directory as its working directory, and `new PolicyPack()`
//   reads `<that directory>/package.json` for the pack's version; "main" is the compiled
//   index.js, so the CLI loads JavaScript and type-checks nothing.
const fs = require("node:fs");
const path = require("node:path");

const root = path.resolve(__dirname, "..");
const out = path.resolve(root, process.argv[2] || "dist");

const rootManifest = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
const packManifest = JSON.parse(fs.readFileSync(path.join(root, "policy-pack", "package.json"), "utf8"));
if (packManifest.version !== rootManifest.version) {
  console.error(`policy-pack/package.json has version ${packManifest.version} but package.json has ${rootManifest.version}: make them equal`);
  process.exit(1);
}

fs.cpSync(path.join(root, "automation", "service", "web"), path.join(out, "automation", "service", "web"), { recursive: true });
fs.mkdirSync(path.join(out, "policy-pack"), { recursive: true });
fs.copyFileSync(path.join(root, "policy-pack", "PulumiPolicy.yaml"), path.join(out, "policy-pack", "PulumiPolicy.yaml"));
fs.writeFileSync(path.join(out, "policy-pack", "package.json"), `${JSON.stringify({ ...packManifest, main: "index.js" }, null, 2)}\n`);

// The Paved pack's config-schema validators, compiled by ajv now rather than in every
// process that evaluates policies (see PREBUILT_VALIDATORS_FILE in policy-pack/engineConfig.ts).
// In a child with the project's node_modules on NODE_PATH: the output directory may lie
// outside the project (the policy-pack tests stage a build in a temporary directory).
const generate = `
const path = require("node:path");
const fs = require("node:fs");
const out = process.argv[1];
const engineConfig = require(path.join(out, "policy-pack", "engineConfig.js"));
const { policies } = require(path.join(out, "policy-pack", "policies", "index.js"));
const infos = policies.map((p) => ({ name: p.name, enforcementLevel: p.enforcementLevel ?? "mandatory", configSchema: p.configSchema }));
fs.writeFileSync(path.join(out, "policy-pack", engineConfig.PREBUILT_VALIDATORS_FILE), engineConfig.prebuiltValidatorsModule(infos));
`;
require("node:child_process").execFileSync(process.execPath, ["-e", generate, out], {
  stdio: "inherit",
  env: { ...process.env, NODE_PATH: path.join(root, "node_modules") },
});
