/**
 * Old names kept for one release: a field renamed in a public config is
 * still read under its old name, with a one-time deprecation warning, and
 * giving both names is an error. CHANGELOG.md lists every renamed name.
 */
import { fail } from "./validate.js";

const warned = new Set<string>();

/**
 * `obj` with its field `old` read as `current`: a copy when the old name is
 * used (warning once per name), `obj` itself otherwise; throws naming `fn`
 * when both are given.
 */
export function renamedField<T>(fn: string, path: string, obj: T, old: string, current: string): T {
  if (typeof obj !== "object" || obj === null || !(old in obj)) return obj;
  if (current in obj) fail(fn, `${path}.${old} is the old name of ${path}.${current}: give one of them, got both`);
  const { [old]: value, ...rest } = obj as Record<string, unknown>;
  const note = `${path}.${old}`;
  if (!warned.has(note)) {
    warned.add(note);
    console.warn(`posenc: ${note} is deprecated and will be removed in the next release; use ${path}.${current} (see CHANGELOG.md)`);
  }
  return { ...rest, [current]: value } as T;
}
