/**
 * Device logins for the fleet benchmark: `--logins N` seeds the bench root's store with devices dev1..devN (the
 * fleet's device logins, server/fleet) before firmdrop starts, and the load generator logs session i in as
 * dev((i mod N) + 1), so every session is a device with its own login, its own offer and status tracking.
 *
 * Creation is fast: every bench device has the same password and ONE salted scrypt hash (RFC 7914), computed once,
 * instead of one per device (a shortcut of the bench only: `firmdrop devices add|import` gives each device its own
 * salt). The server still runs one scrypt per login at its first verification, because its verify cache
 * (server/fleet/passwords.ts) is keyed by login: that cost is what the bench measures.
 */
import { hashPassword, SCRYPT_N } from '../server/fleet/passwords.ts';
import { bucketOf } from '../server/fleet/select.ts';
import { Store } from '../server/store/store.ts';
import { BENCH_DEVICE_PASSWORD } from './fixture.ts';


/**
 * Adds devices dev1..dev`n` to the store of `root` in one transaction, with scrypt cost `scryptN` (default
 * firmdrop's SCRYPT_N, 2^14; a power of two ≥ 2).
 * @throws RangeError for a bad `n` or `scryptN`
 */
export function seedBenchLogins(root: string, n: number, scryptN = SCRYPT_N): void {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`--logins must be ≥ 1, got ${n}`);
  if (!Number.isInteger(scryptN) || scryptN < 2 || (scryptN & (scryptN - 1)) !== 0) throw new RangeError(`--login-scrypt-n must be a power of two ≥ 2, got ${scryptN}`);
  const { salt, hash } = hashPassword(BENCH_DEVICE_PASSWORD, scryptN);
  const createdAt = new Date().toISOString();
  const store = new Store(root);
  try {
    store.tx(() => {
      for (let i = 1; i <= n; i++) {
        const login = `dev${i}`;
        store.putDevice({ login, salt, hash, cohort: 'bench', bucket: bucketOf(login), createdAt });
      }
    });
  } finally {
    store.close();
  }
}
