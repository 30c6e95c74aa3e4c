/** A small Hugging Face-style model folder for the HF tests: config, two shards and their index. */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';

export interface HfFile { path: string; bytes: Buffer }

export function hfModelFiles(shardBytes = 600_000): HfFile[] {
  const shard1 = randomBytes(shardBytes);
  const shard2 = randomBytes(shardBytes + 12_345);
  const index = {
    metadata: { total_size: shard1.length + shard2.length },
    weight_map: { 'model.embed.weight': 'model-00001-of-00002.safetensors', 'model.head.weight': 'model-00002-of-00002.safetensors' },
  };
  return [
    { path: 'config.json', bytes: Buffer.from(JSON.stringify({ model_type: 'esrgan', scale: 4, hidden_size: 64 }, null, 2)) },
    { path: 'model-00001-of-00002.safetensors', bytes: shard1 },
    { path: 'model-00002-of-00002.safetensors', bytes: shard2 },
    { path: 'model.safetensors.index.json', bytes: Buffer.from(JSON.stringify(index, null, 2)) },
    { path: 'tokenizer/tokenizer.json', bytes: Buffer.from(JSON.stringify({ version: '1.0', vocab: { a: 0, b: 1 } })) },
  ];
}

export async function writeHfFolder(dir: string, files: HfFile[]): Promise<void> {
  for (const f of files) {
    const p = path.join(dir, ...f.path.split('/'));
    await fs.mkdir(path.dirname(p), { recursive: true });
    await fs.writeFile(p, f.bytes);
  }
}

export const sha256Hex = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
