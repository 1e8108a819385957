/** The runbook model: definitions, documented runbooks, timeouts, rollbacks, plans that change after approval. */
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { RunbookExecutor } from "../../automation/runbooks/executor";
import { defineRunbook } from "../../runbooks/model";
import { renderRunbook } from "../../runbooks/markdown";
import { useHarness } from "../service/harness";

const h = useHarness();

const params = z.strictObject({ team: z.string(), environment: z.enum(["dev", "staging", "prod"]) });
let planVersion = 1;
const events: string[] = [];

const documented = defineRunbook({
  id: "failover-by-hand",
  title: "Fail over by hand",
  summary: "A procedure people follow.",
  level: "documented",
  params,
  steps: [
    {
      kind: "check",
      title: "Replica lag is low",
      description: "Read the replica lag.",
      expected: "under 5 s",
      command: (p) => `psql -h ${p.team}-replica -c 'select now() - pg_last_xact_replay_timestamp()'`,
      onFailure: "Wait.",
      run: async () => ({ ok: true, observed: "n/a" }),
    },
    {
      kind: "manual",
      title: "Promote the replica",
      instructions: "Promote it.",
      command: "pg_ctl promote",
      expected: "server promoting",
      onFailure: "Call the DBA.",
    },
  ],
});

const scripted = defineRunbook({
  id: "test-scripted",
  title: "Test steps",
  summary: "Timeouts, rollbacks and plans.",
  level: "scripted",
  params: params.extend({ mode: z.enum(["slow", "bad-verify", "irreversible"]) }),
  steps: [
    {
      kind: "check",
      title: "Slow check",
      description: "Takes its time in slow mode.",
      expected: "an answer",
      timeoutMs: 100,
      onFailure: "Try again later.",
      run: async (ctx) => {
        if (ctx.params.mode === "slow") await new Promise((r) => setTimeout(r, 1000));
        return { ok: true, observed: "an answer" };
      },
    },
    {
      kind: "action",
      title: "Reversible change",
      description: "change a thing",
      reversible: true,
      risk: "low",
      onFailure: "It was rolled back.",
      plan: async () => ({ description: ["change a thing"] }),
      run: async () => {
        events.push("run");
        return "changed";
      },
      verify: async (ctx) => ({ ok: ctx.params.mode !== "bad-verify", observed: ctx.params.mode === "bad-verify" ? "the thing is unchanged" : "changed" }),
      rollback: async () => {
        events.push("rollback");
        return "restored";
      },
    },
    {
      kind: "action",
      title: "Irreversible change",
      description: "drop a thing",
      reversible: false,
      risk: "high",
      onFailure: "Restore from backup.",
      plan: async () => ({ description: [`drop thing v${planVersion}`] }),
      run: async () => {
        events.push("drop");
        return "dropped";
      },
      verify: async () => ({ ok: true, observed: "gone" }),
    },
  ],
});

describe("defineRunbook", () => {
  it("rejects bad ids, empty runbooks, one-option decisions, unplanned run actions and changes with a declared risk", () => {
    const base = { title: "T", summary: "S", level: "scripted" as const, params: z.strictObject({}) };
    expect(() => defineRunbook({ ...base, id: "Bad_Id", steps: documented.steps as never })).toThrow('runbook id "Bad_Id" must match ^[a-z][a-z0-9-]{2,62}$');
    expect(() => defineRunbook({ ...base, id: "empty", steps: [] })).toThrow("runbook empty has no steps");
    expect(() =>
      defineRunbook({ ...base, id: "one-option", steps: [{ kind: "decision", title: "Q", question: "?", options: ["yes"], onFailure: "-" }] }),
    ).toThrow("runbook one-option step 1: a decision needs at least two options");
    expect(() =>
      defineRunbook({
        ...base,
        id: "no-plan",
        steps: [
          {
            kind: "action",
            title: "A",
            description: "d",
            reversible: false,
            onFailure: "-",
            run: async () => "",
            verify: async () => ({ ok: true, observed: "" }),
          },
        ],
      }),
    ).toThrow("runbook no-plan step 1: a run action needs a plan to be approved against");
    const verify = async () => ({ ok: true, observed: "" });
    expect(() =>
      defineRunbook({ ...base, id: "neither", steps: [{ kind: "action", title: "A", description: "d", reversible: true, onFailure: "-", verify }] }),
    ).toThrow("runbook neither step 1: an action has either a change or a run");
    const change = async () => ({ ref: { team: "t", environment: "dev" as const, name: "n" }, offering: "queue", params: {}, action: "update" as const });
    expect(() =>
      defineRunbook({
        ...base,
        id: "lowered",
        steps: [{ kind: "action", title: "A", description: "d", reversible: true, risk: "low", onFailure: "-", change, verify }],
      }),
    ).toThrow("runbook lowered step 1: a change's risk comes from its preview, not from the runbook");
  });
});

