import { config } from "zod/mini";
import en from "zod/v4/locales/en.js";

/**
 * zod/mini, not zod: every schema file takes z from here (`import * as z from "./zod.ts"`).
 * Classic zod hangs every method on every schema, so a bundler cannot drop any of it: it was
 * 454 KB of the 739 KB minified Worker, parsed by every new isolate. zod/mini is the same
 * validator as plain functions that tree-shake: with these schemas and the English messages it
 * is 34 KB of 317 KB (`wrangler deploy --dry-run`: 759 -> 334 KiB, gzip 198 -> 112 KiB).
 * Mini ships no locale (its messages read "Invalid input"), so the English one classic zod
 * configures is set here, once, before any schema can parse: the config tests check those
 * messages. Re-exported with `export *`, not as a namespace object (`export { z }`), which
 * would keep all of zod/mini, every locale included, in the bundle.
 */
config(en());

export * from "zod/mini";
