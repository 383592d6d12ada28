import type { Config } from "../config/load-config.ts";
import { ConfigError } from "../config/load-config.ts";
import { DurableObjectStore, type PoolObjectNamespace } from "../state/durable-object-store.ts";
import type { KvNamespaceLike } from "../state/kv.ts";
import { MemoryStore } from "../state/memory.ts";
import type { StateKind, StateStore } from "../state/types.ts";

/**
 * Stores only one runtime can open, handed in by its entry point (src/runtime/deno.ts gives
 * deno-kv), so their code never enters the other runtimes' bundles.
 */
export type StoreOpeners = Partial<Record<StateKind, (config: Config) => StateStore>>;

/**
 * Picks the store adapter the config names, from the runtime's env (Worker bindings or
 * process.env). Shared by every entry point; a missing binding or secret refuses to start.
 *
 * Asynchronous because the upstash and kv adapters are imported when named, not before: the
 * Worker build splits them (and @upstash/redis, 78 KB minified) into modules of their own, so
 * a memory or durable-object deployment never evaluates them (README, The Worker's size). Each
 * entry point opens its store once (per process, per isolate), never per request. Memory and
 * durable-object stay static: they are small, and durable-object is wrangler.toml's default.
 */
export async function createStore(
  config: Config,
  env: Readonly<Record<string, unknown>>,
  openers: StoreOpeners = {},
): Promise<StateStore> {
  const opener = openers[config.state];
  if (opener) return opener(config);
  switch (config.state) {
    case "memory":
      return new MemoryStore();
    case "upstash": {
      const url = requireString(env, "UPSTASH_REDIS_REST_URL", "the Upstash REST URL (https://...)");
      const token = requireString(env, "UPSTASH_REDIS_REST_TOKEN", "the Upstash REST token (a secret)");
      const { UpstashStore } = await import("../state/upstash.ts");
      return new UpstashStore({ url, token, prefix: config.state_prefix });
    }
    case "durable-object":
      return new DurableObjectStore(
        requireBinding<PoolObjectNamespace>(
          env,
          "LB_STATE",
          "a Durable Object namespace binding (see wrangler.toml)",
          "idFromName",
        ),
      );
    case "kv": {
      const namespace = requireBinding<KvNamespaceLike>(
        env,
        "LB_KV",
        "a KV namespace binding (see wrangler.toml)",
        "get",
      );
      const { KvStore } = await import("../state/kv.ts");
      return new KvStore(namespace, config.state_prefix);
    }
    case "deno-kv":
      // loadConfig refuses deno-kv where no opener is given; this is the last line of defence.
      throw new ConfigError([
        { field: "STATE", value: config.state, expected: "a store this runtime can open (deno-kv: Deno only)" },
      ]);
  }
}

function requireString(env: Readonly<Record<string, unknown>>, name: string, expected: string): string {
  const value = env[name];
  if (typeof value === "string" && value.trim() !== "") return value.trim();
  throw new ConfigError([{ field: name, value, expected: `${expected}, required when STATE is this store` }]);
}

function requireBinding<T>(env: Readonly<Record<string, unknown>>, name: string, expected: string, method: string): T {
  const value = env[name];
  if (typeof value === "object" && value !== null && typeof (value as Record<string, unknown>)[method] === "function") {
    return value as T;
  }
  throw new ConfigError([{ field: name, value: typeof value, expected }]);
}
