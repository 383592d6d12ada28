// The simulated clock: a discrete-event loop on which the project's own code runs. It hands out
// the Timers the state layer already accepts (src/state/timers.ts) and a now() for every clock
// parameter, so nothing in a run waits on real time: idle instances cost nothing until one of
// their timers is due, which is what makes 10,000 instances feasible.
import type { Timers } from "../../src/state/timers.ts";

interface Event {
  readonly at: number;
  readonly order: number;
  fire: (() => void) | undefined;
}

/** Macrotask boundary: every promise callback queued so far has run once this resolves. */
const drained = () => new Promise<void>((resolve) => setImmediate(resolve));

export class SimClock implements Timers {
  #now: number;
  #order = 0;
  /** Binary min-heap on (at, order). */
  readonly #heap: Event[] = [];
  /** Events fired so far (for the run's own statistics). */
  fired = 0;

  constructor(start: number) {
    this.#now = start;
  }

  readonly now = (): number => this.#now;

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => void this.#push(ms, resolve));
  }

  after(ms: number, callback: () => void): () => void {
    const event = this.#push(ms, callback);
    return () => {
      event.fire = undefined;
    };
  }

  /** Calls `callback` at absolute time `at` (or now, if that has passed). */
  at(at: number, callback: () => void): void {
    this.#push(at - this.#now, callback);
  }

  /**
   * Fires every event due by `until` in time order, letting the promise callbacks each one
   * starts run to completion before the next event, then sets the clock to `until`.
   */
  async runUntil(until: number): Promise<void> {
    for (;;) {
      const next = this.#heap[0];
      if (!next || next.at > until) break;
      this.#pop();
      const fire = next.fire;
      if (!fire) continue;
      this.#now = Math.max(this.#now, next.at);
      this.fired++;
      fire();
      await drained();
    }
    this.#now = Math.max(this.#now, until);
  }

  #push(ms: number, fire: () => void): Event {
    const event: Event = { at: this.#now + Math.max(0, ms), order: this.#order++, fire };
    const heap = this.#heap;
    heap.push(event);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
    return event;
  }

  #pop(): void {
    const heap = this.#heap;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let least = i;
      if (left < heap.length && before(heap[left]!, heap[least]!)) least = left;
      if (right < heap.length && before(heap[right]!, heap[least]!)) least = right;
      if (least === i) break;
      [heap[i], heap[least]] = [heap[least]!, heap[i]!];
      i = least;
    }
  }
}

function before(a: Event, b: Event): boolean {
  return a.at < b.at || (a.at === b.at && a.order < b.order);
}
