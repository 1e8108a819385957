/**
 * Runs the workflow's jobs: a pool of workers per replica claims queued jobs from the
 * store (at most one running job per stack across all replicas), keeps a heartbeat on each
 * lease, and hands the job to the workflow. Leases that run out (a replica that died) are
 * reaped: their request is marked `failed` with reason `interrupted`.
 */
import { randomUUID } from "node:crypto";
import { JobInterrupted } from "./engine/types";
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
  /** Where loop, sweep and heartbeat errors go. Default: nowhere. */
  log?: RunnerLog;
}

/** The part of a pino logger the runner uses. */
export interface RunnerLog {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** How long aborted jobs get to unwind after the grace ran out, before they are recorded as interrupted. */
const UNWIND_MS = 5000;

export class Runner {
  readonly id = `replica-${randomUUID().slice(0, 8)}`;
  private readonly workers: number;
  private readonly leaseMs: number;
  private readonly pollMs: number;
  private readonly retryMs: number;
  private readonly sweepMs: number;
  private readonly now: () => Date;
  private running = new Map<number, { job: JobRow; promise: Promise<void>; abort: AbortController }>();
  private stopping = false;
  private started = false;
  private sleepers = new Set<() => void>();
  // One new job wakes one idle worker: waking them all sent every other one to claim nothing.
  private readonly onJob = () => this.wakeOne();
  private loops: Promise<void>[] = [];
  private sweeper?: NodeJS.Timeout;
  private readonly log: RunnerLog;
  /** Jobs aborted when the shutdown grace ran out, to record as interrupted. */
  private cut: JobRow[] = [];

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
    this.log = options.log ?? { warn: () => undefined, error: () => undefined };
  }

  /** Whether the runner has been told to stop (no job is claimed after that). */
  get stopped(): boolean {
    return this.stopping;
  }

  private iso(offsetMs = 0): string {
    return new Date(this.now().getTime() + offsetMs).toISOString();
  }

  /** Claims and runs one job; false when there was none to claim. */
  async runOne(): Promise<boolean> {
    if (this.stopping) return false;
    const job = await this.workflow.store.claimJob(this.id, this.iso(), this.iso(this.leaseMs));
    if (!job) return false;
    if (this.stopping) {
      // Claimed while the service was told to stop: back in the queue, untouched.
      await this.workflow.store.requeueJob(job.id, this.id, this.iso(), this.iso());
      return false;
    }
    const abort = new AbortController();
    const promise = this.execute(job, abort);
    this.running.set(job.id, { job, promise, abort });
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
          (err: unknown) => this.log.warn({ err, requestId: job.request_id, job: job.id }, "lease heartbeat failed"),
        );
      },
      Math.max(Math.floor(this.leaseMs / 3), 50),
    );
    try {
      const outcome = await this.workflow.runJob(job, abort.signal);
      if (outcome === "retry") await this.workflow.store.requeueJob(job.id, this.id, this.iso(this.retryMs), this.iso());
      else await this.workflow.store.finishJob(job.id, this.id, "done", this.iso());
    } catch (err) {
      // Interrupted at shutdown: `stop` records it as a dead replica's job would be.
      if (abort.signal.reason instanceof JobInterrupted) {
        this.cut.push(job);
        throw abort.signal.reason;
      }
      this.log.error({ err, requestId: job.request_id, job: job.id, kind: job.kind }, "job failed");
      await this.workflow.store.finishJob(job.id, this.id, "failed", this.iso());
      throw err;
    } finally {
      clearInterval(beat);
    }
  }

  private wakeAll(): void {
    for (const wake of [...this.sleepers]) wake();
  }

  private wakeOne(): void {
    this.sleepers.values().next().value?.();
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
    const sweep = () => void this.sweep().catch((err: unknown) => this.log.error({ err }, "sweep failed: expiry and lease reaping will be tried again"));
    this.sweeper = setInterval(sweep, this.sweepMs);
    sweep();
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      let worked = false;
      try {
        worked = await this.runOne();
      } catch (err) {
        if (!(err instanceof JobInterrupted)) this.log.error({ err }, "worker loop error");
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

  /** Stops claiming jobs at once (SIGTERM): running jobs go on; `stop` waits for them. */
  stopClaiming(): void {
    this.stopping = true;
    this.workflow.bus.off("job", this.onJob);
    if (this.sweeper) clearInterval(this.sweeper);
    this.wakeAll();
  }

  /**
   * Stops claiming; lets running jobs finish within `graceMs`. A job still running then is
   * aborted and recorded exactly as a dead replica's would be (`interrupted`, the stack
   * flagged for a refresh). Resolves when every worker has stopped.
   */
  async stop(graceMs = 30_000): Promise<void> {
    this.stopClaiming();
    const settled = () => Promise.all([...this.running.values()].map((r) => r.promise.catch(() => undefined)));
    const timeout = (ms: number) => new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), ms).unref());
    if ((await Promise.race([settled(), timeout(graceMs)])) === "timeout") {
      for (const r of this.running.values()) r.abort.abort(new JobInterrupted());
      await Promise.race([settled(), timeout(UNWIND_MS)]);
      // Those that stopped on the abort, and any that did not stop at all.
      for (const job of [...this.cut, ...[...this.running.values()].map((r) => r.job)]) {
        try {
          await this.workflow.store.finishJob(job.id, this.id, "failed", this.iso());
          await this.workflow.interrupted(job);
          this.log.warn({ requestId: job.request_id, job: job.id, kind: job.kind }, "job interrupted: the shutdown grace ran out");
        } catch (err) {
          // Its lease runs out and another replica (or the next start) reaps it instead.
          this.log.error({ err, requestId: job.request_id, job: job.id }, "could not record an interrupted job");
        }
      }
    }
    await Promise.race([Promise.all(this.loops.map((l) => l.catch(() => undefined))), timeout(UNWIND_MS)]);
  }
}
