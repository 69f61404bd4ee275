// The two addresses of every Borealis process: the one its listeners bind (--bind-address) and the
// one it tells others to connect to (--advertise-address: in its ready line, its health document,
// the topology). On one machine both are 127.0.0.1; on ECS a task binds 0.0.0.0 and advertises its
// private IP; in the network-namespace test each process binds its namespace's own address.
import { isIP } from 'node:net';

export const bindAddressDefault = '127.0.0.1';

/** The flag definitions, for a process entry's parseFlags. */
export const addressFlagOptions = {
  'bind-address': { type: 'string', default: bindAddressDefault },
  'advertise-address': { type: 'string' },
} as const;

/** The usage lines, for a process entry's --help, with descriptions starting at `column`. */
export function addressFlagUsage(column: number): string {
  const line = (flag: string, text: string) => `  ${flag}`.padEnd(column) + text;
  const pad = ' '.repeat(column);
  return [
    line(
      '--bind-address A',
      `listen on this IP address (default ${bindAddressDefault}; 0.0.0.0: every interface)`,
    ),
    line('--advertise-address A', 'the address others connect to (default: the bind address;'),
    `${pad}required with 0.0.0.0 or ::)`,
  ].join('\n');
}

export interface Addresses {
  bind: string;
  advertise: string;
}

/** Hosts a process can be reached at: an IP address or a DNS name (letters, digits, '-', '.'). */
const hostNamePattern =
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;

export function isWildcard(address: string): boolean {
  return address === '0.0.0.0' || address === '::';
}

/** Pure: the two addresses from the raw flag values, or an Error saying what is wrong. */
export function resolveAddresses(bind: string | undefined, advertise: string | undefined): Addresses | Error {
  const b = bind ?? bindAddressDefault;
  if (isIP(b) === 0) return new Error(`--bind-address must be an IP address, got '${b}'`);
  if (advertise === undefined) {
    if (isWildcard(b)) {
      return new Error(
        `--bind-address ${b} listens everywhere: say where others reach it with --advertise-address`,
      );
    }
    return { bind: b, advertise: b };
  }
  if (isWildcard(advertise) || (isIP(advertise) === 0 && !hostNamePattern.test(advertise))) {
    return new Error(`--advertise-address must be a reachable IP address or host name, got '${advertise}'`);
  }
  return { bind: b, advertise };
}

/** The addresses of a process entry's flags, or one line on stderr and exit code 2. */
export function addressFlags(
  program: string,
  values: { 'bind-address'?: string | undefined; 'advertise-address'?: string | undefined },
): Addresses {
  const resolved = resolveAddresses(values['bind-address'], values['advertise-address']);
  if (resolved instanceof Error) {
    console.error(`${program}: ${resolved.message}`);
    process.exit(2);
  }
  return resolved;
}

/** host:port, with an IPv6 address in brackets. */
export function hostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** http://host:port */
export function httpUrl(host: string, port: number): string {
  return `http://${hostPort(host, port)}`;
}
