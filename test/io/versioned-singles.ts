/**
 * The single values of an in-memory shard store, every version kept (an undefined value is a
 * punch): the plain model the EC single-value tests build their fake shard stores on.
 */
export class VersionedSingles {
  readonly versions = new Map<string, Array<{ epoch: bigint; value: Uint8Array | undefined }>>();

  protected key(oid: bigint, d: Uint8Array, a: Uint8Array): string { return `${oid}/${Buffer.from(d).toString('hex')}/${Buffer.from(a).toString('hex')}`; }

  /** Record `value` (a copy; undefined: a punch) of (oid, d, a) at `epoch`. */
  protected put(epoch: bigint, oid: bigint, d: Uint8Array, a: Uint8Array, value: Uint8Array | undefined): void {
    const k = this.key(oid, d, a);
    const vs = this.versions.get(k) ?? [];
    vs.push({ epoch, value: value?.slice() });
    vs.sort((x, y) => (x.epoch < y.epoch ? -1 : x.epoch > y.epoch ? 1 : 0));
    this.versions.set(k, vs);
  }

  /** The newest version of (oid, d, a) at or below `epoch` (a copy), undefined when none or punched. */
  visible(epoch: bigint, oid: bigint, d: Uint8Array, a: Uint8Array): Uint8Array | undefined {
    let v: Uint8Array | undefined;
    for (const x of this.versions.get(this.key(oid, d, a)) ?? []) if (x.epoch <= epoch) v = x.value;
    return v?.slice();
  }
}
