/**
 * Fair job claiming, on both stores: jobs are claimed round-robin across teams, then oldest
 * first, so a burst from one team delays another team's first request by at most one job
 * per worker.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postgresUnavailable } from "../postgres";
import { Harness, startHarness, STORES } from "./harness";

for (const store of STORES) {
  const skip = store === "postgres" ? postgresUnavailable() : undefined;
  describe.skipIf(skip !== undefined)(`job claiming on ${store}`, () => {
    let h: Harness;
    beforeAll(async () => {
      h = await startHarness(undefined, store);
    }, 60_000);
    afterAll(async () => {
      await h.close();
    });

    it("goes round-robin across teams, then oldest first", async () => {
      const submit = async (who: "alice" | "dave", team: string, name: string) => {
        const res = await h.call(who, "POST", "/requests", { team, environment: "dev", offering: "queue", name, params: {} });
        expect(res.status, JSON.stringify(res.body)).toBe(202);
        return res.body.id as string;
      };
      const burst: string[] = [];
      for (let i = 0; i < 6; i++) burst.push(await submit("alice", "payments", `burst-${i}`));
      const late = await submit("dave", "search", "first");
      const late2 = await submit("dave", "search", "second");

      const order: string[] = [];
      const now = new Date().toISOString();
      for (;;) {
        const job = await h.service.store.claimJob("test", now, new Date(Date.now() + 60_000).toISOString());
        if (!job) break;
        order.push(job.request_id);
        await h.service.store.finishJob(job.id, "test", "done", now);
      }
      // payments had the first claim; search's first request is next, then the teams alternate
      // while both have work, each team's own jobs oldest first.
      expect(order).toEqual([burst[0], late, burst[1], late2, burst[2], burst[3], burst[4], burst[5]]);
    });
  });
}
