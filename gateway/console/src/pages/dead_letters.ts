// Dead letters: the events each context's consumers gave up on. Staff redrive one (its
// consumer handles it again, now) or discard it with a reason.

import type { Operation } from '../api';
import { badge, errorBox, h, replace, when } from '../dom';
import { act, ask, errorsOf, type Page } from '../session';

interface DeadLetter {
  consumer: string;
  eventId: string;
  eventType: string;
  failures: number;
  lastError: string;
  firstFailedAt: string;
  lastFailedAt: string;
  status: string;
  envelope: string;
}

/** The contexts whose consumers park dead letters, as their fields are named. */
const CONTEXTS = ['Cart', 'Inventory', 'Notifications', 'Orders', 'Search', 'Shipping'] as const;

export function deadLettersPage(page: Page): HTMLElement {
  const body = h('div', {}, 'Loading…');
  const refresh = async () => {
    try {
      const { data, errors } = await ask<Record<string, DeadLetter[] | null>>(page, 'ConsoleDeadLetters', {});
      const sections = CONTEXTS.map((context) => {
        const letters = data?.[`${context.toLowerCase()}DeadLetters`] ?? [];
        const consumers = [...new Set(letters.filter((l) => l.status === 'DEAD').map((l) => l.consumer))];
        return letters.length
          ? h(
              'section',
              { 'data-context': context.toLowerCase() },
              h('h2', {}, context),
              ...consumers.map((consumer) => redriveAll(page, context, consumer, refresh)),
              ...letters.map((letter) => row(page, context, letter, refresh)),
            )
          : null;
      });
      const none = sections.every((s) => s === null);
      replace(body, errorsOf(errors), none ? h('p', { class: 'empty' }, 'No dead letters.') : null, ...sections);
    } catch (err) {
      replace(body, errorBox(String(err)));
    }
  };
  void refresh();
  return h(
    'section',
    { 'aria-labelledby': 'dead-letters-title' },
    h('h1', { id: 'dead-letters-title' }, 'Dead letters'),
    h('button', { type: 'button', onclick: () => void refresh() }, 'Refresh'),
    body,
  );
}

/** Redrives every DEAD letter of one consumer, oldest first, stopping at one that fails again. */
function redriveAll(page: Page, context: (typeof CONTEXTS)[number], consumer: string, refresh: () => Promise<void>): HTMLElement {
  const outcome = h('span', { class: 'outcome' });
  const run = async () => {
    replace(outcome, 'Redriving…');
    try {
      const answer = await act<Record<string, DeadLetter[]>>(page, `ConsoleRedriveAll${context}DeadLetters`, { consumer });
      const letters = Object.values(answer)[0];
      const stuck = letters.find((letter) => letter.status === 'DEAD');
      replace(
        outcome,
        stuck
          ? errorBox(`CONFLICT: ${letters.length - 1} redriven, then ${stuck.eventType} failed again: ${stuck.lastError}`)
          : h('span', { class: 'good-text', role: 'status' }, `Redrove ${letters.length}`),
      );
      window.setTimeout(() => void refresh(), 1500);
    } catch (err) {
      replace(outcome, errorBox(String(err)));
    }
  };
  return h(
    'div',
    { class: 'actions', 'data-consumer': consumer },
    h('button', { type: 'button', onclick: () => void run() }, `Redrive all of ${consumer}`),
    outcome,
  );
}

function row(page: Page, context: (typeof CONTEXTS)[number], letter: DeadLetter, refresh: () => Promise<void>): HTMLElement {
  const outcome = h('div', { class: 'outcome' });
  const reason = h('input', { type: 'text', placeholder: 'Why discard it', 'aria-label': 'Reason' }) as HTMLInputElement;
  const ids = { consumer: letter.consumer, eventId: letter.eventId };
  const perform = async (label: string, operation: Operation, variables: Record<string, unknown>) => {
    replace(outcome, `${label}…`);
    try {
      const answer = await act<Record<string, DeadLetter>>(page, operation, variables);
      const settled = Object.values(answer)[0];
      replace(outcome, h('p', { class: 'good-text', role: 'status' }, `${label}: now ${settled.status}`));
      window.setTimeout(() => void refresh(), 1500);
    } catch (err) {
      replace(outcome, errorBox(String(err)));
    }
  };
  return h(
    'article',
    { class: 'card', 'data-event': letter.eventId },
    h('header', {}, h('code', {}, letter.eventType), ' ', badge(letter.status), ` ${letter.failures} failures`),
    h(
      'dl',
      {},
      h('dt', {}, 'Consumer'),
      h('dd', {}, h('code', {}, letter.consumer)),
      h('dt', {}, 'Event'),
      h('dd', {}, h('code', {}, letter.eventId)),
      h('dt', {}, 'Last error'),
      h('dd', {}, letter.lastError),
      h('dt', {}, 'Failing since'),
      h('dd', {}, `${when(letter.firstFailedAt)} (last ${when(letter.lastFailedAt)})`),
    ),
    h('details', {}, h('summary', {}, 'Event'), h('pre', {}, pretty(letter.envelope))),
    letter.status === 'DEAD'
      ? h(
          'div',
          { class: 'actions' },
          h('button', { type: 'button', onclick: () => perform('Redriven', `ConsoleRedrive${context}DeadLetter`, ids) }, 'Redrive'),
          reason,
          h(
            'button',
            { type: 'button', onclick: () => perform('Discarded', `ConsoleDiscard${context}DeadLetter`, { ...ids, reason: reason.value }) },
            'Discard',
          ),
        )
      : null,
    outcome,
  );
}

function pretty(json: string): string {
  try {
    return JSON.stringify(JSON.parse(json), null, 2);
  } catch {
    return json;
  }
}
