// sysbench oltp_read_write with its defaults: in one transaction 10 point selects, one each of the
// simple, sum, order and distinct range queries (100 rows each), then the write_only statements.
import type { Workload } from '../types.ts';
import { pointSelectsPerTransaction, randomId, rangeParams, sql } from './statements.ts';
import { writeStatements } from './write-only.ts';

export const readWrite: Workload = {
  name: 'read_write',
  writes: true,
  async transaction(session, context) {
    await session.begin();
    for (let i = 0; i < pointSelectsPerTransaction; i++)
      await session.query(sql.pointSelect, { id: randomId(context) });
    await session.query(sql.simpleRange, rangeParams(context));
    await session.query(sql.sumRange, rangeParams(context));
    await session.query(sql.orderRange, rangeParams(context));
    await session.query(sql.distinctRange, rangeParams(context));
    await writeStatements(session, context);
    await session.commit();
  },
};
