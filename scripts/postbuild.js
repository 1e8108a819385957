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
const engineConfig = require(path.join(out, "policy-pack", "engineConfig.js"));
const { policies } = require(path.join(out, "policy-pack", "policies", "index.js"));
fs.writeFileSync(
  path.join(out, "policy-pack", engineConfig.PREBUILT_VALIDATORS_FILE),
  engineConfig.prebuiltValidatorsModule(
    policies.map((p) => ({ name: p.name, enforcementLevel: p.enforcementLevel ?? "mandatory", configSchema: p.configSchema })),
  ),
);
