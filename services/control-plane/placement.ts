// Where the local fleet runs each process, when not all on loopback: a placement file gives a storage
// node or an instance the command that launches it elsewhere (`ip netns exec <namespace>`: it must
// exec, so the PID tracked is the process's own) and the address it binds and advertises there. The
// network-partition tests use it to put every node and instance in a network namespace of its own,
// so that cutting links between them is a real partition while the control plane and proxy work as
// in `npm start`. Without a file everything runs on 127.0.0.1.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';

export interface ProcessPlacement {
  /** Prefix of the command line (e.g. ["ip", "netns", "exec", "ns1"]); it must exec the rest. */
  launcher: string[];
  /** The IP address the process binds and advertises. */
  host: string;
}

export interface Placement {
  /** By storage node id (n1 … n6). */
  storage: Record<string, ProcessPlacement>;
  /** By instance id (instance-1 …): every incarnation of the instance runs there. */
  instances: Record<string, ProcessPlacement>;
}

/** Reads and checks a placement file; anything malformed is an Error naming the entry. */
export function readPlacement(path: string): Placement {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`placement ${path}: ${(error as Error).message}`);
  }
  return parsePlacement(doc, path);
}

export function parsePlacement(doc: unknown, what = 'placement'): Placement {
  if (typeof doc !== 'object' || doc === null) throw new Error(`${what}: not an object`);
  const d = doc as Record<string, unknown>;
  const section = (name: 'storage' | 'instances'): Record<string, ProcessPlacement> => {
    const entries = d[name] ?? {};
    if (typeof entries !== 'object' || entries === null || Array.isArray(entries))
      throw new Error(`${what}: ${name} must be an object by id`);
    const out: Record<string, ProcessPlacement> = {};
    for (const [id, entry] of Object.entries(entries)) {
      const e = entry as Partial<ProcessPlacement>;
      if (
        !Array.isArray(e.launcher) ||
        e.launcher.length === 0 ||
        e.launcher.some((x) => typeof x !== 'string')
      )
        throw new Error(`${what}: ${name}.${id}.launcher must be a non-empty list of strings`);
      if (typeof e.host !== 'string' || isIP(e.host) === 0)
        throw new Error(`${what}: ${name}.${id}.host must be an IP address`);
      out[id] = { launcher: [...e.launcher], host: e.host };
    }
    return out;
  };
  return { storage: section('storage'), instances: section('instances') };
}
