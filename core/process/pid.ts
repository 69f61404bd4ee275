// Whether a process still runs, by pid (signal 0 checks without sending anything). EPERM means it
// runs under another user: alive.
export function isPidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
