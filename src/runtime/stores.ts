import type { Config } from "../config.ts";
import { ConfigError } from "../config.ts";
import { MemoryStore } from "../state/memory.ts";
import type { StateStore } from "../state/types.ts";

/** Picks the store adapter the config names. Shared by every runtime entry point. */
export function createStore(config: Config, _env: Readonly<Record<string, unknown>>): StateStore {
  switch (config.state) {
    case "memory":
      return new MemoryStore();
    default:
      throw new ConfigError([
        { field: "STATE", value: config.state, expected: "memory (the other stores are not built yet)" },
      ]);
  }
}
