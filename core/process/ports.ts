// Free loopback ports for processes whose addresses must be known before they start (storage nodes
// list each other in the volume config, and keep their ports across restarts). They are chosen
// BELOW the kernel's ephemeral range: a port from that range (what listen(0) returns) can be taken
// at any moment as the source port of some outgoing connection — then a storage node restarting
// after a kill, or starting a moment after the pick, fails with EADDRINUSE. Each candidate is
// checked by binding it; the window until the node binds is then only against another picker.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';

const lowestPort = 20_000;
const attemptsPerPort = 50;

/** The first port of the kernel's ephemeral range (32768 when it cannot be read). */
export function ephemeralRangeStart(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > lowestPort + 1_000 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

function listenOn(port: number): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(undefined));
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

export async function freePorts(count: number): Promise<number[]> {
  const high = ephemeralRangeStart() - 1;
  const held: Server[] = [];
  const ports: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      let server: Server | undefined;
      for (let attempt = 0; attempt < attemptsPerPort && !server; attempt++) {
        const port = lowestPort + Math.floor(Math.random() * (high - lowestPort + 1));
        if (ports.includes(port)) continue;
        server = await listenOn(port);
        if (server) ports.push(port);
      }
      if (!server) throw new Error(`no free loopback port found in ${lowestPort}-${high}`);
      held.push(server);
    }
  } finally {
    await Promise.all(held.map((s) => new Promise((resolve) => s.close(resolve))));
  }
  return ports;
}
