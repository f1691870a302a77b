/** uid/gid -> name lookups from /etc/passwd and /etc/group (read once; missing files give no names). */
import fs from 'node:fs';

function load(file: string): Map<number, string> {
  const m = new Map<number, string>();
  try {
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      const parts = line.split(':');
      if (parts.length >= 3 && /^\d+$/.test(parts[2])) m.set(Number(parts[2]), parts[0]);
    }
  } catch {
    // No user database: names stay unknown.
  }
  return m;
}

let users: Map<number, string> | undefined;
let groups: Map<number, string> | undefined;

export function userName(uid: number): string | undefined {
  users ??= load('/etc/passwd');
  return users.get(uid);
}

export function groupName(gid: number): string | undefined {
  groups ??= load('/etc/group');
  return groups.get(gid);
}

/** name -> id for restore (undefined when the name is unknown here). */
export function userId(name: string): number | undefined {
  users ??= load('/etc/passwd');
  for (const [id, n] of users) if (n === name) return id;
  return undefined;
}

export function groupId(name: string): number | undefined {
  groups ??= load('/etc/group');
  for (const [id, n] of groups) if (n === name) return id;
  return undefined;
}
