import type { z } from 'zod';
import { SwarmError } from './errors';
import { describeZodError } from './schemas';

/** What the plain-JSON deserializer hands on when a message body is not JSON at all. */
export class InvalidJson {
  constructor(readonly preview: string) {}
}

/** Parse untrusted input; a failure is a BAD_REQUEST that names each bad field. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, what = 'request'): z.infer<S> {
  if (value instanceof InvalidJson) throw new SwarmError('BAD_REQUEST', `invalid ${what}: body is not JSON (${JSON.stringify(value.preview)})`);
  const r = schema.safeParse(value);
  if (!r.success) throw new SwarmError('BAD_REQUEST', `invalid ${what}: ${describeZodError(r.error)}`);
  return r.data;
}
