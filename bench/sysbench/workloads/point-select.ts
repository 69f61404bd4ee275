// sysbench oltp_point_select: one primary-key lookup per event, outside an explicit transaction.
import type { Workload } from '../types.ts';
import { randomId, sql } from './statements.ts';

export const pointSelect: Workload = {
  name: 'point_select',
  writes: false,
  async transaction(session, context) {
    await session.query(sql.pointSelect, { id: randomId(context) });
  },
};
