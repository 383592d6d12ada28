// Run by Deno (test/support/deno-kv.ts starts it): two DenoKvStores, each on its own Deno.openKv
// handle of one database file (two instances sharing the store), served to the test over HTTP.
// A call is POST / with {store: 0 | 1, method, args}; the answer carries the result or the
// error's class and message, and the KV operations made so far (the store's round trips).
import { type DenoKvLike, DenoKvStore, type KvAtomicLike } from "../../src/state/deno-kv.ts";
import type { StateStore } from "../../src/state/types.ts";

declare const Deno: {
  env: { get(name: string): string | undefined };
  openKv(path?: string): Promise<DenoKvLike>;
  serve(
    options: { port: number; hostname: string; onListen: (address: { port: number }) => void },
    handler: (request: Request) => Promise<Response>,
  ): unknown;
};

let ops = 0;

/** Counts every KV operation that reaches the database. */
function counting(kv: DenoKvLike): DenoKvLike {
  const counted =
    <A extends unknown[], R>(operation: (...args: A) => R) =>
    (...args: A): R => {
      ops++;
      return operation(...args);
    };
  return {
    get: counted((key) => kv.get(key)),
    getMany: counted((keys) => kv.getMany(keys)),
    list: counted((selector) => kv.list(selector)),
    atomic: () => {
      const atomic: KvAtomicLike = kv.atomic();
      const commit = atomic.commit.bind(atomic);
      atomic.commit = counted(commit);
      return atomic;
    },
    close: () => kv.close(),
  };
}

const path = Deno.env.get("KV_PATH");
const stores: StateStore[] = [0, 1].map(
  () => new DenoKvStore(Deno.openKv(path).then(counting), Deno.env.get("KV_PREFIX") ?? "contract"),
);

/** JSON cannot carry NaN, the infinities or undefined: the test tags them. */
const revive = (_key: string, value: unknown): unknown => {
  if (typeof value === "object" && value !== null && "$special" in value) {
    const special = (value as { $special: string }).$special;
    return special === "undefined" ? undefined : Number(special);
  }
  return value;
};

Deno.serve(
  { port: 0, hostname: "127.0.0.1", onListen: ({ port }) => console.log(`listening ${port}`) },
  async (request) => {
    const { store, method, args } = JSON.parse(await request.text(), revive) as {
      store: number;
      method: string;
      args: unknown[];
    };
    const target = stores[store] as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
    try {
      const result = await target[method]!.apply(stores[store], args);
      return Response.json({ result: result ?? null, ops });
    } catch (error) {
      return Response.json({ error: { name: (error as Error).name, message: (error as Error).message }, ops });
    }
  },
);
