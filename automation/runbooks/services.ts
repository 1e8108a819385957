/**
 * What a runbook step may call (`StepServices`), implemented over the store and the engine
 * for one run. Everything is scoped to the run's team: another team's instance is never
 * found, and an operation on it is refused. Nothing here changes a resource: changes are
 * `Change` values the executor previews, gates and applies.
 */
import type { Environment } from "../../components/guardrails";
import type { Instance, InstanceRef, StepServices } from "../../runbooks/model";
import type { InstanceRow, Store } from "../store/store";
import type { Workflow } from "../workflow";
import { stackName, TERMINAL_STATUSES } from "../workflow";

/** An instance row as runbooks see it. */
export function instanceOf(row: InstanceRow): Instance {
  return {
    team: row.team,
    environment: row.environment as Environment,
    name: row.name,
    stack: row.stack,
    offering: row.offering,
    params: JSON.parse(row.params) as Record<string, unknown>,
    outputs: JSON.parse(row.outputs) as Record<string, unknown>,
    status: row.status === "interrupted" ? "interrupted" : "active",
    needsRefresh: row.needs_refresh === 1,
  };
}

/**
 * Runs `fn` holding `stack` as a job would (a running `lock` job row): no request's job
 * runs on the stack meanwhile, on any replica. Fails when something already runs on it.
 */
export async function withStackLock<T>(store: Store, stack: string, runId: string, now: () => Date, fn: () => Promise<T>): Promise<T> {
  const owner = `runbook:${runId}`;
  const lock = await store.lockStack(stack, owner, runId, now().toISOString(), new Date(now().getTime() + 2 * 60 * 60_000).toISOString());
  if (!lock) throw new Error(`another operation is running on stack ${stack}`);
  try {
    return await fn();
  } finally {
    await store.finishJob(lock.id, owner, "done", now().toISOString());
  }
}

export class RunServices implements StepServices {
  constructor(
    private readonly workflow: Workflow,
    private readonly run: { id: string; team: string | null },
    private readonly now: () => Date,
    private readonly signal: AbortSignal,
    private readonly log: (line: string) => void,
  ) {}

  get engine(): string {
    return this.workflow.engine.name;
  }

  private get store(): Store {
    return this.workflow.store;
  }

  /** Refuses any instance outside the run's team. */
  private own(ref: InstanceRef): void {
    if (ref.team !== this.run.team) throw new Error(`this run acts for team ${this.run.team ?? "(none)"}: it cannot touch instances of team ${ref.team}`);
  }

  /** The stack of `ref`: the live instance's, else the name a new one gets. */
  async stackOf(ref: InstanceRef): Promise<string> {
    this.own(ref);
    return (await this.store.findInstance(ref.team, ref.environment, ref.name))?.stack ?? stackName(ref.team, ref.environment, ref.name);
  }

  async instance(ref: InstanceRef): Promise<Instance | undefined> {
    this.own(ref);
    const row = await this.store.findInstance(ref.team, ref.environment, ref.name);
    return row ? instanceOf(row) : undefined;
  }

  async instances(team: string, environment?: Environment): Promise<Instance[]> {
    this.own({ team, environment: environment ?? "dev", name: "" });
    return (await this.store.listInstances({ team })).filter((r) => !environment || r.environment === environment).map(instanceOf);
  }

  async requestInFlight(ref: InstanceRef): Promise<{ id: string; status: string } | undefined> {
    const busy = await this.store.inFlight(await this.stackOf(ref), TERMINAL_STATUSES);
    return busy[0] ? { id: busy[0].id, status: busy[0].status } : undefined;
  }

  async stateResources(ref: InstanceRef): Promise<{ type: string; inputs: Record<string, unknown> }[] | undefined> {
    // The pulumi engine keeps the state in its backend, not in the store.
    if (this.workflow.engine.name !== "simulate") return undefined;
    const state = await this.store.getStackState(await this.stackOf(ref));
    return state ? (JSON.parse(state) as { resources: { type: string; inputs: Record<string, unknown> }[] }).resources : [];
  }

  async inspect(ref: InstanceRef) {
    return this.workflow.engine.inspect(await this.stackOf(ref));
  }

  async stackJobs(ref: InstanceRef): Promise<{ id: number; expired: boolean }[]> {
    const stack = await this.stackOf(ref);
    const now = this.now().toISOString();
    return (await this.store.jobs())
      .filter((j) => j.stack === stack && j.status === "running")
      .map((j) => ({ id: j.id, expired: (j.lease_until ?? "") < now }));
  }

  async interruptDeadJobs(): Promise<number> {
    // The same as the runner's sweep: jobs whose replica died are failed as interrupted.
    const reaped = await this.store.reapExpiredJobs(this.now().toISOString());
    for (const job of reaped) await this.workflow.interrupted(job);
    return reaped.length;
  }

  async cancelUpdate(ref: InstanceRef): Promise<{ cancelled: boolean }> {
    return this.workflow.engine.cancel(await this.stackOf(ref));
  }

  async refresh(ref: InstanceRef): Promise<{ pendingCleared: number }> {
    const stack = await this.stackOf(ref);
    const row = await this.store.findInstance(ref.team, ref.environment, ref.name);
    const offering = row?.offering ?? "queue";
    const params = row ? (JSON.parse(row.params) as Record<string, unknown>) : {};
    const result = await withStackLock(this.store, stack, this.run.id, this.now, () =>
      this.workflow.engine.refresh({
        stack,
        action: "update",
        spec: this.workflow.specFor(ref.team, ref.environment, offering, ref.name, params),
        signal: this.signal,
        onProgress: this.log,
      }),
    );
    if (row) await this.store.setNeedsRefresh(stack, false, this.now().toISOString());
    return result;
  }
}
