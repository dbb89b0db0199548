/** Hand-made tar blocks, for dialects and damage that tar writers will not produce. */
export function header(name: string, opts: { size?: number; type?: string; linkname?: string; magic?: 'ustar' | 'gnu'; base256Size?: bigint } = {}): Buffer {
  const b = Buffer.alloc(512);
  b.write(name.slice(0, 100), 0, 'utf8');
  b.write('0000644\0', 100);
  b.write('0000000\0', 108);
  b.write('0000000\0', 116);
  if (opts.base256Size !== undefined) {
    b[124] = 0x80;
    let v = opts.base256Size;
    for (let i = 135; i > 124; i--) {
      b[i] = Number(v & 0xffn);
      v >>= 8n;
    }
  } else {
    b.write((opts.size ?? 0).toString(8).padStart(11, '0') + '\0', 124);
  }
  b.write('00000000000\0', 136);
  b.write(opts.type ?? '0', 156);
  if (opts.linkname) b.write(opts.linkname, 157);
  if (opts.magic === 'gnu') b.write('ustar  \0', 257, 'latin1');
  else b.write('ustar\u000000', 257, 'latin1');
  b.fill(32, 148, 156);
  let sum = 0;
  for (const x of b) sum += x;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return b;
}

export function content(data: Buffer | string): Buffer {
  const d = Buffer.from(data);
  const padded = Buffer.alloc(Math.ceil(d.length / 512) * 512);
  d.copy(padded);
  return padded;
}

export function member(name: string, data: Buffer | string): Buffer {
  const d = Buffer.from(data);
  return Buffer.concat([header(name, { size: d.length }), content(d)]);
}

export const END = Buffer.alloc(1024);
