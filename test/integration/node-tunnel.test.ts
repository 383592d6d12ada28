// The Node byte tunnel on real loopback sockets, byte by byte: where a close of its own goes in
// (between frames, masked towards the backend), what a vanished peer's partner is told, and
// that onClosed runs once. Waits end on socket events or bounded polls.
import { connect, createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ByteTunnel } from "../../src/runtime/node-tunnel.ts";

/** A connected pair: `near` is what the tunnel holds, `far` plays the peer. */
interface Pair {
  readonly near: Socket;
  readonly far: Socket;
  /** Everything `far` received. */
  received(): Buffer;
  readonly farEnded: Promise<void>;
}

let server: Server;
const accepted: Socket[] = [];
const waiting: ((socket: Socket) => void)[] = [];

beforeAll(async () => {
  server = createServer({ allowHalfOpen: true }, (socket) => {
    const waiter = waiting.shift();
    if (waiter) waiter(socket);
    else accepted.push(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

async function pair(): Promise<Pair> {
  const { port } = server.address() as { port: number };
  const nearSocket = new Promise<Socket>((resolve) => {
    const socket = accepted.shift();
    if (socket) resolve(socket);
    else waiting.push(resolve);
  });
  const far = connect({ port, host: "127.0.0.1", allowHalfOpen: true });
  far.on("error", () => undefined);
  let data = Buffer.alloc(0);
  far.on("data", (chunk: Buffer) => (data = Buffer.concat([data, chunk])));
  const farEnded = new Promise<void>((resolve) => far.once("end", resolve));
  await new Promise((resolve) => far.once("connect", resolve));
  return { near: await nearSocket, far, received: () => data, farEnded };
}

/** A masked binary frame header for `length` (< 126) payload bytes, key 1,2,3,4. */
const maskedHeader = (length: number) => Buffer.from([0x82, 0x80 | length, 1, 2, 3, 4]);

/** Reads one close frame at `offset` of `bytes`: masked or not, its code and reason. */
function readClose(bytes: Buffer, offset = 0): { masked: boolean; code: number; reason: string; end: number } {
  expect(bytes[offset]).toBe(0x88);
  const masked = (bytes[offset + 1]! & 0x80) !== 0;
  const length = bytes[offset + 1]! & 0x7f;
  const start = offset + 2 + (masked ? 4 : 0);
  const payload = Buffer.from(bytes.subarray(start, start + length));
  if (masked) for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ bytes[offset + 2 + (i % 4)]!;
  return { masked, code: payload.readUInt16BE(0), reason: payload.subarray(2).toString(), end: start + length };
}

function tunnelOf(client: Pair, upstream: Pair, idleTimeoutMs = 0) {
  let closed = 0;
  const tunnel = new ByteTunnel(client.near, upstream.near, { idleTimeoutMs, onClosed: () => closed++ });
  return { tunnel, closedCount: () => closed };
}

describe("ByteTunnel", () => {
  it("passes both heads first, then bytes both ways unchanged", async () => {
    const client = await pair();
    const upstream = await pair();
    const { tunnel, closedCount } = tunnelOf(client, upstream);
    tunnel.start(Buffer.from([0x81, 0x80, 9, 9, 9, 9]), Buffer.from([0x81, 0x00]));
    client.far.write(Buffer.from([0x89, 0x80, 1, 1, 1, 1]));
    upstream.far.write(Buffer.from([0x8a, 0x00]));
    await expect.poll(() => [...upstream.received()]).toEqual([0x81, 0x80, 9, 9, 9, 9, 0x89, 0x80, 1, 1, 1, 1]);
    await expect.poll(() => [...client.received()]).toEqual([0x81, 0x00, 0x8a, 0x00]);
    client.far.destroy();
    upstream.far.destroy();
    await expect.poll(closedCount).toBe(1);
  });

  it("closes at a frame boundary: after the frame in flight, masked to the backend, then nothing more", async () => {
    const client = await pair();
    const upstream = await pair();
    const { tunnel, closedCount } = tunnelOf(client, upstream);
    tunnel.start(Buffer.alloc(0), Buffer.alloc(0));
    // Half a frame from the client: header and 4 of its 10 payload bytes.
    client.far.write(Buffer.concat([maskedHeader(10), Buffer.alloc(4, 0xaa)]));
    await expect.poll(() => upstream.received().length).toBe(10);

    tunnel.close(1001, "bye");
    // The client's direction is between frames: its close goes at once, unmasked, then the end.
    await client.farEnded;
    const toClient = readClose(client.received());
    expect(toClient).toMatchObject({ masked: false, code: 1001, reason: "bye" });
    expect(toClient.end).toBe(client.received().length);
    // The backend's waits for the rest of the frame; a frame after it never reaches the backend.
    expect(upstream.received().length).toBe(10);
    client.far.write(Buffer.concat([Buffer.alloc(6, 0xbb), maskedHeader(1), Buffer.from([0xcc])]));
    await upstream.farEnded;
    const bytes = upstream.received();
    expect(bytes.subarray(10, 16)).toEqual(Buffer.alloc(6, 0xbb));
    const toUpstream = readClose(bytes, 16);
    expect(toUpstream).toMatchObject({ masked: true, code: 1001, reason: "bye" });
    expect(toUpstream.end).toBe(bytes.length);

    client.far.end();
    upstream.far.end();
    await expect.poll(closedCount).toBe(1);
  });

  it("leaves a side that already sent its close to its own closing handshake", async () => {
    const client = await pair();
    const upstream = await pair();
    const { tunnel, closedCount } = tunnelOf(client, upstream);
    tunnel.start(Buffer.alloc(0), Buffer.alloc(0));
    // The backend started closing (4000); the client has not answered yet.
    upstream.far.write(Buffer.from([0x88, 0x02, 0x0f, 0xa0]));
    await expect.poll(() => client.received().length).toBe(4);
    tunnel.close(1001, "shutting down");
    // The backend is sent our close; the client is not sent a second one.
    await upstream.farEnded;
    expect(readClose(upstream.received())).toMatchObject({ masked: true, code: 1001 });
    expect(client.received().length).toBe(4);
    client.far.end();
    upstream.far.end();
    await expect.poll(closedCount).toBe(1);
  });

  it("tells the backend 1001 within a second when the client vanishes between frames", async () => {
    const client = await pair();
    const upstream = await pair();
    const { tunnel, closedCount } = tunnelOf(client, upstream);
    tunnel.start(Buffer.alloc(0), Buffer.alloc(0));
    const gone = Date.now();
    client.far.destroy();
    await upstream.farEnded;
    expect(Date.now() - gone).toBeLessThan(1_000);
    expect(readClose(upstream.received())).toMatchObject({ masked: true, code: 1001, reason: "" });
    upstream.far.end();
    await expect.poll(closedCount).toBe(1);
  });

  it("ends the client's connection without a close when the backend vanishes mid-frame", async () => {
    const client = await pair();
    const upstream = await pair();
    const { tunnel, closedCount } = tunnelOf(client, upstream);
    tunnel.start(Buffer.alloc(0), Buffer.alloc(0));
    upstream.far.write(Buffer.from([0x82, 0x05, 1, 2]));
    await expect.poll(() => client.received().length).toBe(4);
    upstream.far.destroy();
    await client.farEnded;
    // A close now would land inside the frame: the client sees the connection end instead.
    expect([...client.received()]).toEqual([0x82, 0x05, 1, 2]);
    client.far.end();
    await expect.poll(closedCount).toBe(1);
  });

  it("destroys peers that do not close within the grace period, and reports closed once", async () => {
    const client = await pair();
    const upstream = await pair();
    const { tunnel, closedCount } = tunnelOf(client, upstream);
    tunnel.start(Buffer.alloc(0), Buffer.alloc(0));
    tunnel.close(1001, "bye");
    tunnel.close(1001, "again");
    // Neither peer answers; both were ended by us and are destroyed after the grace.
    await Promise.all([client.farEnded, upstream.farEnded]);
    await expect.poll(closedCount, { timeout: 3_000 }).toBe(1);
    expect(client.near.destroyed && upstream.near.destroyed).toBe(true);
  });

  it("closes after the idle cap with no bytes either way, and not before", async () => {
    const client = await pair();
    const upstream = await pair();
    const { tunnel } = tunnelOf(client, upstream, 300);
    tunnel.start(Buffer.alloc(0), Buffer.alloc(0));
    const started = Date.now();
    // Bytes from the backend alone keep it open.
    for (let i = 0; i < 4; i++) {
      upstream.far.write(Buffer.from([0x8a, 0x00]));
      await expect.poll(() => client.received().length).toBe(2 * (i + 1));
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    await client.farEnded;
    expect(Date.now() - started).toBeGreaterThanOrEqual(4 * 150 + 300 - 50);
    expect(readClose(client.received(), 8)).toMatchObject({ code: 1001, reason: "idle timeout" });
    client.far.destroy();
    upstream.far.destroy();
  });
});
