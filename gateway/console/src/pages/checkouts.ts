// Checkouts that wait for staff: STUCK ones, and unfinished ones that have not moved for
// a while. Staff resume, compensate or resolve one; its order's status follows live.

import { subscribe } from '../api';
import { append, badge, errorBox, h, replace, when } from '../dom';

const FINISHED = ['COMPLETED', 'FAILED', 'CANCELED', 'RESOLVED'];
import { act, ask, errorsOf, type Page } from '../session';

interface Checkout {
  id: string;
  status: string;
  currentStep: string | null;
  stuckStep: string | null;
  failedStep: string | null;
  failureReason: string | null;
  resolution: string | null;
  createdAt: string;
  updatedAt: string;
  total: { formatted: string } | null;
  order: { id: string; status: string | null } | null;
  steps: { step: string; outcome: string; detail: string | null; at: string }[];
}

interface OrderUpdate {
  orderStatusChanged: { eventId: string; from: string | null; to: string; reason: string; occurredAt: string };
}

/** One checkout on the page: kept while the page is open, updated in place. */
interface Card {
  element: HTMLElement;
  update(checkout: Checkout): void;
  /** Staff acted on it here: it stays on the page after it leaves the list. */
  touched: boolean;
}

export function checkoutsPage(page: Page): HTMLElement {
  const query = new URLSearchParams(location.hash.split('?')[1] ?? '');
  const quiet = h('input', {
    type: 'number',
    min: 0,
    value: query.get('quiet') ?? '300',
    id: 'quiet',
    'aria-label': 'Quiet for at least (seconds)',
  }) as HTMLInputElement;
  const problems = h('div');
  const list = h('div', { class: 'cards', 'aria-live': 'polite' });
  const empty = h('p', { class: 'empty' }, 'Loading…');
  const cards = new Map<string, Card>();

  const refresh = async () => {
    try {
      type Answer = { checkoutsNeedingAttention: Checkout[] | null };
      const { data, errors } = await ask<Answer>(page, 'ConsoleCheckouts', {
        quietForSeconds: Math.max(0, Number(quiet.value) || 0),
      });
      replace(problems, errorsOf(errors));
      const listed = data?.checkoutsNeedingAttention ?? [];
      for (const checkout of listed) {
        const card = cards.get(checkout.id);
        if (card) {
          card.update(checkout);
        } else {
          const made = card_(page, checkout);
          cards.set(checkout.id, made);
          list.append(made.element);
        }
      }
      const ids = new Set(listed.map((c) => c.id));
      for (const [id, card] of cards) {
        if (!ids.has(id) && !card.touched) {
          card.element.remove();
          cards.delete(id);
        }
      }
      empty.textContent = cards.size ? '' : 'Nothing waits for staff.';
    } catch (err) {
      replace(problems, errorBox(String(err)));
    }
  };
  void refresh();
  const timer = window.setInterval(refresh, 5000);
  page.onLeave(() => window.clearInterval(timer));
  page.onLeave(() => cards.forEach((card) => card.element.dispatchEvent(new Event('leave'))));

  return h(
    'section',
    { 'aria-labelledby': 'checkouts-title' },
    h('h1', { id: 'checkouts-title' }, 'Checkouts needing attention'),
    h(
      'form',
      {
        class: 'controls',
        onsubmit: (event: Event) => {
          event.preventDefault();
          void refresh();
        },
      },
      h('label', {}, 'Quiet for at least ', quiet, ' s'),
      h('button', { type: 'submit' }, 'Refresh'),
    ),
    problems,
    empty,
    list,
  );
}

