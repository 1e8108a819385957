/**
 * Server-Sent Events for requests, all fed by one watcher: the store's `events` emitter
 * (this process's events, and on PostgreSQL every replica's through LISTEN/NOTIFY). A
 * stream reads the store only when an event of its request arrives, never on a timer.
 * One timer writes a heartbeat comment to every stream (proxies with idle timeouts keep
 * quiet streams open); each person may hold a bounded number of streams; at shutdown
 * every stream gets a final `shutdown` event telling the client to reconnect.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Person } from "../config";
import { TERMINAL_STATUSES, Workflow } from "../workflow";
import { DomainError } from "../errors";

export interface StreamOptions {
  /** Time between heartbeat comments. Default 15 s. */
  heartbeatMs?: number;
  /** Streams one person may hold open at once. Default 20. */
  perPerson?: number;
}

/** A stream's connection and where it is in its request's events. */
interface Stream {
  person: string;
  requestId: string;
  last: number;
  write(text: string): void;
  flush(): void;
  end(): void;
}

export class StreamHub {
  private readonly byRequest = new Map<string, Set<Stream>>();
  private readonly byPerson = new Map<string, number>();
  private total = 0;
  private readonly heartbeatMs: number;
  readonly perPerson: number;
  private heartbeat?: NodeJS.Timeout;
  private closing = false;
  private readonly onEvent = (requestId: string) => {
    for (const s of this.byRequest.get(requestId) ?? []) s.flush();
  };
  // Events may have been missed while the watcher was away: every stream looks again.
  private readonly onReconnected = () => {
    for (const set of this.byRequest.values()) for (const s of set) s.flush();
  };

  constructor(
    private readonly workflow: Workflow,
    options: StreamOptions = {},
  ) {
    this.heartbeatMs = options.heartbeatMs ?? 15_000;
    this.perPerson = options.perPerson ?? 20;
  }

  /** Open streams (all, or one person's). */
  count(person?: string): number {
    return person === undefined ? this.total : (this.byPerson.get(person) ?? 0);
  }

  /** Refuses a stream over the person's cap (429) or during shutdown (503); call before `open`. */
  admit(person: Person): void {
    if (this.closing) throw new DomainError("unavailable", "shutting_down", "the service is stopping: reconnect in a moment");
    if (this.count(person.name) >= this.perPerson) {
      throw new DomainError(
        "too_many",
        "too_many_streams",
        `${person.name} already has ${this.perPerson} event streams open (the most one person may hold): close one first`,
      );
    }
  }

  /**
   * Streams the request's events: every stored one after `Last-Event-ID`, then new ones as
   * they come, ending after a terminal status. Resolves when the stream ends.
   */
  async open(person: Person, requestId: string, request: FastifyRequest, reply: FastifyReply): Promise<void> {
    this.admit(person);
    // Security headers set by the hooks so far (helmet's), then the stream's own.
    const inherited = Object.fromEntries(Object.entries(reply.getHeaders()).filter((e): e is [string, string | number | string[]] => e[1] !== undefined));
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      ...inherited,
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      connection: "keep-alive",
      "x-paved-engine": this.workflow.engine.name,
    });
    const store = this.workflow.store;
    await new Promise<void>((resolve) => {
      let busy = false;
      // An event that arrives while a flush runs gets a flush of its own right after.
      let again = false;
      let ended = false;
      const stream: Stream = {
        person: person.name,
        requestId,
        last: Number(request.headers["last-event-id"] ?? 0) || 0,
        write: (text) => {
          if (!ended && !res.writableEnded) res.write(text);
        },
        flush: () => void flush().catch(() => undefined),
        end: () => {
          if (ended) return;
          ended = true;
          this.remove(stream);
          res.off("close", stream.end);
          if (!res.writableEnded) res.end();
          resolve();
        },
      };
      const flush = async (): Promise<void> => {
        if (ended) return;
        if (busy) {
          again = true;
          return;
        }
        busy = true;
        again = false;
        try {
          for (const e of await store.eventsAfter(requestId, stream.last)) {
            if (ended) return;
            stream.last = e.id;
            stream.write(`id: ${e.id}\nevent: ${e.type}\ndata: ${e.data}\n\n`);
            const data = JSON.parse(e.data) as { status?: string };
            if (e.type === "status" && data.status && (TERMINAL_STATUSES as readonly string[]).includes(data.status)) return stream.end();
          }
        } finally {
          busy = false;
        }
        if (again) return flush();
      };
      // The client went away (or the connection dropped): the stream and its place are given back.
      res.on("close", stream.end);
      this.add(stream);
      if (res.destroyed) return stream.end();
      stream.flush();
    });
  }

  private add(stream: Stream): void {
    if (this.total++ === 0) {
      this.workflow.store.events.on("event", this.onEvent);
      this.workflow.store.events.on("reconnected", this.onReconnected);
      this.heartbeat = setInterval(() => this.beat(), this.heartbeatMs);
      this.heartbeat.unref();
    }
    let set = this.byRequest.get(stream.requestId);
    if (!set) this.byRequest.set(stream.requestId, (set = new Set()));
    set.add(stream);
    this.byPerson.set(stream.person, (this.byPerson.get(stream.person) ?? 0) + 1);
  }

  private remove(stream: Stream): void {
    const set = this.byRequest.get(stream.requestId);
    if (!set?.delete(stream)) return;
    if (set.size === 0) this.byRequest.delete(stream.requestId);
    const n = (this.byPerson.get(stream.person) ?? 1) - 1;
    if (n > 0) this.byPerson.set(stream.person, n);
    else this.byPerson.delete(stream.person);
    // The last stream gone: nothing is left listening or ticking.
    if (--this.total === 0) {
      this.workflow.store.events.off("event", this.onEvent);
      this.workflow.store.events.off("reconnected", this.onReconnected);
      if (this.heartbeat) clearInterval(this.heartbeat);
      this.heartbeat = undefined;
    }
  }

  private beat(): void {
    for (const set of this.byRequest.values()) for (const s of set) s.write(": heartbeat\n\n");
  }

  /** Shutdown: refuses new streams, tells every open one to reconnect, and ends it. */
  closeAll(): void {
    this.closing = true;
    const data = JSON.stringify({ reconnect: true, message: "the service is stopping: reconnect with Last-Event-ID to resume" });
    for (const set of [...this.byRequest.values()]) {
      for (const s of [...set]) {
        s.write(`retry: 1000\nevent: shutdown\ndata: ${data}\n\n`);
        s.end();
      }
    }
  }
}
