/**
 * Progress on stderr, only when stderr is a terminal and neither --quiet nor --json was given:
 * a bar with bytes done / total, rate, time left and the current item for work of known size;
 * an ora spinner for phases of unknown size. Without a terminal nothing is drawn (the commands
 * print their one summary line). NO_COLOR is respected (the bar has no colour; ora's neither).
 */
import type { CommandContext } from './context.js';
import { humanSize } from './format.js';

export interface Progress {
  /** `total` replaces the one given at the start, for work whose size is learnt on the way. */
  update(bytes: number, current?: string, total?: number): void;
  /** Switch to a phase of unknown size (a spinner). */
  phase(text: string): Promise<void>;
  /** A new label for the bar (an image set: images done / total). */
  relabel(text: string): void;
  done(): void;
}

const NOOP: Progress = { update() {}, async phase() {}, relabel() {}, done() {} };
const FRAME_MS = 100;

function clip(s: string, max: number): string {
  return s.length <= max ? s : `...${s.slice(s.length - max + 3)}`;
}

export function progressFor(ctx: CommandContext, label: string, total: number, stream: NodeJS.WriteStream = process.stderr): Progress {
  const force = process.env.IMGPACK_PROGRESS === '1'; // for tests of the rendering through a pty
  if (ctx.io.quiet || ctx.io.json || (!stream.isTTY && !force)) return NOOP;
  const started = Date.now();
  let last = 0;
  let spinner: { stop(): void; text: string } | undefined;
  let drawn = false;
  const width = () => (stream.columns || 80);
  const render = (bytes: number, current = '') => {
    const now = Date.now();
    if (now - last < FRAME_MS && bytes < total) return;
    last = now;
    const elapsed = (now - started) / 1000;
    const rate = elapsed > 0 ? Math.round(bytes / elapsed) : 0;
    const left = rate > 0 && total > bytes ? Math.ceil((total - bytes) / rate) : 0;
    const pct = total > 0 ? Math.min(1, bytes / total) : 0;
    // The numbers always show; the label, then the current item, give way on narrow terminals.
    const tail = ` ${humanSize(bytes)}/${humanSize(total)} ${humanSize(rate)}/s${left ? ` ${left}s left` : ''}`;
    const barWidth = 20;
    const fill = Math.round(pct * barWidth);
    const bar = ` ${String(Math.floor(pct * 100)).padStart(3)}% [${'='.repeat(fill)}${fill < barWidth ? '>' : ''}${' '.repeat(Math.max(0, barWidth - fill - 1))}]`;
    const labelRoom = Math.max(8, width() - 1 - bar.length - tail.length);
    let line = `${clip(label, labelRoom)}${bar}${tail}`;
    const room = width() - 2 - line.length;
    if (current && room > 10) line += ` ${clip(current, room)}`;
    stream.write(`\r${line.slice(0, width() - 1)}\x1b[K`);
    drawn = true;
  };
  return {
    update(bytes, current, newTotal) {
      if (newTotal !== undefined) total = newTotal;
      if (spinner) {
        spinner.stop();
        spinner = undefined;
      }
      render(bytes, current);
    },
    relabel(text) {
      label = text;
    },
    async phase(text) {
      if (!stream.columns) {
        // A terminal that reports no width (a pty made by script, some CI runners): ora divides
        // by it and clears lines upwards for ever. The phase is drawn as a plain line instead.
        stream.write(`\r${clip(text, 79)}\x1b[K`);
        drawn = true;
        return;
      }
      const { default: ora } = await import('ora');
      spinner?.stop();
      spinner = ora({ text, stream, isEnabled: true, color: process.env.NO_COLOR ? undefined : 'cyan' }).start();
    },
    done() {
      spinner?.stop();
      if (drawn) stream.write('\r\x1b[K');
    },
  };
}
