import { Writable } from 'node:stream';
import { boundLogValue, createLogger, DEFAULT_LOG_LIMITS } from './logging';

const limits = { maxChars: 10, maxItems: 3 };

/** A logger writing into memory: the JSON lines it would put on stdout. */
function captured(l = DEFAULT_LOG_LIMITS) {
  const lines: string[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      cb();
    },
  });
  return { logger: createLogger('test', 'info', { nodeId: 'a' }, l, dest), lines, parsed: () => lines.map((x) => JSON.parse(x) as Record<string, unknown>) };
}

describe('boundLogValue', () => {
  it('cuts long strings, long arrays and wide objects, saying how much was left out', () => {
    expect(boundLogValue('short', limits)).toBe('short');
    expect(boundLogValue('x'.repeat(25), limits)).toBe(`${'x'.repeat(10)}…[15 more chars]`);
    expect(boundLogValue([1, 2, 3, 4, 5], limits)).toEqual([1, 2, 3, '…[2 more items]']);
    expect(boundLogValue({ a: 1, b: 'y'.repeat(11), c: 3, d: 4 }, limits)).toEqual({ a: 1, b: `${'y'.repeat(10)}…[1 more chars]`, c: 3, '…': '1 more keys' });
    expect(boundLogValue({ ['k'.repeat(20)]: 1 }, limits)).toEqual({ [`${'k'.repeat(10)}…[10 more chars]`]: 1 });
  });

  it('leaves small values alone and never changes its input', () => {
    const input = { fileId: 'ab', n: 3, ok: true, none: null, nested: { list: ['x'] }, long: 'z'.repeat(50) };
    const copy = structuredClone(input);
    expect(boundLogValue({ fileId: 'ab', n: 3, none: null }, limits)).toEqual({ fileId: 'ab', n: 3, none: null });
    boundLogValue(input, limits);
    expect(input).toEqual(copy);
  });

  it('shows buffers by size, errors as pino does, and cuts cycles and deep nesting', () => {
    expect(boundLogValue({ data: Buffer.alloc(900_000) }, limits)).toEqual({ data: '[Buffer of 900000 bytes]' });
    const e = Object.assign(new Error('m'.repeat(30)), { code: 'BAD' });
    expect(boundLogValue(e, { maxChars: 10, maxItems: 10 })).toMatchObject({ type: 'Error', message: `${'m'.repeat(10)}…[20 more chars]`, code: 'BAD', stack: expect.stringContaining('…[') });
    const cyc: Record<string, unknown> = { a: 1 };
    cyc.self = cyc;
    expect(boundLogValue(cyc, limits)).toEqual({ a: 1, self: '[Circular]' });
    let deep: unknown = 'bottom';
    for (let i = 0; i < 10; i++) deep = { d: deep };
    expect(JSON.stringify(boundLogValue(deep, limits))).toContain('"[object]"');
  });
});

describe('createLogger: no log line grows with a request', () => {
  it('a 900 KB request field makes a line of about LOG_FIELD_MAX_CHARS, not 900 KB', () => {
    const { logger, lines, parsed } = captured();
    const fileId = 'f'.repeat(900 * 1024);
    logger.warn({ subject: 'swarm.tracker.file.get', fileId, indexes: Array.from({ length: 100_000 }, (_, i) => i) }, 'request swarm.tracker.file.get failed: BAD_REQUEST');
    expect(lines).toHaveLength(1);
    expect(lines[0].length).toBeLessThan(DEFAULT_LOG_LIMITS.maxChars + 1500);
    const [line] = parsed();
    expect(line).toMatchObject({ level: 40, service: 'test', nodeId: 'a', subject: 'swarm.tracker.file.get', msg: 'request swarm.tracker.file.get failed: BAD_REQUEST' });
    expect(line.fileId).toBe(`${'f'.repeat(2048)}…[${900 * 1024 - 2048} more chars]`);
    expect((line.indexes as unknown[]).at(-1)).toBe(`…[${100_000 - 64} more items]`);
  });

  it('bounds the message, interpolated values, child bindings and logged errors too', () => {
    const { logger, parsed } = captured({ maxChars: 100, maxItems: 8 });
    logger.info(`peer said ${'q'.repeat(5000)}`);
    logger.info('value %s', 'v'.repeat(5000));
    logger.child({ component: 'x' }).child({ peer: 'p'.repeat(5000) }).info('hello');
    logger.error(new Error(`bad input ${'e'.repeat(5000)}`));
    const [msg, interp, child, err] = parsed();
    expect(String(msg.msg).length).toBeLessThan(130);
    expect(String(interp.msg).length).toBeLessThan(140);
    expect(String(child.peer)).toMatch(/^p{100}…\[4900 more chars\]$/);
    expect(err).toMatchObject({ level: 50, msg: expect.stringMatching(/^bad input e+…\[\d+ more chars\]$/), err: { type: 'Error', message: expect.stringMatching(/^bad input e+…/) } });
  });
});
