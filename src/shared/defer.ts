/** Keeps background work alive after the response (ctx.waitUntil on Workers; runs on elsewhere). */
export type Defer = (work: Promise<unknown>) => void;
