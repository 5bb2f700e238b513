/**
 * The client identity this project's clients give Temporal: `user@host`, the
 * OS user running the CLI or worker. The server records it with every start,
 * signal, cancel and update in the run's history; the eval gate takes its
 * approver from it (workflows/caller.ts), never from a name in the payload.
 */
import * as os from 'node:os';

export function clientIdentity(): string {
  return `${osUser()}@${os.hostname()}`;
}

function osUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    // A container's uid without a passwd entry has no name: the uid still says who.
    return process.env.USER || `uid-${process.getuid?.() ?? 'unknown'}`;
  }
}
