// Health: each context's status, and the work waiting for staff. Refreshed every 5 s.

import { ask, errorsOf, type Page } from '../session';
import { badge, duration, h, replace, when, errorBox } from '../dom';

interface ContextStatus {
  context: string;
  checkedAt: string;
  ready: boolean;
  problem: string | null;
  unpublishedEvents: number | null;
  relayLagMs: number | null;
  consumers: { consumer: string; lastHandledAt: string | null; failing: number; dead: number }[];
}

type Health = Record<string, ContextStatus | null> & {
  checkoutsNeedingAttention: { id: string; status: string }[] | null;
  webhookSubscriptions: { id: string; backlog: { pending: number; dead: number } }[] | null;
};

export const CONTEXTS = [
  'accounts',
  'cart',
  'checkout',
  'coupons',
  'inventory',
  'notifications',
  'orders',
  'payments',
  'products',
  'search',
  'shipping',
];

export function healthPage(page: Page): HTMLElement {
  const body = h('div', {}, 'Loading…');
  const refresh = async () => {
    try {
      const { data, errors } = await ask<Health>(page, 'ConsoleHealth', { quietForSeconds: 300 });
      replace(body, view(data, errors));
    } catch (err) {
      replace(body, errorBox(String(err)));
    }
  };
  void refresh();
  const timer = window.setInterval(refresh, 5000);
  page.onLeave(() => window.clearInterval(timer));
  return h('section', { 'aria-labelledby': 'health-title' }, h('h1', { id: 'health-title' }, 'Health'), body);
}

function view(data: Health | null, errors: { message: string; path?: (string | number)[] }[]): HTMLElement {
  const unreachable = new Set(errors.map((e) => String(e.path?.[0] ?? '')));
  const statuses = CONTEXTS.map((context) => ({ context, status: data?.[`${context}Status`] ?? null }));
  const dead = statuses.reduce((sum, { status }) => sum + (status?.consumers.reduce((n, c) => n + c.dead, 0) ?? 0), 0);
  const attention = data?.checkoutsNeedingAttention;
  const hooks = data?.webhookSubscriptions;
  const tiles = h(
    'div',
    { class: 'tiles' },
    tile('Contexts ready', `${statuses.filter(({ status }) => status?.ready).length} / ${CONTEXTS.length}`, '#/'),
    tile('Checkouts needing attention', attention ? String(attention.length) : '—', '#/checkouts', 'attention'),
    tile('Dead letters', String(dead), '#/dead-letters', 'dead-letters'),
    tile(
      'Webhook backlog',
      hooks ? `${hooks.reduce((n, s) => n + s.backlog.pending, 0)} pending, ${hooks.reduce((n, s) => n + s.backlog.dead, 0)} dead` : '—',
      '#/webhooks',
    ),
  );
  const rows = statuses.map(({ context, status }) => {
    const state = status ? (status.ready ? 'READY' : 'NOT READY') : 'UNREACHABLE';
    return h(
      'tr',
      { 'data-context': context },
      h('th', { scope: 'row' }, context),
      h('td', {}, badge(state), status?.problem ? ` ${status.problem}` : unreachable.has(`${context}Status`) ? ' no answer' : ''),
      h('td', { class: 'number' }, status?.unpublishedEvents ?? '—'),
      h('td', { class: 'number' }, status?.relayLagMs == null ? '—' : duration(status.relayLagMs)),
      h(
        'td',
        {},
        ...(status?.consumers ?? []).map((c) =>
          h(
            'div',
            { class: 'consumer' },
            h('code', {}, c.consumer),
            ` last event ${when(c.lastHandledAt)}`,
            c.failing ? h('span', { class: 'warn-text' }, ` · ${c.failing} failing`) : null,
            c.dead ? h('span', { class: 'bad-text' }, ` · ${c.dead} dead`) : null,
          ),
        ),
      ),
    );
  });
  // A context that does not answer shows as UNREACHABLE; the others' errors are listed.
  const other = errors.filter((e) => !String(e.path?.[0] ?? '').endsWith('Status'));
  return h(
    'div',
    {},
    tiles,
    errorsOf(other),
    h(
      'table',
      { class: 'contexts' },
      h(
        'thead',
        {},
        h('tr', {}, ...['Context', 'State', 'Unpublished events', 'Relay lag', 'Consumers'].map((t) => h('th', { scope: 'col' }, t))),
      ),
      h('tbody', {}, ...rows),
    ),
  );
}

function tile(label: string, value: string, href: string, id?: string): HTMLElement {
  return h('a', { class: 'tile', href, 'data-tile': id }, h('span', { class: 'value' }, value), h('span', {}, label));
}
