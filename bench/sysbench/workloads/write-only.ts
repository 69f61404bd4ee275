// sysbench oltp_write_only: per transaction one update of the indexed column k, one update of the
// non-indexed column c, and a delete + insert of one row (same id, so the table keeps its size).
import type { Session, Workload, WorkloadContext } from '../types.ts';
import { digitGroups, randomId, sbtestRow, sql } from './statements.ts';

/** The write statements that oltp_write_only and oltp_read_write share. */
export async function writeStatements(session: Session, context: WorkloadContext): Promise<void> {
  await session.query(sql.indexUpdate, { id: randomId(context) });
  await session.query(sql.nonIndexUpdate, { id: randomId(context), c: digitGroups(context, 10) });
  const id = randomId(context);
  await session.query(sql.delete, { id });
  await session.query(sql.insert, sbtestRow(context, id));
}

export const writeOnly: Workload = {
  name: 'write_only',
  writes: true,
  async transaction(session, context) {
    await session.begin();
    await writeStatements(session, context);
    await session.commit();
  },
};
