/**
 * Runs the workflow's jobs: a pool of workers per replica claims queued jobs from the
 * store (at most one running job per stack across all replicas), keeps a heartbeat on each
 * lease, and hands the job to the workflow. Leases that run out (a replica that died) are
 * reaped: their request is marked `failed` with reason `interrupted`.
 */
import { randomUUID } from "node:crypto";
import type { JobRow } from "./store/store";
import type { Workflow } from "./workflow";

export interface RunnerOptions {
  /** Jobs run at once by this replica. Default 2 (`PAVED_WORKERS`). */
  workers?: number;
  /** How long a claim lasts without a heartbeat. Default 60 s. */
  leaseMs?: number;
  /** How often an idle worker looks for work when not woken. Default 1 s. */
  pollMs?: number;
  /** Delay before a job that found its stack busy runs again. Default 5 s. */
  retryMs?: number;
  /** How often awaiting requests are checked for expiry and leases reaped. Default: the lease, at most 30 s. */
  sweepMs?: number;
  now?: () => Date;
}

export class Runner {
  readonly id = `replica-${randomUUID().slice(0, 8)}`;
  private readonly workers: number;
  private readonly leaseMs: number;
  private readonly pollMs: number;
  private readonly retryMs: number;
  private readonly sweepMs: number;
  private readonly now: () => Date;
  private running = new Map<number, { promise: Promise<void>; abort: AbortController }>();
  private stopping = false;
  private started = false;
  private sleepers = new Set<() => void>();
  private readonly onJob = () => this.wakeAll();
  private loops: Promise<void>[] = [];
  private sweeper?: NodeJS.Timeout;

  constructor(
    private readonly workflow: Workflow,
    options: RunnerOptions = {},
  ) {
    this.workers = options.workers ?? 2;
    this.leaseMs = options.leaseMs ?? 60_000;
    this.pollMs = options.pollMs ?? 1000;
    this.retryMs = options.retryMs ?? 5000;
    // A dead replica's jobs are found within one lease of their expiry.
    this.sweepMs = options.sweepMs ?? Math.min(30_000, this.leaseMs);
    this.now = options.now ?? (() => new Date());
  }

  private iso(offsetMs = 0): string {
    return new Date(this.now().getTime() + offsetMs).toISOString();
  }

  /** Claims and runs one job; false when there was none to claim. */
  async runOne(): Promise<boolean> {
    const job = await this.workflow.store.claimJob(this.id, this.iso(), this.iso(this.leaseMs));
    if (!job) return false;
    const abort = new AbortController();
    const promise = this.execute(job, abort);
    this.running.set(job.id, { promise, abort });
    try {
      await promise;
    } finally {
      this.running.delete(job.id);
    }
    return true;
  }

  private async execute(job: JobRow, abort: AbortController): Promise<void> {
    const beat = setInterval(
      () => {
        this.workflow.store.heartbeat(job.id, this.id, this.iso(this.leaseMs), this.iso()).then(
          (mine) => {
            // Our lease was taken away (reaped): stop working on it.
            if (!mine) abort.abort();
          },
          // The store is unreachable for now: the next beat tries again.
          () => undefined,
        );
      },
      Math.max(Math.floor(this.leaseMs / 3), 50),
    );
    try {
      const outcome = await this.workflow.runJob(job, abort.signal);
      if (outcome === "retry") await this.workflow.store.requeueJob(job.id, this.id, this.iso(this.retryMs), this.iso());
      else await this.workflow.store.finishJob(job.id, this.id, "done", this.iso());
    } catch (err) {
      await this.workflow.store.finishJob(job.id, this.id, "failed", this.iso());
      throw err;
    } finally {
      clearInterval(beat);
    }
  }

  private wakeAll(): void {
    for (const wake of [...this.sleepers]) wake();
  }

  /** Runs jobs until none is runnable (tests, and `drain` before shutdown). */
  async drain(): Promise<number> {
    let n = 0;
    while (await this.runOne()) n++;
    return n;
  }

  /** Expires requests that waited too long and fails the requests of dead leases. */
  async sweep(): Promise<void> {
    await this.workflow.expireStale();
    for (const job of await this.workflow.store.reapExpiredJobs(this.iso())) {
      await this.workflow.interrupted(job);
    }
  }

  /** Starts the worker pool in the background. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.workflow.bus.on("job", this.onJob);
    for (let i = 0; i < this.workers; i++) this.loops.push(this.loop());
    this.sweeper = setInterval(() => void this.sweep().catch(() => undefined), this.sweepMs);
    void this.sweep().catch(() => undefined);
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      let worked = false;
      try {
        worked = await this.runOne();
      } catch {
        worked = false;
      }
      if (!worked && !this.stopping) {
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(t);
            this.sleepers.delete(done);
            resolve();
          };
          const t = setTimeout(done, this.pollMs);
          this.sleepers.add(done);
        });
      }
    }
  }

  /**
   * Stops claiming; lets running jobs finish within `graceMs`, then aborts them. Resolves
   * when every worker has stopped.
   */
  async stop(graceMs = 30_000): Promise<void> {
    this.stopping = true;
    this.workflow.bus.off("job", this.onJob);
    if (this.sweeper) clearInterval(this.sweeper);
    this.wakeAll();
    const all = Promise.all([...this.running.values()].map((r) => r.promise.catch(() => undefined)));
    const timer = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), graceMs).unref());
    if ((await Promise.race([all, timer])) === "timeout") {
      for (const r of this.running.values()) r.abort.abort();
    }
    await Promise.all(this.loops.map((l) => l.catch(() => undefined)));
  }
}
