/** Whether a process with this pid exists (EPERM: it exists but is not ours). */
export function isProcessAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err: any) {
    return err.code === 'EPERM'
  }
}
