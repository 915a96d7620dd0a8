// The signed-in staff member, and what every page uses to ask the gateway.

import { closeSocket, describe, Failure, run, type Answer, type Operation } from './api';
import { errorBox, h } from './dom';

const TOKEN_KEY = 'console.token';
const NAME_KEY = 'console.name';

/** What every page gets: the staff's token, and a way to stop work when it is left. */
export interface Page {
  token: string;
  /** Called when the page is left: stop polling and subscriptions. */
  onLeave(stop: () => void): void;
}

export function token(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function name(): string {
  return sessionStorage.getItem(NAME_KEY) ?? '';
}

export function signedIn(newToken: string, displayName: string): void {
  sessionStorage.setItem(TOKEN_KEY, newToken);
  sessionStorage.setItem(NAME_KEY, displayName);
}

let afterSignOut: () => void = () => {};

/** What happens after a sign-out (the console shows the sign-in form). */
export function whenSignedOut(then: () => void): void {
  afterSignOut = then;
}

export function signOut(): void {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(NAME_KEY);
  closeSocket();
  afterSignOut();
}

/** Runs an operation for a page; a token the gateway no longer takes signs out. */
export async function ask<T>(page: Page, operation: Operation, variables: Record<string, unknown>): Promise<Answer<T>> {
  const answer = await run<T>(operation, variables, page.token);
  if (answer.errors.some((e) => e.extensions?.code === 'UNAUTHENTICATED')) {
    signOut();
    throw new Failure('UNAUTHENTICATED', 'signed out: sign in again', answer.status);
  }
  return answer;
}

/** Runs an operation that must succeed whole: its data, or a Failure with its code. */
export async function act<T>(page: Page, operation: Operation, variables: Record<string, unknown>): Promise<T> {
  const answer = await ask<T>(page, operation, variables);
  if (answer.errors.length > 0 || answer.data === null) {
    const first = answer.errors[0];
    throw new Failure(first?.extensions?.code ?? 'ERROR', first?.message ?? 'no data', answer.status);
  }
  return answer.data;
}

/** The errors of an answer as the console shows them. */
export function errorsOf(errors: { message: string; extensions?: { code?: string } }[]): HTMLElement | null {
  return errors.length ? h('div', {}, ...errors.map((error) => errorBox(describe(error)))) : null;
}
