// Child processes for the bench: every server is spawned in its own process group, tracked, and
// killed (group and all) when the bench ends, fails or is interrupted. Nothing is left behind.
import { type ChildProcess, spawn } from "node:child_process";
import { appendFileSync, closeSync, fstatSync, openSync, readdirSync, readFileSync, readSync } from "node:fs";

export interface Proc {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** The last few KiB of stdout and stderr, for error messages. */
  output(): string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<void>;
  readonly running: boolean;
  /** SIGTERM to the whole process group, SIGKILL after `graceMs`; resolves once it exited. */
  stop(graceMs?: number): Promise<void>;
}

const live = new Set<Proc>();
/** Short-lived commands (wrk, version probes) still running: killed too if the bench stops. */
const commands = new Set<ChildProcess>();
let hooksInstalled = false;

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/** Kills (SIGKILL) every process group this module started and that is still running. */
export function killAllNow(): void {
  for (const proc of live) killGroup(proc.pid, "SIGKILL");
  live.clear();
  for (const child of commands) child.kill("SIGKILL");
  commands.clear();
}

/** Stops every tracked process politely (SIGTERM, then SIGKILL). */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((proc) => proc.stop()));
}

/**
 * Installs exit hooks once: on SIGINT/SIGTERM the `onSignal` cleanup runs (bounded), then the
 * process exits; on any exit every tracked group is SIGKILLed synchronously.
 */
export function installCleanupHooks(onSignal: () => Promise<void>): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.once("exit", killAllNow);
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    console.error(`\nbench: ${signal}: stopping every server it started`);
    const forced = setTimeout(() => process.exit(130), 5_000);
    forced.unref();
    onSignal()
      .catch(() => undefined)
      .finally(() => {
        killAllNow();
        process.exit(130);
      });
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
  process.on("SIGHUP", handler);
}

export interface StartOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /**
   * stdout and stderr go to this file instead of a pipe the bench reads. A pipe's reader is woken
   * for every write, and on a VM each wake-up of another CPU costs the writer a hypervisor exit:
   * workerd writes every console.log on its own, so a server logging each request would pay the
   * bench's reading of its log, not its own logging (a log file, as nginx's access_log, has no reader).
   */
  readonly outputFile?: string;
}

/** How much of a process's output is kept for error messages. */
const TAIL_BYTES = 8_000;

/** The last TAIL_BYTES of a file, decoded. */
function fileTail(path: string): string {
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    const length = Math.min(size, TAIL_BYTES);
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, size - length);
    return buffer.toString("utf8");
  } finally {
    closeSync(fd);
  }
}

/** Spawns `command args` in a new process group, tracked for cleanup. */
export function startProcess(name: string, command: string, args: readonly string[], options: StartOptions = {}): Proc {
  const outputFd = options.outputFile === undefined ? undefined : openSync(options.outputFile, "a");
  const child = spawn(command, [...args], {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: outputFd === undefined ? ["ignore", "pipe", "pipe"] : ["ignore", outputFd, outputFd],
    detached: true,
  });
  if (outputFd !== undefined) closeSync(outputFd);
  // The last chunks as they came, decoded only when asked for: a row that logs every request
  // (the -json rows; workerd writes each console.log on its own) would otherwise have this
  // process, on the same cores, decode and copy 8 KB of text for every line it reads.
  const chunks: Buffer[] = [];
  let held = 0;
  const collect = (chunk: Buffer) => {
    chunks.push(chunk);
    held += chunk.length;
    while (held - chunks[0]!.length >= TAIL_BYTES) held -= chunks.shift()!.length;
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  let spawnError: Error | undefined;
  child.once("error", (error) => {
    spawnError = error;
    collect(Buffer.from(`\n[spawn error] ${error.message}\n`));
  });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.once("error", () => resolve());
  });
  if (child.pid === undefined) {
    throw new Error(`could not start ${name} (${command}): ${spawnError?.message ?? "no pid"}`);
  }
  const pid = child.pid;
  const proc: Proc = {
    name,
    child,
    pid,
    output: () =>
      options.outputFile === undefined
        ? Buffer.concat(chunks).subarray(-TAIL_BYTES).toString("utf8")
        : `${fileTail(options.outputFile)}${Buffer.concat(chunks).toString("utf8")}`,
    exited,
    get running() {
      return child.exitCode === null && child.signalCode === null && !spawnError;
    },
    async stop(graceMs = 3_000) {
      if (proc.running) {
        killGroup(pid, "SIGTERM");
        const timer = setTimeout(() => killGroup(pid, "SIGKILL"), graceMs);
        await exited;
        clearTimeout(timer);
      }
      // Whatever the leader left in its group (nginx workers, redis-server) goes too.
      killGroup(pid, "SIGKILL");
      live.delete(proc);
    },
  };
  // Tracked until stop(): an exited leader may still have group members (nginx workers).
  live.add(proc);
  // For the test: every process group the bench started, so it can check none outlived it.
  const pidLog = process.env["BENCH_PID_LOG"];
  if (pidLog) appendFileSync(pidLog, `${pid} ${name}\n`);
  return proc;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Polls `url` until it answers with `expectStatus` (any status below 500 by default), the
 * process exits, or the deadline passes.
 */
