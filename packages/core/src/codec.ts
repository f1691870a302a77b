/**
 * A compression codec. Work is synchronous because the engine runs it on worker threads.
 * The `id` byte is written beside every compressed blob, so it must never change once released:
 * 0 none (reserved, handled by the engine), 1 zstd, 2 gzip, 3 brotli; third parties use 128-255.
 */
export interface CodecLevels {
  min: number;
  max: number;
  default: number;
}

export interface Codec {
  readonly id: number;
  /** Lower-case name used on the command line: `zstd`, `gzip`, `brotli`. */
  readonly name: string;
  readonly levels: CodecLevels;
  /** How a worker thread re-creates this codec; without it the engine runs the codec on the main thread. */
  readonly portable?: PortableSpec;

  /** Compresses; `level` defaults to `levels.default` and is clamped to the range. */
  compress(data: Uint8Array, level?: number): Uint8Array;

  /**
   * Decompresses. Garbage or truncated input throws CorruptError (never hangs or crashes).
   * `maxSize`, when given, bounds the output: more than that is CorruptError (decompression bombs).
   */
  decompress(data: Uint8Array, maxSize?: number): Uint8Array;
}

/**
 * Names a module and an exported factory so a worker thread can build the same plugin object:
 * `(await import(module))[exportName](...args)`. `args` must be structured-cloneable.
 */
export interface PortableSpec {
  module: string;
  exportName: string;
  args?: unknown[];
}
