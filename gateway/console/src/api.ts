// The console talks to the gateway as the client `console`: every operation is one of
// its persisted operations (frontend-contracts/console/), sent by its id, over HTTP or,
// for subscriptions, over WebSocket (graphql-transport-ws).

import { createClient, type Client } from 'graphql-ws';
import manifest from '../../../frontend-contracts/manifests/console.json';

const CLIENT_NAME = 'console';
const ids = new Map<string, string>(manifest.operations.map((operation) => [operation.name, operation.id]));

export type Operation = (typeof manifest.operations)[number]['name'];

export interface GraphQLError {
  message: string;
  path?: (string | number)[];
  extensions?: { code?: string };
}

export interface Answer<T> {
  data: T | null;
  errors: GraphQLError[];
  status: number;
}

/** A failure of a whole operation, with the gateway's code. */
export class Failure extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
  }

  /** `CODE: message`, as the console shows it. */
  toString(): string {
    return `${this.code}: ${this.message}`;
  }
}

function idOf(name: Operation): string {
  const id = ids.get(name);
  if (!id) throw new Failure('CONSOLE_ERROR', `${name} is not in the console's manifest`, 0);
  return id;
}

/** Runs a persisted operation; partial data comes back with its errors. */
export async function run<T>(
  name: Operation,
  variables: Record<string, unknown>,
  token: string | null,
): Promise<Answer<T>> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/graphql-response+json, application/json',
    'graphql-client-name': CLIENT_NAME,
  };
  if (token) headers.authorization = `Bearer ${token}`;
  let response: Response;
  try {
    response = await fetch('/graphql', {
      method: 'POST',
      headers,
      body: JSON.stringify({ documentId: idOf(name), operationName: name, variables }),
    });
  } catch (err) {
    throw new Failure('NETWORK_ERROR', `the gateway did not answer (${String(err)})`, 0);
  }
  let body: { data?: T | null; errors?: GraphQLError[] };
  try {
    body = await response.json();
  } catch {
    throw new Failure('BAD_RESPONSE', `the gateway answered ${response.status} without GraphQL`, response.status);
  }
  return { data: body.data ?? null, errors: body.errors ?? [], status: response.status };
}

/** Runs an operation that must succeed whole: its data, or its first error as a Failure. */
export async function must<T>(name: Operation, variables: Record<string, unknown>, token: string | null): Promise<T> {
  const answer = await run<T>(name, variables, token);
  if (answer.errors.length > 0 || answer.data === null) {
    const first = answer.errors[0];
    throw new Failure(first?.extensions?.code ?? 'ERROR', first?.message ?? 'no data', answer.status);
  }
  return answer.data;
}

/** `CODE: message` of an error. */
export function describe(error: GraphQLError): string {
  return `${error.extensions?.code ?? 'ERROR'}: ${error.message}`;
}

let socket: { token: string; client: Client } | null = null;

function socketFor(token: string): Client {
  if (socket?.token !== token) {
    socket?.client.dispose();
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const client = createClient({
      url: `${scheme}://${location.host}/graphql`,
      lazy: true,
      retryAttempts: 5,
      // A browser cannot set headers on a WebSocket: the gateway reads them here.
      connectionParams: () => ({ headers: { authorization: `Bearer ${token}`, 'graphql-client-name': CLIENT_NAME } }),
      // Shown on the page (and waited for by the browser test).
      on: {
        connected: () => (document.body.dataset.live = 'connected'),
        closed: () => (document.body.dataset.live = 'closed'),
      },
    });
    socket = { token, client };
  }
  return socket.client;
}

/** Closes the subscriptions' connection (at sign-out). */
export function closeSocket(): void {
  socket?.client.dispose();
  socket = null;
}

/** Subscribes to a persisted subscription; returns what stops it. */
export function subscribe<T>(
  name: Operation,
  variables: Record<string, unknown>,
  token: string,
  onData: (data: T) => void,
  onError: (message: string) => void,
): () => void {
  return socketFor(token).subscribe<T>(
    {
      operationName: name,
      // Sent by its hash alone: the gateway takes the text from the console's manifest.
      query: '',
      variables,
      extensions: { persistedQuery: { version: 1, sha256Hash: idOf(name) } },
    },
    {
      next: (message) => {
        if (message.errors?.length) onError(message.errors.map((e) => describe(e as GraphQLError)).join('; '));
        if (message.data) onData(message.data as T);
      },
      error: (err) => {
        const errors = Array.isArray(err) ? (err as GraphQLError[]) : null;
        onError(errors ? errors.map(describe).join('; ') : `SUBSCRIPTION_ERROR: ${String((err as Error)?.message ?? err)}`);
      },
      complete: () => {},
    },
  );
}
