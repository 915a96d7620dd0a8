// Webhooks: each subscription's backlog, and the deliveries that gave up, to send again.

import { badge, errorBox, h, replace, when } from '../dom';
import { act, ask, errorsOf, type Page } from '../session';

interface Subscription {
  id: string;
  url: string;
  active: boolean;
  eventTypes: string[];
  backlog: { pending: number; dead: number; oldestPendingAt: string | null };
  deliveries: {
    edges: { node: { id: string; eventType: string; attemptCount: number; lastError: string | null; lastStatusCode: number | null; createdAt: string } }[];
  };
}

export function webhooksPage(page: Page): HTMLElement {
  const body = h('div', {}, 'Loading…');
  const refresh = async () => {
    try {
      const { data, errors } = await ask<{ webhookSubscriptions: Subscription[] | null }>(page, 'ConsoleWebhooks', {});
      const subscriptions = data?.webhookSubscriptions ?? [];
      replace(
        body,
        errorsOf(errors),
        subscriptions.length ? null : h('p', { class: 'empty' }, 'No webhook subscriptions.'),
        ...subscriptions.map((s) => subscription(page, s, refresh)),
      );
    } catch (err) {
      replace(body, errorBox(String(err)));
    }
  };
  void refresh();
  return h(
    'section',
    { 'aria-labelledby': 'webhooks-title' },
    h('h1', { id: 'webhooks-title' }, 'Webhooks'),
    h('button', { type: 'button', onclick: () => void refresh() }, 'Refresh'),
    body,
  );
}

function subscription(page: Page, s: Subscription, refresh: () => Promise<void>): HTMLElement {
  const outcome = h('div', { class: 'outcome' });
  const redeliver = async (deliveryId: string) => {
    try {
      const { redeliverWebhook } = await act<{ redeliverWebhook: { status: string } }>(page, 'ConsoleRedeliverWebhook', { deliveryId });
      replace(outcome, h('p', { class: 'good-text', role: 'status' }, `Redelivered: now ${redeliverWebhook.status}`));
      window.setTimeout(() => void refresh(), 1500);
    } catch (err) {
      replace(outcome, errorBox(String(err)));
    }
  };
  return h(
    'article',
    { class: 'card', 'data-subscription': s.id },
    h('header', {}, h('code', {}, s.url), ' ', badge(s.active ? 'ACTIVE' : 'DISABLED')),
    h(
      'dl',
      {},
      h('dt', {}, 'Events'),
      h('dd', {}, s.eventTypes.join(', ')),
      h('dt', {}, 'Pending'),
      h('dd', {}, `${s.backlog.pending}${s.backlog.oldestPendingAt ? ` (oldest ${when(s.backlog.oldestPendingAt)})` : ''}`),
      h('dt', {}, 'Dead'),
      h('dd', {}, s.backlog.dead),
    ),
    ...s.deliveries.edges.map(({ node: d }) =>
      h(
        'div',
        { class: 'delivery' },
        h('code', {}, d.eventType),
        ` ${d.attemptCount} attempts, last ${d.lastStatusCode ?? 'no answer'}: ${d.lastError ?? ''} `,
        h('button', { type: 'button', onclick: () => void redeliver(d.id) }, 'Redeliver'),
      ),
    ),
    outcome,
  );
}
