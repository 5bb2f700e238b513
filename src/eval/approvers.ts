/**
 * Whether a caller may decide the eval gate (eval.approvers). A client
 * identity is `user@host` from our CLI, `temporal-cli:user@host` from the
 * temporal CLI; an entry `alice` admits alice from any host and either tool,
 * an entry `alice@build-box` that user on that host only.
 */

/** The identity without a tool's `<name>:` prefix (temporal-cli:alice@box -> alice@box). */
function withoutTool(identity: string): string {
  const colon = identity.indexOf(':');
  return colon >= 0 && colon < identity.indexOf('@') ? identity.slice(colon + 1) : identity;
}

export function mayDecide(identity: string, approvers: readonly string[] | undefined): boolean {
  if (approvers === undefined) return true;
  const bare = withoutTool(identity);
  const at = bare.lastIndexOf('@');
  const user = at >= 0 ? bare.slice(0, at) : bare;
  return approvers.some((entry) => (entry.includes('@') ? entry === identity || entry === bare : entry === user));
}
