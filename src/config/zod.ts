import * as z from "zod/mini";
import en from "zod/v4/locales/en.js";

/**
 * zod/mini, not zod: every schema file imports z from here. Classic zod hangs every method on
 * every schema, so a bundler cannot drop any of it: it was 454 KB of the 739 KB minified Worker,
 * parsed by every new isolate. zod/mini is the same validator as plain functions that tree-shake;
 * the config schemas, the English messages included, now cost ~36 KB. Mini ships no locale (its
 * messages read "Invalid input"), so the English one classic zod configures is set here, once,
 * before any schema can parse; the config tests check those messages.
 */
z.config(en());

export { z };
