// A child started by a Borealis launcher exits when its launcher is gone (even after SIGKILL of
// the launcher), so a crashed `npm start` or test run never leaves servers behind on the machine.

export const parentPidVariable = 'BOREALIS_PARENT_PID';
const checkIntervalMs = 500;

export function exitWithParent(onExit: () => void = () => process.exit(0)): void {
  const raw = process.env[parentPidVariable];
  if (raw === undefined) return;
  const parentPid = Number(raw);
  if (!Number.isInteger(parentPid) || parentPid <= 1) return;
  const timer = setInterval(() => {
    try {
      process.kill(parentPid, 0);
    } catch {
      clearInterval(timer);
      onExit();
    }
  }, checkIntervalMs);
  timer.unref();
}
