// A private network for multi-address tests: network namespaces this test creates itself — a hub
// with a bridge, and one namespace per member (a storage node, the writer, a client…) joined to the
// bridge by a veth pair, each with its own address in 10.213.<subnet>.0/24. Those addresses exist
// only inside these namespaces: nothing is added to the host's own network namespace (the veth pairs
// are created inside the hub). Cutting a member off = its veth's hub end down. destroy() deletes the
// namespaces, which removes their veths; it is safe to call twice and after a failed create.
import { execFileSync } from 'node:child_process';

/** The private range used inside the test's namespaces only. */
export const labNetworkPrefix = '10.213';
/** Members per lab: .1 is unused, members get .10 and up (well under the /24). */
export const labMembersMax = 32;

function ip(args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
}

/** Why network namespaces cannot be used here, or undefined when they can (checked by making one). */
export function namespacesUnavailable(): string | undefined {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'network namespaces need root (ip netns add)';
  const probe = `brlprobe${process.pid}`;
  try {
    ip(['netns', 'add', probe]);
  } catch (error) {
    return `ip netns add failed: ${((error as { stderr?: string }).stderr ?? (error as Error).message).trim()}`;
  }
  try {
    ip(['netns', 'del', probe]);
  } catch {
    // Left for the OS; the probe namespace holds nothing.
  }
  return undefined;
}

export class NetworkLab {
  readonly #members = new Map<string, { ns: string; address: string; hubPort: string }>();
  readonly #namespaces: string[] = [];
  readonly hub: string;
  /** The host's end of connectHost's link: deleted first by destroy (a namespace goes asynchronously). */
  #hostLink: string | undefined;

  private constructor(
    readonly tag: string,
    readonly subnet: number,
  ) {
    this.hub = `${tag}-hub`;
  }

  /** Creates the hub and one namespace per member; on any failure removes what it made and throws. */
  static create(members: readonly string[]): NetworkLab {
    if (members.length > labMembersMax) throw new Error(`at most ${labMembersMax} members`);
    const lab = new NetworkLab(`brl${process.pid}`, 1 + (process.pid % 250));
    try {
      lab.#addNamespace(lab.hub);
      ip(['-n', lab.hub, 'link', 'add', 'br0', 'type', 'bridge']);
      ip(['-n', lab.hub, 'link', 'set', 'br0', 'up']);
      for (const [i, name] of members.entries()) lab.#addMember(name, i);
    } catch (error) {
      lab.destroy();
      throw error;
    }
    return lab;
  }

  #addNamespace(ns: string): void {
    ip(['netns', 'add', ns]);
    this.#namespaces.push(ns);
    ip(['-n', ns, 'link', 'set', 'lo', 'up']);
  }

  #addMember(name: string, index: number): void {
    const ns = `${this.tag}-${name}`;
    const hubPort = `v${index}`;
    const address = `${labNetworkPrefix}.${this.subnet}.${10 + index}`;
    this.#addNamespace(ns);
    // Created inside the hub, the peer moved straight into the member: the host never sees either end.
    ip(['-n', this.hub, 'link', 'add', hubPort, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    ip(['-n', this.hub, 'link', 'set', hubPort, 'master', 'br0', 'up']);
    ip(['-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
    ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
    this.#members.set(name, { ns, address, hubPort });
  }

  #member(name: string) {
    const member = this.#members.get(name);
    if (!member) throw new Error(`no lab member ${name}`);
    return member;
  }

  namespace(name: string): string {
    return this.#member(name).ns;
  }

  address(name: string): string {
    return this.#member(name).address;
  }

  /** The launcher that runs a command inside a member's namespace (spawnProcess's `launcher`). */
  launcher(name: string): string[] {
    return ['ip', 'netns', 'exec', this.namespace(name)];
  }

  /** The member's TCP listeners as "address:port" (from `ss` inside its namespace). */
  listeners(name: string): string[] {
    const out = execFileSync('ip', ['netns', 'exec', this.namespace(name), 'ss', '-Hltn'], {
      encoding: 'utf8',
      timeout: 10_000,
    });
    return out
      .split('\n')
      .map((line) => line.trim().split(/\s+/)[3])
      .filter((x): x is string => x !== undefined && x !== '');
  }

  /**
   * Links the host into the lab: a veth from the host into the hub's bridge, at the subnet's .1, so
   * processes on the host (a control plane, a proxy) reach every member. Deleting the hub removes
   * both ends. Returns the host's address in the lab.
   */
  connectHost(): string {
    const hostSide = `${this.tag}-h`;
    const address = `${labNetworkPrefix}.${this.subnet}.1`;
    ip(['link', 'add', hostSide, 'type', 'veth', 'peer', 'name', 'vhost', 'netns', this.hub]);
    this.#hostLink = hostSide;
    ip(['-n', this.hub, 'link', 'set', 'vhost', 'master', 'br0', 'up']);
    ip(['addr', 'add', `${address}/24`, 'dev', hostSide]);
    ip(['link', 'set', hostSide, 'up']);
    return address;
  }

  /** The member's link to the bridge goes down: it can reach no one, and no one reaches it. */
  cut(name: string): void {
    ip(['-n', this.hub, 'link', 'set', this.#member(name).hubPort, 'down']);
  }

  heal(name: string): void {
    ip(['-n', this.hub, 'link', 'set', this.#member(name).hubPort, 'up']);
  }

  /**
   * Cuts the path between two members, both ways, and nothing else: each namespace gets a blackhole
   * route to the other's address, so packets between them are dropped while both still reach every
   * other member (the writer cut off from one AZ, a node from the writer only).
   */
  partition(a: string, b: string): void {
    ip(['-n', this.namespace(a), 'route', 'add', 'blackhole', `${this.address(b)}/32`]);
    ip(['-n', this.namespace(b), 'route', 'add', 'blackhole', `${this.address(a)}/32`]);
  }

  /** Undoes partition(a, b). */
  rejoin(a: string, b: string): void {
    ip(['-n', this.namespace(a), 'route', 'del', 'blackhole', `${this.address(b)}/32`]);
    ip(['-n', this.namespace(b), 'route', 'del', 'blackhole', `${this.address(a)}/32`]);
  }

  /** Deletes every namespace this lab made (their veths and bridge go with them). */
  destroy(): string[] {
    const failures: string[] = [];
    if (this.#hostLink !== undefined) {
      try {
        ip(['link', 'del', this.#hostLink]);
      } catch (error) {
        failures.push(
          `${this.#hostLink}: ${((error as { stderr?: string }).stderr ?? (error as Error).message).trim()}`,
        );
      }
      this.#hostLink = undefined;
    }
    for (const ns of this.#namespaces.splice(0).reverse()) {
      try {
        ip(['netns', 'del', ns]);
      } catch (error) {
        failures.push(`${ns}: ${((error as { stderr?: string }).stderr ?? (error as Error).message).trim()}`);
      }
    }
    return failures;
  }

  /** Namespaces of this lab still present (for the cleanup assertion). */
  leftovers(): string[] {
    const namespaces = ip(['netns', 'list'])
      .split('\n')
      .map((line) => line.split(' ')[0]!)
      .filter((ns) => ns.startsWith(`${this.tag}-`));
    // The host's end of connectHost's link.
    const links = ip(['-o', 'link', 'show'])
      .split('\n')
      .map((line) => line.split(':')[1]?.trim().split('@')[0] ?? '')
      .filter((name) => name.startsWith(`${this.tag}-`));
    return [...namespaces, ...links];
  }
}
