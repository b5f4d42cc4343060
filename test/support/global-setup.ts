import { existsSync } from 'node:fs';
import { startNatsServer, startRedisServer } from './infra';

/**
 * Real NATS and Redis for every test: NATS_URL/REDIS_URL when set; else testcontainers when a Docker
 * engine answers; else nats-server/redis-server spawned on free ports. Nothing is ever skipped.
 */
const stops: Array<() => Promise<void>> = [];
(globalThis as { __SWARMSHARE_INFRA__?: typeof stops }).__SWARMSHARE_INFRA__ = stops;

async function dockerAnswers(): Promise<boolean> {
  if (!process.env.DOCKER_HOST && !existsSync('/var/run/docker.sock')) return false;
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

export default async function globalSetup(): Promise<void> {
  const needNats = !process.env.NATS_URL;
  const needRedis = !process.env.REDIS_URL;
  if (!needNats && !needRedis) return;
  if (await dockerAnswers()) {
    if (needNats) {
      const { NatsContainer } = await import('@testcontainers/nats');
      const c = await new NatsContainer('nats:2.10').withArg('-js', '').start();
      process.env.NATS_URL = `nats://${c.getHost()}:${c.getMappedPort(4222)}`;
      stops.push(async () => void (await c.stop()));
    }
    if (needRedis) {
      const { RedisContainer } = await import('@testcontainers/redis');
      const c = await new RedisContainer('redis:7').start();
      process.env.REDIS_URL = c.getConnectionUrl();
      stops.push(async () => void (await c.stop()));
    }
  } else {
    if (needNats) {
      const s = await startNatsServer();
      process.env.NATS_URL = s.url;
      stops.push(s.stop);
    }
    if (needRedis) {
      const s = await startRedisServer();
      process.env.REDIS_URL = s.url;
      stops.push(s.stop);
    }
  }
  process.stderr.write(`\n[test infra] NATS_URL=${process.env.NATS_URL} REDIS_URL=${process.env.REDIS_URL}\n`);
}
