import type { PoolBackend } from './backend.js';
export interface ConnectOptions { etcd: string | string[]; pool: string; secret?: string; now?: () => number; signal?: AbortSignal; durable?: boolean }
export async function connectBackend(_o: ConnectOptions): Promise<PoolBackend> { throw new Error('todo'); }
