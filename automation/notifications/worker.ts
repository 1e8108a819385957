/**
 * The delivery worker, one on every replica. Each tick it runs the store-driven sweeps it
 * was given (the escalation ladder), then claims due deliveries like jobs (an owner and a
 * lease; `FOR UPDATE SKIP LOCKED` on PostgreSQL) and sends each to its sink:
 *
 * - a 2xx answer is the acknowledgement: the delivery is `delivered` and never sent again;
 * - any other answer or a network error is retried after an exponential backoff with
 *   jitter, or after the receiver's `Retry-After`, up to `maxAttempts` tries; then the
 *   delivery is `dead`, with its last error;
 * - a worker that dies mid-delivery loses its lease: another replica (or this one after a
 *   restart) claims the delivery when the lease ran out. A receiver may then see an event
 *   twice only if it answered and the worker died before recording it: `x-paved-delivery`
 *   lets it drop the duplicate.
 */
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { Store } from "../store/store";
import type { NotificationSettings } from "./config";
import { buildRequest } from "./sinks";

export interface RetryPolicy {
  /** The first retry's delay before jitter. Default 5 s. */
  baseDelayMs: number;
  /** The longest delay (and the longest `Retry-After` honoured). Default 1 h. */
  maxDelayMs: number;
  /** Tries before a delivery is `dead`. Default 10. */
  maxAttempts: number;
}

export const DEFAULT_RETRY: RetryPolicy = { baseDelayMs: 5_000, maxDelayMs: 3_600_000, maxAttempts: 10 };

/** `Retry-After` (seconds or an HTTP date) in milliseconds from `now`; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, now: Date): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(date - now.getTime(), 0);
}

/**
 * The delay before try `attempt + 1` after `attempt` failed: the receiver's `Retry-After`
 * when it gave one (capped at `maxDelayMs`), else `baseDelayMs * 2^(attempt-1)` capped at
 * `maxDelayMs`, with "equal jitter" (between half and all of it), so replicas retrying
 * after one outage do not all knock at once.
 */
export function retryDelay(attempt: number, retryAfterMs: number | undefined, policy: RetryPolicy, random: () => number = Math.random): number {
  if (retryAfterMs !== undefined) return Math.min(retryAfterMs, policy.maxDelayMs);
  const exp = Math.min(policy.baseDelayMs * 2 ** Math.max(attempt - 1, 0), policy.maxDelayMs);
  return Math.round(exp / 2 + random() * (exp / 2));
}

export interface NotificationWorkerOptions {
  store: Store;
  settings: NotificationSettings;
  now?: () => Date;
  owner?: string;
  /** A claimed delivery's lease: longer than `timeoutMs`. Default 60 s. */
  leaseMs?: number;
  /** Time between ticks. Default 1 s. */
  pollMs?: number;
  /** Deliveries claimed at once. Default 10. */
  batch?: number;
  /** An attempt's time limit. Default 10 s. */
  timeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  /** Where `env:NAME` settings are read. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  random?: () => number;
  /** Store-driven timers run at each tick (the escalation ladder). */
  sweeps?: (() => Promise<unknown>)[];
  log?: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
}

export class NotificationWorker {
  readonly owner: string;
  private readonly now: () => Date;
  private readonly retry: RetryPolicy;
  private timer?: NodeJS.Timeout;
  private current?: Promise<number>;
  private stopped = false;

  constructor(private readonly options: NotificationWorkerOptions) {
    this.owner = options.owner ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    this.now = options.now ?? (() => new Date());
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
  }

  /** Ticks every `pollMs` until `stop`. */
  start(): void {
    if (this.timer) return;
    this.stopped = false;
    this.timer = setInterval(() => {
      if (!this.current) void this.tick().catch((err: unknown) => this.options.log?.error({ err }, "notification worker tick failed"));
    }, this.options.pollMs ?? 1000);
    this.timer.unref();
  }

  /** Stops ticking and waits for the deliveries in flight (each ends within `timeoutMs`). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.current?.catch(() => undefined);
  }

  /** One round: the sweeps, then every due delivery. Returns the number of deliveries attempted. */
  tick(): Promise<number> {
    const run = async () => {
      for (const sweep of this.options.sweeps ?? []) {
        await sweep().catch((err: unknown) => this.options.log?.error({ err }, "notification sweep failed"));
      }
      let attempted = 0;
      for (;;) {
        if (this.stopped) break;
        const now = this.now();
        const leaseUntil = new Date(now.getTime() + (this.options.leaseMs ?? 60_000)).toISOString();
        const claimed = await this.options.store.claimDeliveries(this.owner, now.toISOString(), leaseUntil, this.options.batch ?? 10);
        if (claimed.length === 0) break;
        await Promise.all(claimed.map((d) => this.deliver(d)));
        attempted += claimed.length;
      }
      return attempted;
    };
    const p = (this.current ?? Promise.resolve(0)).catch(() => 0).then(run);
    this.current = p;
    void p.finally(() => {
      if (this.current === p) this.current = undefined;
    });
    return p;
  }

  private async deliver(d: { id: number; sink: string; attempts: number; payload: string; event_id: string }): Promise<void> {
    const { store, settings } = this.options;
    const sink = settings.sinks[d.sink];
    let error: string;
    let retryAfterMs: number | undefined;
    let url: string | undefined;
    if (!sink) {
      error = `sink ${d.sink} is no longer in notifications.sinks`;
    } else {
      try {
        const req = buildRequest(d.sink, sink, d.payload, this.options.env ?? process.env, this.now());
        url = req.url;
        const res = await fetch(req.url, {
          method: "POST",
          headers: req.headers,
          body: req.body,
          redirect: "manual",
          signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
        });
        await res.arrayBuffer().catch(() => undefined);
        if (res.status >= 200 && res.status < 300) {
          await store.finishDelivery(d.id, this.owner, { status: "delivered", last_error: null, now: this.now().toISOString() });
          return;
        }
        error = `answered ${res.status}`;
        retryAfterMs = parseRetryAfter(res.headers.get("retry-after"), this.now());
      } catch (err) {
        // Never the URL (a Slack URL is a credential): the error's code or message only.
        const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
        error = e.name === "TimeoutError" ? "timed out" : (e.cause?.code ?? e.cause?.message ?? e.message ?? String(err));
        if (url) error = error.split(url).join(`(sink ${d.sink}'s url)`);
      }
    }
    const now = this.now();
    if (d.attempts >= this.retry.maxAttempts) {
      await store.finishDelivery(d.id, this.owner, { status: "dead", last_error: `${error} (after ${d.attempts} tries)`, now: now.toISOString() });
      this.options.log?.warn({ delivery: d.id, event: d.event_id, sink: d.sink, attempts: d.attempts }, `notification dead: ${error}`);
      return;
    }
    const delay = retryDelay(d.attempts, retryAfterMs, this.retry, this.options.random);
    await store.finishDelivery(d.id, this.owner, {
      status: "queued",
      run_after: new Date(now.getTime() + delay).toISOString(),
      last_error: error,
      now: now.toISOString(),
    });
  }
}
