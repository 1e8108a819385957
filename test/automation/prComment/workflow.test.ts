/**
 * .github/workflows/preview.yml: its shape, and its two scripts run against a fake GitHub
 * API (the stack picker and the comment upsert, which must page through the comments).
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { markerLine } from "../../../automation/prComment/render";

const workflow = parse(readFileSync(resolve(__dirname, "../../../.github/workflows/preview.yml"), "utf8"));

interface Step {
  name?: string;
  id?: string;
  uses?: string;
  run?: string;
  if?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
}

const pickSteps: Step[] = workflow.jobs.stacks.steps;
const previewSteps: Step[] = workflow.jobs.preview.steps;
const step = (steps: Step[], id: string) => steps.find((s) => s.id === id)!;
const script = (s: Step) => s.with!.script as string;

type Call = { method: string; args: Record<string, unknown> };

/** A fake of what actions/github-script gives a script, recording every API call. */
function fakeGitHub(pages: Record<string, unknown[][]>) {
  const calls: Call[] = [];
  const endpoint = (method: string, result: unknown = {}) => {
    const fn = async (args: Record<string, unknown>) => {
      calls.push({ method, args });
      return { data: result };
    };
    return Object.assign(fn, { method });
  };
  const rest = {
    pulls: { listFiles: endpoint("pulls.listFiles") },
    issues: {
      listComments: endpoint("issues.listComments"),
      updateComment: endpoint("issues.updateComment"),
      createComment: endpoint("issues.createComment", { html_url: "https://github.com/acme/infra/pull/7#issuecomment-99" }),
    },
  };
  const github = {
    rest,
    // Like Octokit's paginate: every page of the endpoint, concatenated.
    paginate: async (fn: { method: string }, args: Record<string, unknown>) => {
      calls.push({ method: `paginate ${fn.method}`, args });
      return (pages[fn.method] ?? []).flat();
    },
  };
  const context = { repo: { owner: "acme", repo: "infra" }, issue: { number: 7 }, serverUrl: "https://github.com", runId: 123 };
  const outputs: Record<string, string> = {};
  const core = { info: () => undefined, setOutput: (k: string, v: string) => (outputs[k] = v) };
  return { github, context, core, calls, outputs };
}

const AsyncFunction = Object.getPrototypeOf(async () => undefined).constructor as new (...args: string[]) => (...args: unknown[]) => Promise<unknown>;

/** Runs a github-script `script` with the fake, a fake `fs` and the step's environment. */
async function runScript(source: string, fake: ReturnType<typeof fakeGitHub>, files: Record<string, string | string[]>, env: Record<string, string> = {}) {
  const fs = {
    readdirSync: (dir: string) => files[dir] as string[],
    existsSync: (file: string) => file in files,
    readFileSync: (file: string) => files[file] as string,
  };
  const fakeRequire = (m: string) => {
    if (m === "fs") return fs;
    throw new Error(`unexpected require(${m})`);
  };
  await new AsyncFunction("github", "context", "core", "require", "process", source)(fake.github, fake.context, fake.core, fakeRequire, { env });
}

