/**
 * The public `Container`: the container core (src/container) plus the factories of its handles —
 * objects, KV objects, arrays and transactions. Handles reach the core through its internal port,
 * so the core has no public methods that only handles may call, and the container layer never
 * imports the handles.
 */
import { ContainerCore, containerPort } from '../container/container.js';
import { CairnObject, type ObjectOptions } from './object.js';
import { KeyValue } from './kv.js';
import { ArrayObject, type ArrayOptions } from './array.js';
import { Transaction } from './transaction.js';

/**
 * A container handle. Obtain one from `pool.createContainer` / `pool.openContainer`.
 */
export class Container extends ContainerCore {
  /** An object handle by object id or by name (names hash to ids); `oclass` defaults to the container's. */
  object(oidOrName: bigint | string, opts: ObjectOptions = {}): CairnObject {
    const port = containerPort(this);
    port.checkOpen();
    return new CairnObject(port, port.resolveOid(oidOrName, opts.oclass), opts);
  }

  /** A key-value object: put/get/remove/list on string or byte keys. */
  kv(name: string | bigint, opts: ObjectOptions = {}): KeyValue {
    return new KeyValue(this.object(name, opts));
  }

  /** A byte array object with chunked layout, for values larger than memory. */
  array(name: string | bigint, opts: ArrayOptions & ObjectOptions = {}): ArrayObject {
    return new ArrayObject(this.object(name, opts), opts);
  }

  /** Start a transaction; its reads see the container at the current stable epoch plus its own writes. */
  beginTx(): Transaction {
    return new Transaction(containerPort(this));
  }
}
