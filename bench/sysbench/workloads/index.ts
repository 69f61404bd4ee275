// The workloads by name, in the order the benchmark runs them.
import type { Workload, WorkloadName } from '../types.ts';
import { pointSelect } from './point-select.ts';
import { readWrite } from './read-write.ts';
import { writeOnly } from './write-only.ts';

export const workloads: Record<WorkloadName, Workload> = {
  write_only: writeOnly,
  point_select: pointSelect,
  read_write: readWrite,
};

export const workloadNames: readonly WorkloadName[] = ['write_only', 'point_select', 'read_write'];