describe(".github/workflows/preview.yml", () => {
  it("runs on pull requests with the permissions to comment", () => {
    expect(Object.keys(workflow.on)).toEqual(["pull_request"]);
    expect(workflow.permissions).toMatchObject({ contents: "read", "pull-requests": "write", issues: "write" });
    expect(workflow.jobs.preview.needs).toBe("stacks");
    expect(workflow.jobs.preview.strategy.matrix.stack).toBe("${{ fromJSON(needs.stacks.outputs.stacks) }}");
  });

  it("installs Node 22, the dependencies and the Pulumi CLI", () => {
    expect(previewSteps.map((s) => s.uses ?? s.run?.split("\n")[0])).toEqual(
      expect.arrayContaining(["actions/checkout@v4", "actions/setup-node@v4", "npm ci", "pulumi/actions@v6"]),
    );
    expect(previewSteps.find((s) => s.uses === "actions/setup-node@v4")!.with!["node-version"]).toBe(22);
  });

  it("previews the stack with the policy pack and an event log, then renders it with paved pr-comment", () => {
    expect(step(previewSteps, "preview").run).toContain(
      'pulumi preview --json --policy-pack ./policy-pack --event-log events.jsonl -s "$STACK" --non-interactive > preview.json',
    );
    const render = step(previewSteps, "render").run!;
    expect(render).toContain('$paved pr-comment preview.json --event-log events.jsonl --environment "$ENVIRONMENT" --stack "$STACK" > comment.md');
    expect(render).toContain('paved="npx --no-install paved"');
    // The job fails after the comment when the preview failed or is blocked.
    const last = previewSteps[previewSteps.length - 1];
    expect([last.if, last.run!.trim().split("\n").pop()]).toEqual(["steps.preview.outputs.exit != '0' || steps.render.outputs.exit != '0'", "exit 1"]);
  });

  describe("the stack picker", () => {
    const stacksDir = { stacks: ["Pulumi.payments-dev.yaml", "Pulumi.payments-prod.yaml", "deploy.ts", "index.ts", "Pulumi.search-staging.yaml"] };
    const pick = async (changed: string[]) => {
      const fake = fakeGitHub({
        "pulls.listFiles": [changed.slice(0, 2).map((filename) => ({ filename })), changed.slice(2).map((filename) => ({ filename }))],
      });
      await runScript(script(step(pickSteps, "pick")), fake, stacksDir);
      expect(fake.calls[0]).toEqual({ method: "paginate pulls.listFiles", args: { owner: "acme", repo: "infra", pull_number: 7, per_page: 100 } });
      return JSON.parse(fake.outputs.stacks);
    };

    it("previews only the stacks whose config changed", async () => {
      expect(await pick(["stacks/Pulumi.payments-prod.yaml", "README.md", "docs/pr-previews.md"])).toEqual(["payments-prod"]);
    });

    it("previews every stack when code changed (on any page)", async () => {
      expect(await pick(["README.md", "stacks/Pulumi.payments-dev.yaml", "components/aws/postgres.ts"])).toEqual([
        "payments-dev",
        "payments-prod",
        "search-staging",
      ]);
    });

    it("previews nothing for documentation only", async () => {
      expect(await pick(["docs/components.md", "README.md"])).toEqual([]);
    });
  });

  describe("the comment", () => {
    const upsert = script(previewSteps.find((s) => s.name === "Create or update the comment")!);
    const body = `${markerLine("payments-prod")}\n\n### Pulumi preview of \`payments-prod\`\n`;

    it("pages through the comments and updates the one with its marker", async () => {
      const fake = fakeGitHub({
        "issues.listComments": [
          [
            { id: 1, body: "LGTM" },
            { id: 2, body: `${markerLine("payments-dev")}\nold dev preview` },
          ],
          [{ id: 3, body: `${markerLine("payments-prod")}\r\nold prod preview`, html_url: "u" }],
        ],
      });
      await runScript(upsert, fake, { "comment.md": body }, { STACK: "payments-prod" });
      expect(fake.calls).toEqual([
        { method: "paginate issues.listComments", args: { owner: "acme", repo: "infra", issue_number: 7, per_page: 100 } },
        { method: "issues.updateComment", args: { owner: "acme", repo: "infra", comment_id: 3, body } },
      ]);
    });

    it("creates a comment when none has its marker", async () => {
      const fake = fakeGitHub({ "issues.listComments": [[{ id: 2, body: `${markerLine("payments-prod-eu")}\nother stack` }]] });
      await runScript(upsert, fake, { "comment.md": body }, { STACK: "payments-prod" });
      expect(fake.calls.map((c) => c.method)).toEqual(["paginate issues.listComments", "issues.createComment"]);
      expect(fake.calls[1].args).toEqual({ owner: "acme", repo: "infra", issue_number: 7, body });
    });

    it("posts a note under the same marker when nothing was rendered", async () => {
      const fake = fakeGitHub({ "issues.listComments": [[]] });
      await runScript(upsert, fake, { "comment.md": "" }, { STACK: "payments-prod", RENDER_EXIT: "2" });
      expect(fake.calls[1].args.body).toBe(
        [
          "<!-- paved:pr-comment stack=payments-prod -->",
          "### Pulumi preview of `payments-prod`",
          "❌ The preview could not be rendered (paved pr-comment exited 2): see [the workflow log](https://github.com/acme/infra/actions/runs/123).",
        ].join("\n\n") + "\n",
      );
    });
  });
});