function card_(page: Page, first: Checkout): Card {
  const header = h('header');
  const facts = h('dl');
  const orderStatus = h('span', { class: 'order-status' });
  const live = h('ul', { class: 'live', 'aria-label': 'Live order updates' });
  const log = h('tbody');
  const outcome = h('div', { class: 'outcome' });
  const reason = h('input', { type: 'text', placeholder: 'Reason (for compensate or resolve)', 'aria-label': 'Reason' }) as HTMLInputElement;
  const element = h('article', { class: 'card', 'data-checkout': first.id });
  const actions = h('div', { class: 'actions' });
  let stopLive: (() => void) | null = null;
  let current = first;

  const card: Card = {
    element,
    touched: false,
    update(checkout: Checkout) {
      current = checkout;
      const step = checkout.stuckStep ?? checkout.currentStep;
      replace(
        header,
        h('code', {}, checkout.id),
        ' ',
        badge(checkout.status),
        step ? h('span', { class: 'step' }, ` at ${step}`) : null,
      );
      replace(
        facts,
        h('dt', {}, 'Total'),
        h('dd', {}, checkout.total?.formatted ?? '—'),
        h('dt', {}, 'Started'),
        h('dd', {}, when(checkout.createdAt)),
        h('dt', {}, 'Last moved'),
        h('dd', {}, when(checkout.updatedAt)),
        checkout.failureReason ? h('dt', {}, 'Failure') : null,
        checkout.failureReason ? h('dd', {}, checkout.failureReason) : null,
        checkout.resolution ? h('dt', {}, 'Resolution') : null,
        checkout.resolution ? h('dd', {}, checkout.resolution) : null,
        h('dt', {}, 'Order'),
        h(
          'dd',
          {},
          checkout.order ? h('a', { href: `#/orders/${encodeURIComponent(checkout.order.id)}` }, checkout.order.id) : 'none yet',
          ' ',
          orderStatus,
        ),
      );
      if (checkout.order?.status) replace(orderStatus, badge(checkout.order.status));
      // A finished checkout offers nothing more to do.
      actions.hidden = FINISHED.includes(checkout.status);
      replace(
        log,
        ...checkout.steps.map((s) =>
          h('tr', {}, h('td', {}, s.step), h('td', {}, badge(s.outcome)), h('td', {}, s.detail ?? ''), h('td', {}, when(s.at))),
        ),
      );
      if (checkout.order && !stopLive) {
        stopLive = subscribe<OrderUpdate>(
          'ConsoleOrderUpdates',
          { orderId: checkout.order.id },
          page.token,
          ({ orderStatusChanged: u }) => {
            replace(orderStatus, badge(u.to));
            live.append(
              h('li', { 'data-to': u.to }, `${when(u.occurredAt)}: ${u.from ?? '—'} → ${u.to}`, u.reason ? ` (${u.reason})` : ''),
            );
          },
          (message) => live.append(h('li', { class: 'bad-text' }, message)),
        );
      }
    },
  };

  const perform = async (label: string, run: () => Promise<Checkout>) => {
    card.touched = true;
    replace(outcome, `${label}…`);
    try {
      const checkout = await run();
      card.update(checkout);
      replace(outcome, h('p', { class: 'good-text', role: 'status' }, `${label}: now ${checkout.status}`));
    } catch (err) {
      replace(outcome, errorBox(String(err)));
    }
  };
  const withReason = (label: string, operation: 'ConsoleCompensateCheckout' | 'ConsoleResolveCheckout', field: string) => () =>
    perform(label, async () => {
      const answer = await act<Record<string, Checkout>>(page, operation, { id: current.id, reason: reason.value });
      return answer[field];
    });

  element.append(
    header,
    facts,
    live,
    h(
      'details',
      {},
      h('summary', {}, 'Step log'),
      h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Step'), h('th', {}, 'Outcome'), h('th', {}, 'Detail'), h('th', {}, 'At'))), log),
    ),
    actions,
    outcome,
  );
  append(
    actions,
    h(
      'button',
      {
        type: 'button',
        onclick: () =>
          perform('Resumed', async () => (await act<{ resumeCheckout: Checkout }>(page, 'ConsoleResumeCheckout', { id: current.id })).resumeCheckout),
      },
      'Resume',
    ),
    reason,
    h('button', { type: 'button', onclick: withReason('Compensated', 'ConsoleCompensateCheckout', 'compensateCheckout') }, 'Compensate'),
    h('button', { type: 'button', onclick: withReason('Resolved', 'ConsoleResolveCheckout', 'resolveCheckout') }, 'Mark resolved'),
  );
  element.addEventListener('leave', () => stopLive?.());
  card.update(first);
  return card;
}