describe("a documented runbook", () => {
  it("waits for a person at every step and renders its commands", async () => {
    const ex = new RunbookExecutor(h.service.workflow, [documented], h.clock.now);
    const alice = h.service.config.person("alice")!;
    let run = await ex.settle((await ex.start(alice, "failover-by-hand", { team: "payments", environment: "prod" })).id);
    expect(run.status).toBe("awaiting_answer");
    expect(run.steps[0].awaiting).toEqual({ answer: { question: "Did you complete: Replica lag is low?", options: ["done", "failed"] } });
    await ex.answer(alice, run.id, 1, "done");
    run = await ex.settle(run.id);
    expect(run.steps[1].awaiting).toEqual({ answer: { question: "Promote it.", options: ["done", "failed"] } });
    await ex.answer(alice, run.id, 2, "done");
    expect((await ex.settle(run.id)).status).toBe("succeeded");
    const doc = renderRunbook(documented);
    expect(doc).toContain("`failover-by-hand` · documented: a person does every step");
    expect(doc).toContain("```sh\npsql -h {team}-replica -c 'select now() - pg_last_xact_replay_timestamp()'\n```");
  });
});

describe("a scripted runbook", () => {
  const alice = () => h.service.config.person("alice")!;
  const ex = () => new RunbookExecutor(h.service.workflow, [scripted], h.clock.now);

  it("a step over its timeout fails the run", async () => {
    const e = ex();
    const run = await e.settle((await e.start(alice(), "test-scripted", { team: "payments", environment: "dev", mode: "slow" })).id);
    expect(run.status).toBe("failed");
    expect(run.error).toBe("step 1 (Slow check): expected an answer, observed error: did not finish within 100 ms. Next: Try again later.");
  });

  it("a failed verify runs the rollback and stops the run", async () => {
    events.length = 0;
    const e = ex();
    const run = await e.settle((await e.start(alice(), "test-scripted", { team: "payments", environment: "dev", mode: "bad-verify" })).id);
    expect(run.status).toBe("failed");
    expect(events).toEqual(["run", "rollback"]);
    expect(run.steps[1].output).toBe("changed\nverify: the thing is unchanged\nerror: verification failed: the thing is unchanged\nrollback: restored");
    expect(run.error).toBe("step 2 (Reversible change) failed: verification failed: the thing is unchanged. Next: It was rolled back.");
  });

  it("an irreversible step whose plan changed after approval waits for a fresh approval", async () => {
    events.length = 0;
    planVersion = 1;
    const e = ex();
    let run = await e.settle((await e.start(alice(), "test-scripted", { team: "payments", environment: "dev", mode: "irreversible" })).id);
    expect(run.status).toBe("awaiting_approval");
    const first = (run.steps[2].awaiting as any).approval;
    expect(first.plan).toEqual(["drop thing v1"]);
    expect(first.requiredApprovals.description).toBe("1 approval from platform");
    planVersion = 2;
    await e.approve(h.service.config.person("bob")!, run.id, 3, { digest: first.digest });
    run = await e.settle(run.id);
    expect(run.status).toBe("awaiting_approval");
    expect(events).toEqual(["run"]);
    const second = (run.steps[2].awaiting as any).approval;
    expect(second.plan).toEqual(["drop thing v2"]);
    expect(second.digest).not.toBe(first.digest);
    expect(run.steps[2].output).toBe("the plan changed since it was approved: approve the new plan");
    await e.approve(h.service.config.person("carol")!, run.id, 3, { digest: second.digest });
    run = await e.settle(run.id);
    expect(run.status).toBe("succeeded");
    expect(events).toEqual(["run", "drop"]);
  });
});
