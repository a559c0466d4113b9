import { createRedisEventTarget } from '@graphql-yoga/redis-event-target';
import { createPubSub } from 'graphql-yoga';
import type { Redis } from 'ioredis';
import type { DashboardSection } from './sections.js';

/** A committed ingest outcome as subscribers receive it (ids, then refetched). */
export interface SyncEventMessage {
  eventId: string;
  tenantId: string;
  module: string;
  status: string;
}

export interface StudentUpdateMessage {
  studentId: string;
  sections: DashboardSection[];
  at: string;
}

/**
 * Topics, each scoped by tenant in its id: `sync:<tenant>` for admins, `student:<tenant>:<id>`
 * for one student's dashboard, `students:<tenant>` for staff watching every student.
 */
export type SyncTopics = {
  sync: [tenantId: string, message: SyncEventMessage];
  student: [key: string, message: StudentUpdateMessage];
  students: [tenantId: string, message: StudentUpdateMessage];
};

type Topic = keyof SyncTopics;
type Message<T extends Topic> = SyncTopics[T][1];

/** Typed publish/subscribe; topic ids carry a namespace so apps (and test runs) sharing a Redis stay apart. */
export interface PubSub {
  publish<T extends Topic>(topic: T, id: string, message: Message<T>): void;
  subscribe<T extends Topic>(topic: T, id: string): AsyncIterable<Message<T>>;
}

/**
 * Across instances over Redis (two connections: one subscribed, one publishing) when given,
 * else in-process. Messages cross as JSON.
 */
export function createSyncPubSub(namespace: string, redis?: { publishClient: Redis; subscribeClient: Redis }): PubSub {
  type Topics = { [K in Topic]: [id: string, message: Message<K>] };
  const inner = redis
    ? createPubSub<Topics>({
        eventTarget: createRedisEventTarget({ publishClient: failSoftPublisher(redis.publishClient), subscribeClient: quietSubscriber(redis.subscribeClient) }),
      })
    : createPubSub<Topics>();
  // createPubSub's tuple typing cannot follow a generic topic; the wrapper's signatures are the typed surface.
  const loose = inner as unknown as {
    publish(topic: string, id: string, message: unknown): void;
    subscribe(topic: string, id: string): AsyncIterable<unknown>;
  };
  return {
    publish: (topic, id, message) => loose.publish(topic, `${namespace}:${id}`, message),
    subscribe: <T extends Topic>(topic: T, id: string) => loose.subscribe(topic, `${namespace}:${id}`) as AsyncIterable<Message<T>>,
  };
}

/**
 * The event target fires PUBLISH and drops the promise; while Redis is away that would be an
 * unhandled rejection. Live messages are fire-and-forget by nature: a failed one is dropped
 * (subscribers re-read the dashboard on their next event), and Redis' loss is logged by its client.
 */
function failSoftPublisher(redis: Redis): Redis {
  return { publish: (channel: string, message: string) => redis.publish(channel, message).catch(() => 0) } as unknown as Redis;
}

/** (Un)subscribes wait for a connection (ioredis re-subscribes after a reconnect); at shutdown they may fail: nothing to do then. */
function quietSubscriber(redis: Redis): Redis {
  return {
    on: (event: string, listener: (...args: unknown[]) => void) => redis.on(event, listener),
    subscribe: (channel: string) => redis.subscribe(channel).catch(() => 0),
    unsubscribe: (channel: string) => redis.unsubscribe(channel).catch(() => 0),
  } as unknown as Redis;
}
