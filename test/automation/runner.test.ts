/** The runner's idle workers: a new job wakes one of them, not all. */
import { EventEmitter } from "node:events";
import { afterEach, describe, expect, it } from "vitest";
import { Runner } from "../../automation/runner";
import type { JobRow } from "../../automation/store/store";
import type { Workflow } from "../../automation/workflow";

/** A workflow whose queue holds the jobs of `queue`, counting the claims made. */
function fakeWorkflow(queue: JobRow[]) {
  const bus = new EventEmitter();
  const claims: number[] = [];
  const ran: number[] = [];
  const workflow = {
    bus,
    store: {
      claimJob: async () => {
        claims.push(Date.now());
        return queue.shift();
      },
      finishJob: async () => undefined,
      heartbeat: async () => true,
      reapExpiredJobs: async () => [],
    },
    expireStale: async () => undefined,
    runJob: async (job: JobRow) => {
      ran.push(job.id);
      return "done" as const;
    },
  };
  return { workflow: workflow as unknown as Workflow, bus, claims, ran };
}

const job = (id: number): JobRow =>
  ({ id, request_id: `r${id}`, kind: "preview", stack: `s${id}`, status: "running", attempts: 1, lease_owner: "x", lease_until: null }) as unknown as JobRow;

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("Runner", () => {
  let runner: Runner | undefined;
  afterEach(async () => {
    await runner?.stop(100);
    runner = undefined;
  });

  it("wakes one idle worker per new job: the job runs once, and no other worker goes to claim", async () => {
    const queue: JobRow[] = [];
    const { workflow, bus, claims, ran } = fakeWorkflow(queue);
    runner = new Runner(workflow, { workers: 3, pollMs: 60_000 });
    runner.start();
    await tick(50);
    // Each worker looked once at start, found nothing and sleeps.
    expect(claims).toHaveLength(3);
    queue.push(job(1));
    bus.emit("job");
    await tick(50);
    expect(ran).toEqual([1]);
    // The woken worker's claim that got the job, and its next that found the queue empty;
    // waking them all made five.
    expect(claims).toHaveLength(5);
  });
});
