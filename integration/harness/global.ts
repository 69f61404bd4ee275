// The Global Database tests' application: it commits through the global writer endpoint, as an
// application of a DR drill does, and keeps what it was told.
import type { ClusterStatus } from '../../core/cluster/topology.ts';
import type { Sql } from './sql.ts';

/** The application: commits k = 1, 2, … through the global writer endpoint until stopped. */
export function writeContinuously(app: Sql, table = 't') {
  const acked = new Set<number>();
  const failedAt: number[] = [];
  const errors: string[] = [];
  let attempted = 0;
  let stop = false;
  const done = (async () => {
    for (let k = 1; !stop; k++) {
      attempted = k;
      try {
        await app.exec(`insert into ${table} values (:k)`, { k });
        acked.add(k);
      } catch (error) {
        failedAt.push(Date.now());
        errors.push(`${(error as Error).name}: ${(error as Error).message}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  })();
  return {
    acked,
    failedAt,
    errors,
    get attempted() {
      return attempted;
    },
    async stop() {
      stop = true;
      await done;
    },
  };
}

/** A member's control plane /status (a test's read: it throws when the member does not answer). */
export async function clusterStatus(controlPlaneUrl: string): Promise<ClusterStatus> {
  return (await (await fetch(`${controlPlaneUrl}/status`)).json()) as ClusterStatus;
}
