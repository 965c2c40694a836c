/** The media layer: block data file (io_uring / pread engines, O_DIRECT), fault injection, errors. */
export { BLOCK_SIZE, MAX_DEVICE_SIZE, IO_CHUNK_BYTES, openBlockDevice, allocAligned, isAligned, registerAlignedBuffer } from './block-device.js';
export { allocOutput, allocResult, adoptResult, RECYCLED_OUTPUT_MIN_BYTES } from './aligned.js';
export { readHashedGroup } from './block-device.js';
export type { BlockDevice, BlockDeviceOptions, HashedReadSlot } from './block-device.js';
export { FaultInjector } from './fault.js';
export type { FaultOptions, FaultStats, WriteFault, ReadFault } from './fault.js';
export { MediaError, mediaErrorFromErrno } from './errors.js';

export { URING_QUEUE_DEPTH, loadNative } from './io-uring.js';
export { PREAD_MAX_IN_FLIGHT } from './pread.js';
