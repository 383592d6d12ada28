import { renewalDue } from "../../state/session-renewal.ts";

/** Name and schema of the table; `until` is indexed so the sweep finds expired rows first. */
const TABLE = "lb_sessions";
const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS ${TABLE} (key TEXT PRIMARY KEY, backend TEXT NOT NULL, until INTEGER NOT NULL) WITHOUT ROWID`,
  `CREATE INDEX IF NOT EXISTS ${TABLE}_until ON ${TABLE} (until)`,
];

/** A busy session's expiry is rewritten at most this often (see renewalDue). */
const RENEW_STEP_MS = 1_000;

/**
 * Expired rows a claim deletes on its way out. Each claim adds at most one row, so removing up
 * to two keeps the table from outgrowing the sessions alive at its peak while claims continue.
 */
const SWEEP_PER_CLAIM = 2;

/**
 * A pool object's session placements in its SQLite storage (not the KV API the object uses for
 * everything else: that API lists keys in key order only, so finding expired entries would mean
 * reading all of them; here the index on `until` hands them over oldest first).
 *
 * Every method is synchronous, so inside the object's single thread a claim is one atomic step,
 * and the output gate holds the RPC reply until its writes are durable: a placement survives
 * the object being evicted or workerd restarting.
 */
export class SessionTable {
  #ready = false;

  constructor(private readonly sql: SqlStorage) {}

  /** The contract of StateStore.claimSession, with the arguments already checked. */
  claim(key: string, backend: string, ttlMs: number, replacing: string | undefined, now: number): string {
    this.#open();
    const [held] = this.sql
      .exec<{ backend: string; until: number }>(`SELECT backend, until FROM ${TABLE} WHERE key = ?`, key)
      .toArray();
    let placed = backend;
    if (held && held.until > now && held.backend !== replacing) {
      placed = held.backend;
      if (renewalDue(held.until, now, ttlMs, RENEW_STEP_MS)) {
        this.sql.exec(`UPDATE ${TABLE} SET until = ? WHERE key = ?`, now + ttlMs, key);
      }
    } else {
      this.sql.exec(
        `INSERT INTO ${TABLE} (key, backend, until) VALUES (?, ?, ?)
         ON CONFLICT (key) DO UPDATE SET backend = excluded.backend, until = excluded.until`,
        key,
        backend,
        now + ttlMs,
      );
    }
    this.sweep(now, SWEEP_PER_CLAIM);
    return placed;
  }

  /** Deletes up to `limit` expired placements, oldest first. */
  sweep(now: number, limit: number): void {
    this.#open();
    this.sql.exec(
      `DELETE FROM ${TABLE} WHERE key IN (SELECT key FROM ${TABLE} WHERE until <= ? ORDER BY until LIMIT ?)`,
      now,
      limit,
    );
  }

  /** Created on first use (a claim, or the alarm's sweep), not in every pool object's constructor. */
  #open(): void {
    if (this.#ready) return;
    for (const statement of SCHEMA) this.sql.exec(statement);
    this.#ready = true;
  }
}