export async function waitForHttp(
  url: string,
  proc: Proc | undefined,
  options: { timeoutMs?: number; headers?: Record<string, string>; expectStatus?: number } = {},
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  let lastError = "";
  for (;;) {
    if (proc && !proc.running) {
      throw new Error(`${proc.name} exited before it answered on ${url}:\n${proc.output().trim()}`);
    }
    try {
      const response = await fetch(url, { headers: options.headers, signal: AbortSignal.timeout(1_000) });
      await response.arrayBuffer();
      const ok = options.expectStatus === undefined ? response.status < 500 : response.status === options.expectStatus;
      if (ok) return;
      lastError = `status ${response.status}`;
    } catch (error) {
      lastError = (error as Error).message;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${proc?.name ?? url} did not answer on ${url} in time (${lastError})${proc ? `:\n${proc.output().trim()}` : ""}`,
      );
    }
    await sleep(25);
  }
}

/** Every descendant of `pid` (children, grandchildren, ...), read from /proc. */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // pid (comm) state ppid ...: comm may contain spaces and parentheses, so split after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      // exited meanwhile
    }
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length) {
    const next = queue.shift()!;
    for (const child of children.get(next) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

function vmHwmKiB(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const match = /^VmHWM:\s+(\d+)\s+kB/m.exec(status);
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * Clock ticks used so far by `pid` and its live descendants: utime + stime, or with `userOnly`
 * utime alone (the process's own code, without the kernel's share of its sockets).
 */
export function cpuTicks(pid: number, userOnly = false): number {
  let total = 0;
  for (const p of [pid, ...descendants(pid)]) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // Fields 14 and 15 of /proc/PID/stat (utime, stime), counted from field 3 (state) here.
      total += Number(fields[11]) + (userOnly ? 0 : Number(fields[12]));
    } catch {
      // exited
    }
  }
  return total;
}

/** Clock ticks per second (USER_HZ): 100 on Linux unless the kernel says otherwise. */
export const TICKS_PER_SECOND = 100;

/**
 * Machine-wide CPU use: busy and total ticks over all cores (/proc/stat), and the ticks of this
 * process and its waited-for children (/proc/self/stat utime, stime, cutime, cstime).
 */
export function cpuSnapshot(): { busy: number; total: number; ours: number } {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n")[0]!;
    const values = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = (values[3] ?? 0) + (values[4] ?? 0);
    const total = values.slice(0, 8).reduce((a, b) => a + b, 0);
    const self = readFileSync("/proc/self/stat", "utf8");
    const fields = self.slice(self.lastIndexOf(")") + 2).split(" ");
    const ours = Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
    return { busy: total - idle, total, ours };
  } catch {
    return { busy: 0, total: 0, ours: 0 };
  }
}

/** Peak resident set (VmHWM) of `pid` and all its descendants, summed, in MiB. */
export function peakRssMiB(pid: number): number {
  const total = [pid, ...descendants(pid)].reduce((sum, p) => sum + vmHwmKiB(p), 0);
  return total / 1024;
}

/** Runs a command to completion and returns its output (no group tracking: short-lived). */
export function runCommand(
  command: string,
  args: readonly string[],
  timeoutMs = 20_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    let stdout = "";
    let stderr = "";
    let child: ChildProcess;
    try {
      child = spawn(command, [...args], { stdio: ["ignore", "pipe", "pipe"] });
    } catch (error) {
      resolve({ code: null, stdout: "", stderr: (error as Error).message });
      return;
    }
    commands.add(child);
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("exit", () => commands.delete(child));
    child.stdout!.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.once("error", (error) => {
      clearTimeout(timer);
      resolve({ code: null, stdout, stderr: stderr + error.message });
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
