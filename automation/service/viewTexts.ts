/**
 * The JSON text of request views, as `GET /requests` and `GET /requests/:id` answer them.
 *
 * A request that has ended (succeeded, failed, blocked, rejected, cancelled, expired) never
 * changes again: no transition leaves those statuses, nobody may approve it and no rung
 * escalates it. Its view, encoded by its schema, is kept as text, keyed by id, status and
 * `updated_at` (every transition writes both), so a page of ended requests costs neither
 * parsing the stored JSON columns nor reading their approvals, encoding and stringifying
 * again. Texts are kept as UTF-8 bytes and a page is put together as bytes: on this kind of
 * machine a JavaScript string over 128 kB (V8's large-object space, fresh pages each time)
 * cost ~0.65 ms to make against ~0.02 ms just under, while joining 50 Buffers of a 140 kB
 * page takes ~0.07 ms. A request still in flight is built fresh on every read: its status,
 * approvals and who may still approve change. Each replica keeps its own texts; nothing is
 * shared, and a row that changes under a replica gets a new key.
 */
import { z } from "zod";
import type { RequestKey, RequestRow } from "../store/store";
import { TERMINAL_STATUSES, type RequestView, type Status } from "../workflow";
import { requestSchema } from "./schemas";

/** What the texts need: whole rows by id, and their views as the routes build them. */
export interface ViewSource {
  rows(ids: readonly string[]): Promise<RequestRow[]>;
  views(rows: RequestRow[]): Promise<RequestView[]>;
}

/** Options of `ViewTexts`. */
export interface ViewTextsOptions {
  /**
   * Ended requests whose text is kept (least recently read dropped first). Default 10,000:
   * about 30 MB at the ~3 kB a request with its preview takes.
   */
  max?: number;
}

const ENDED: ReadonlySet<string> = new Set<Status>(TERMINAL_STATUSES);

/** One view as UTF-8 JSON, encoded by the response schema (fields it does not declare left out). */
export function viewText(view: RequestView): Buffer {
  const encoded = z.safeEncode(requestSchema, view);
  if (!encoded.success) throw new Error(`the view of ${view.id} does not match its schema: ${encoded.error.message}`);
  return Buffer.from(JSON.stringify(encoded.data));
}

export class ViewTexts {
  private readonly texts = new Map<string, Buffer>();
  private readonly max: number;
  /** Reads answered from kept texts, and reads that built the view (for tests and logs). */
  readonly counts = { kept: 0, built: 0 };

  constructor(
    private readonly source: ViewSource,
    options: ViewTextsOptions = {},
  ) {
    this.max = options.max ?? 10_000;
  }

  private static key(row: RequestKey): string | undefined {
    return ENDED.has(row.status) ? `${row.id}\u0000${row.status}\u0000${row.updated_at}` : undefined;
  }

  /**
   * The texts of the requests `keys` name, in order: kept ones as they are, the others built
   * from their whole rows (`loaded` when the caller has them, else read in one query, with
   * their approvals in one more). A request gone between the two reads is left out.
   */
  async of(keys: readonly RequestKey[], loaded?: readonly RequestRow[]): Promise<Buffer[]> {
    const out: (Buffer | undefined)[] = keys.map((row) => {
      const key = ViewTexts.key(row);
      const text = key === undefined ? undefined : this.texts.get(key);
      if (text !== undefined) {
        // Read again: the most recently read are the last dropped.
        this.texts.delete(key!);
        this.texts.set(key!, text);
      }
      return text;
    });
    const missing = keys.filter((_, i) => out[i] === undefined).map((k) => k.id);
    this.counts.kept += keys.length - missing.length;
    this.counts.built += missing.length;
    if (missing.length > 0) {
      const rows = loaded ? missing.flatMap((id) => loaded.find((r) => r.id === id) ?? []) : await this.source.rows(missing);
      const views = await this.source.views(rows);
      const built = new Map<string, Buffer>();
      rows.forEach((row, i) => {
        const view = views[i]!;
        const text = viewText(view);
        built.set(row.id, text);
        // Kept only when the view is the ended row read: a wait read past its expiry shows as
        // expired but its row still says awaiting_approval until that is recorded.
        const key = ViewTexts.key(row);
        if (key !== undefined && view.status === row.status && view.updatedAt === row.updated_at) this.keep(key, text);
      });
      keys.forEach((k, i) => (out[i] ??= built.get(k.id)));
    }
    return out.filter((t): t is Buffer => t !== undefined);
  }

  private keep(key: string, text: Buffer): void {
    this.texts.set(key, text);
    if (this.texts.size > this.max) this.texts.delete(this.texts.keys().next().value!);
  }

  /** How many texts are kept now. */
  get size(): number {
    return this.texts.size;
  }
}

const OPEN = Buffer.from('{"requests":[');
const COMMA = Buffer.from(",");
const CLOSE = Buffer.from("]");
const END = Buffer.from("}");

/** The `GET /requests` answer as UTF-8 JSON: the page's views and the cursor of the next page. */
export function pageText(texts: Buffer[], next: string | undefined): Buffer {
  const parts: Buffer[] = [OPEN];
  texts.forEach((text, i) => parts.push(...(i === 0 ? [text] : [COMMA, text])));
  parts.push(CLOSE);
  if (next !== undefined) parts.push(Buffer.from(`,"next":${JSON.stringify(next)}`));
  parts.push(END);
  return Buffer.concat(parts);
}
