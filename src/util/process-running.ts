/** Whether a process of this machine with this pid exists (signal 0 only checks; EPERM: it exists, owned by another user). */
export function isProcessRunning(pid: number): boolean {
	try {
		process.kill(pid, 0);
		return true;
	} catch (error) {
		return (error as NodeJS.ErrnoException).code !== "ESRCH";
	}
}
